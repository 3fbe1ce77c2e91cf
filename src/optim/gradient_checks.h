// Internal: the one finite-gradient check every optimizer step runs first.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <string>

namespace steepest::detail {

// Throws c10::Error naming `who`, the parameter and its shape when `grad` holds
// a NaN or Inf. Callers check every gradient before updating anything.
// True when every entry is finite. fp32 contiguous CPU tensors take one pass
// without allocating (x·0 is 0 for finite x and NaN otherwise); this runs for
// every parameter at every step.
inline bool all_finite(const at::Tensor& t) {
  if (t.scalar_type() == at::kFloat && t.device().is_cpu() && t.is_contiguous()) {
    const float* p = t.data_ptr<float>();
    const int64_t n = t.numel();
    float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
      for (int u = 0; u < 8; ++u) acc[u] += p[i + u] * 0.0f;
    float s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; ++i) s += p[i] * 0.0f;
    return s == 0.0f;
  }
  return at::isfinite(t).all().item<bool>();
}

inline void check_finite_gradient(const at::Tensor& grad, const std::string& who,
                                  const std::string& name, at::IntArrayRef shape) {
  TORCH_CHECK(all_finite(grad), who, ": non-finite gradient (NaN or Inf) in parameter '", name,
              "' (shape ", shape,
              "); no parameter was updated. Lower the learning rate, clip gradients, or check "
              "the loss for overflow.");
}

}  // namespace steepest::detail
