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

// The dtypes a step runs on: fp32, fp64 and bf16 everywhere, fp16 on CUDA only
// (libtorch's CPU kernels lack lerp and addcmul for it).
inline bool steppable_dtype(const at::Tensor& p) {
  const auto t = p.scalar_type();
  return t == at::kFloat || t == at::kDouble || t == at::kBFloat16 ||
         (t == at::kHalf && p.device().is_cuda());
}

// The checks every optimizer step runs on each parameter p before updating
// anything: p is a dense tensor of a steppable dtype; its gradient has p's
// shape, dtype, device and layout (a gradient written through .grad.data or
// mutable_grad() can differ, and would then broadcast into every row or fail
// deep in libtorch); with `finite`, it holds no NaN or Inf. Throws c10::Error
// (ValueError in Python) naming `who`, the parameter and its shape.
inline void check_gradient(const at::Tensor& p, const std::string& who, const std::string& name,
                           bool finite = true) {
  TORCH_CHECK_VALUE(p.layout() == at::kStrided && !p.is_meta() && steppable_dtype(p), who,
                    ": parameter '", name, "' is a ", p.scalar_type(), " ", p.layout(),
                    " tensor on ", p.device(),
                    "; steepest steps dense fp32, fp64 or bf16 parameters (fp16 on CUDA only). "
                    "Cast it (.float() or .bfloat16()) before building the optimizer.");
  const at::Tensor& grad = p.grad();
  TORCH_CHECK_VALUE(grad.layout() == at::kStrided, who, ": the gradient of parameter '", name,
                    "' is a ", grad.layout(),
                    " tensor; steepest steps dense gradients (call .to_dense() on it, or use "
                    "torch.nn.Embedding(sparse=False)).");
  TORCH_CHECK_VALUE(grad.scalar_type() == p.scalar_type() && grad.device() == p.device(), who,
                    ": the gradient of parameter '", name, "' is ", grad.scalar_type(), " on ",
                    grad.device(), " but the parameter is ", p.scalar_type(), " on ", p.device(),
                    "; a gradient must have its parameter's dtype and device (cast the "
                    "gradient, or the parameter before building the optimizer).");
  TORCH_CHECK_VALUE(grad.sizes() == p.sizes(), who, ": the gradient of parameter '", name,
                    "' has shape ", grad.sizes(), " but the parameter has shape ", p.sizes(),
                    "; a gradient must have its parameter's shape (was .grad or .grad.data "
                    "assigned by hand?).");
  if (!finite) return;
  TORCH_CHECK(all_finite(grad), who, ": non-finite gradient (NaN or Inf) in parameter '", name,
              "' (shape ", p.sizes(),
              "); no parameter was updated. Lower the learning rate, clip gradients, or check "
              "the loss for overflow.");
}

// Throws unless `state` (a tensor the optimizer keeps for p with p's shape: a
// momentum or second-moment buffer) still fits p: same shape, dtype and device.
// A parameter resized, transposed or cast after its first step (Python's
// `p.data = …`) would otherwise be stepped with the old buffer, or written
// past its end by a fused step.
inline void check_state_fits(const at::Tensor& p, at::IntArrayRef sizes, at::ScalarType dtype,
                             at::Device device, const std::string& who, const std::string& name) {
  TORCH_CHECK_VALUE(
      p.sizes() == sizes && p.scalar_type() == dtype && p.device() == device, who, ": parameter '",
      name, "' is now ", p.sizes(), " ", p.scalar_type(), " on ", p.device(), " but was ", sizes,
      " ", dtype, " on ", device,
      " when the optimizer last stepped it, so its state (momentum and other buffers) no longer "
      "fits. Build a new optimizer after changing a parameter's shape, dtype or device.");
}

}  // namespace steepest::detail
