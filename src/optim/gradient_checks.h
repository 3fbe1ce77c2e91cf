// Internal: the one finite-gradient check every optimizer step runs first.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <string>

namespace steepest::detail {

// Throws c10::Error naming `who`, the parameter and its shape when `grad` holds
// a NaN or Inf. Callers check every gradient before updating anything.
inline void check_finite_gradient(const at::Tensor& grad, const std::string& who,
                                  const std::string& name, at::IntArrayRef shape) {
  TORCH_CHECK(at::isfinite(grad).all().item<bool>(), who,
              ": non-finite gradient (NaN or Inf) in parameter '", name, "' (shape ", shape,
              "); no parameter was updated. Lower the learning rate, clip gradients, or check "
              "the loss for overflow.");
}

}  // namespace steepest::detail
