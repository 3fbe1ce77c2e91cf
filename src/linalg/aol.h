// Internal: the Turbo-Muon (AOL) start shared by newton_schulz and gram_newton_schulz.
#pragma once

#include <ATen/ATen.h>

#include "steepest/linalg/cost.h"

namespace steepest::detail {

struct AolStart {
  at::Tensor x;  // D^{-1/2}·x, (…, r, c)
  at::Tensor A;  // its Gram matrix D^{-1/2}·x·xᵀ·D^{-1/2}, (…, r, r)
};

// AOL scaling of a short-side x (r×c, r ≤ c, or batched): with A = x·xᵀ and
// d_i = Σ_j |A_ij| (≥ row i's Gershgorin radius, so D^{-1/2}·A·D^{-1/2} has
// eigenvalues ≤ 1), D = safety·d + eps as in the Turbo-Muon reference
// (rsqrt(1.02·d + 1e-6) with Polar Express). Then ‖D^{-1/2}x‖₂² ≤ 1/safety, small
// σ start higher than after a Frobenius normalization, and a zero row stays zero.
// One GEMM (A), counted in `cost`; A comes back for the first iteration to reuse.
AolStart aol_precondition(const at::Tensor& x, double safety, double eps, Cost* cost);

}  // namespace steepest::detail
