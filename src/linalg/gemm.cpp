#include "linalg/gemm.h"

#include "util/gemm.h"

namespace steepest::detail {

namespace {
int64_t batch_of(const at::Tensor& a) {
  return a.dim() == 3 ? a.size(0) : 1;
}
}  // namespace

at::Tensor gemm(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, double beta,
                double alpha, Cost* cost) {
  count_gemm(cost, a.size(-2), a.size(-1), b.size(-1), batch_of(a));
  return detail::addmm(self, a, b, beta, alpha);
}

at::Tensor matmul(const at::Tensor& a, const at::Tensor& b, Cost* cost) {
  count_gemm(cost, a.size(-2), a.size(-1), b.size(-1), batch_of(a));
  return detail::mm(a, b);
}

at::Tensor max_abs_scale(const at::Tensor& x) {
  const at::Tensor m = x.abs().amax(at::IntArrayRef{-2, -1}, /*keepdim=*/true);
  return at::where((m > 0).logical_and(at::isfinite(m)), m, at::ones_like(m));
}

at::Tensor frobenius_normalize(const at::Tensor& x, double safety, double eps) {
  // x / (‖x‖_F·safety + eps), computed on x/max|x|: ‖x‖_F of fp32 entries near
  // 1e38 overflows to inf and would turn the whole result into zeros.
  const at::Tensor m = max_abs_scale(x);
  const at::Tensor y = x / m;
  const auto norm = at::linalg_vector_norm(y, 2, at::IntArrayRef{-2, -1}, /*keepdim=*/true);
  return y / (norm * safety + eps / m);
}

}  // namespace steepest::detail
