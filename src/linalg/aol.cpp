#include "linalg/aol.h"

#include "linalg/gemm.h"

namespace steepest::detail {

AolStart aol_precondition(const at::Tensor& x, double safety, double eps, Cost* cost) {
  // Scale-free except for eps, so computed on x/max|x| with eps/max|x|^2:
  // X·Xᵀ of entries near 1e38 would overflow.
  const at::Tensor m = max_abs_scale(x);
  const at::Tensor xc = (x / m).contiguous();
  const at::Tensor A = matmul(xc, mT(xc), cost);
  const at::Tensor s = (A.abs().sum(-1) * safety + (eps / (m * m)).squeeze(-1)).rsqrt();
  return {(xc * s.unsqueeze(-1)).contiguous(), A * s.unsqueeze(-1) * s.unsqueeze(-2)};
}

}  // namespace steepest::detail
