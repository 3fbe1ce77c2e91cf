// Exact polar factor by LAPACK SVD: the reference every iteration is checked against.
#pragma once

#include <ATen/ATen.h>

#include "steepest/linalg/cost.h"

namespace steepest {

// msign(X) = U Vᵀ where X = U Σ Vᵀ is the thin SVD.
//   X: (m, n) or (B, m, n), floating. Returns the same shape and dtype; the SVD
//   runs in fp32 for half/bf16 inputs (LAPACK has no half kernels).
//   Zero singular values map to 0, not ±1: a rank-deficient input keeps its
//   null space (so a zero matrix gives a zero matrix, like the iterations).
//   cost: one GEMM (U·Vᵀ) plus the Golub–Van Loan R-SVD estimate 6·c·r² + 20·r³
//   FLOPs in other_flops (r = min(m,n), c = max(m,n)).
at::Tensor polar_svd(const at::Tensor& X, Cost* cost = nullptr);

// What polar_svd() / spectral_map_svd() spend on one m×n matrix (× batch).
Cost polar_svd_cost(int64_t m, int64_t n, int64_t batch = 1);

// U·f(Σ)·Vᵀ for an elementwise spectral map f, by exact SVD; the building block
// of every spectral duality map (Schatten-q, RMS→RMS) and of the spectral
// optimizer variants. f receives Σ as a (…, r) tensor and returns one like it.
at::Tensor spectral_map_svd(const at::Tensor& X,
                            const std::function<at::Tensor(const at::Tensor&)>& f,
                            Cost* cost = nullptr);

}  // namespace steepest
