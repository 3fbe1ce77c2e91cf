#include "linalg/gemm.h"

namespace steepest::detail {

namespace {
int64_t batch_of(const at::Tensor& a) {
  return a.dim() == 3 ? a.size(0) : 1;
}
}  // namespace

at::Tensor gemm(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, double beta,
                double alpha, Cost* cost) {
  count_gemm(cost, a.size(-2), a.size(-1), b.size(-1), batch_of(a));
  if (a.dim() == 2) return at::addmm(self, a, b, beta, alpha);
  return at::baddbmm(self, a, b, beta, alpha);
}

at::Tensor matmul(const at::Tensor& a, const at::Tensor& b, Cost* cost) {
  count_gemm(cost, a.size(-2), a.size(-1), b.size(-1), batch_of(a));
  return a.dim() == 2 ? at::mm(a, b) : at::bmm(a, b);
}

at::Tensor frobenius_normalize(const at::Tensor& x, double safety, double eps) {
  auto norm = at::linalg_vector_norm(x, 2, at::IntArrayRef{-2, -1}, /*keepdim=*/true);
  return x / (norm * safety + eps);
}

}  // namespace steepest::detail
