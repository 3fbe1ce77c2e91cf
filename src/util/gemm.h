// Internal: steepest's fp32 and bf16 GEMM entry points (util/gemm_backend.h
// picks the library). Every function takes 2-D (or, for the batched ones, 3-D)
// tensors with unit stride in one of the last two dims (transposed views need
// no copy); other dtypes, devices or layouts go to libtorch unchanged.
#pragma once

#include <ATen/ATen.h>

namespace steepest::detail {

// beta·self + alpha·(a @ b): a (m×k), b (k×n), self (m×n) or undefined
// (then beta is ignored), or batched (B, ·, ·). Returns a new tensor.
at::Tensor addmm(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, double beta,
                 double alpha);

// a @ b, 2-D or batched 3-D.
inline at::Tensor mm(const at::Tensor& a, const at::Tensor& b) {
  return addmm(at::Tensor(), a, b, 0.0, 1.0);
}

}  // namespace steepest::detail
