#include "linalg/aol.h"

#include "linalg/gemm.h"

namespace steepest::detail {

AolStart aol_precondition(const at::Tensor& x, double safety, double eps, Cost* cost) {
  const at::Tensor xc = x.contiguous();
  const at::Tensor A = matmul(xc, mT(xc), cost);
  const at::Tensor s = (A.abs().sum(-1) * safety + eps).rsqrt();
  return {(xc * s.unsqueeze(-1)).contiguous(), A * s.unsqueeze(-1) * s.unsqueeze(-2)};
}

}  // namespace steepest::detail
