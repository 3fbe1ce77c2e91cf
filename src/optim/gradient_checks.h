// Internal: the gradient checks every optimizer step runs first.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <string>

namespace steepest::detail {

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

// The checks every optimizer step runs on each parameter p before updating
// anything: its gradient has p's dtype and device (a gradient written through
// mutable_grad() or .data can differ, and the update would then fail deep in
// libtorch or mix devices), and holds no NaN or Inf. Throws c10::Error
// naming `who`, the parameter and its shape.
inline void check_gradient(const at::Tensor& p, const std::string& who, const std::string& name) {
  const at::Tensor& grad = p.grad();
  TORCH_CHECK(grad.scalar_type() == p.scalar_type() && grad.device() == p.device(), who,
              ": the gradient of parameter '", name, "' is ", grad.scalar_type(), " on ",
              grad.device(), " but the parameter is ", p.scalar_type(), " on ", p.device(),
              "; a gradient must have its parameter's dtype and device (cast the gradient, or "
              "the parameter before building the optimizer).");
  TORCH_CHECK(all_finite(grad), who, ": non-finite gradient (NaN or Inf) in parameter '", name,
              "' (shape ", p.sizes(),
              "); no parameter was updated. Lower the learning rate, clip gradients, or check "
              "the loss for overflow.");
}

}  // namespace steepest::detail
