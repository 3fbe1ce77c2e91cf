// The one place that hides differences between libtorch 1.13 and 2.x.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/string_utils.h>
#include <torch/optim/optimizer.h>
#include <torch/version.h>

#include <string>

namespace steepest::compat {

// Key of a parameter in torch::optim::Optimizer::state_: a stringified
// TensorImpl pointer in 1.13, the raw pointer in 2.x.
#if TORCH_VERSION_MAJOR >= 2
inline void* state_key(const at::Tensor& p) {
  return p.unsafeGetTensorImpl();
}
#else
inline std::string state_key(const at::Tensor& p) {
  return c10::guts::to_string(p.unsafeGetTensorImpl());
}
#endif

// Clears every gradient of `opt` (set to undefined, as 2.x does by default),
// so a parameter that gets no gradient next step is skipped, not decayed.
inline void zero_grad(torch::optim::Optimizer& opt) {
#if TORCH_VERSION_MAJOR >= 2
  opt.zero_grad(/*set_to_none=*/true);
#else
  for (auto& group : opt.param_groups())
    for (auto& p : group.params())
      if (p.grad().defined()) p.mutable_grad() = at::Tensor();
#endif
}

}  // namespace steepest::compat
