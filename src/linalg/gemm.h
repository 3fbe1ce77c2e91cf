// Internal: fused GEMM helpers shared by the Newton–Schulz family.
#pragma once

#include <ATen/ATen.h>

#include "steepest/linalg/cost.h"

namespace steepest::detail {

// beta·self + alpha·(a @ b) for 2-D (m×k · k×n) or batched 3-D (B×m×k · B×k×n)
// operands, in one BLAS call (addmm / baddbmm), counted in `cost`.
at::Tensor gemm(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, double beta,
                double alpha, Cost* cost);

// a @ b (2-D or batched 3-D), counted in `cost`.
at::Tensor matmul(const at::Tensor& a, const at::Tensor& b, Cost* cost);

// Transpose of the last two dimensions (a view).
inline at::Tensor mT(const at::Tensor& x) {
  return x.transpose(-2, -1);
}

// X / (‖X‖_F·safety + eps), with the norm taken over the last two dims so each
// matrix of a batch is normalized on its own. A zero matrix stays zero.
at::Tensor frobenius_normalize(const at::Tensor& x, double safety, double eps);

// max |x| of each matrix in the batch ([..., 1, 1]; 1 where it is 0 or not
// finite): dividing by it first keeps norms and Gram matrices from overflowing.
at::Tensor max_abs_scale(const at::Tensor& x);

}  // namespace steepest::detail
