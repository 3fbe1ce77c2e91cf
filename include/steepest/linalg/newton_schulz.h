// Newton–Schulz orthogonalization: X ≈ msign(X) = U Vᵀ without an SVD.
#pragma once

#include <ATen/ATen.h>

#include "steepest/linalg/cost.h"
#include "steepest/linalg/schedule.h"

namespace steepest {

// How an iteration computes. The result always comes back in the input dtype.
struct NsOptions {
  // Dtype the GEMMs run in: Undefined = the input's own (fp32 for fp32 input);
  // kBFloat16 for speed on AVX-512 BF16 / tensor cores, kDouble for accuracy.
  at::ScalarType compute_dtype = at::ScalarType::Undefined;
  // Turbo-Muon (Boissin et al. 2025, modded-nanogpt record 2025-11-11): instead of
  // the Frobenius normalization, scale the short-side X by the AOL rule
  // X ← diag(safety·Σ_j |X Xᵀ|_ij + eps)^{−1/2}·X, which guarantees ‖X‖₂ ≤ 1/√safety
  // and lifts small σ. The Gram matrix it needs is reused as the first
  // iteration's A, so it costs no extra GEMM. The schedule passed in should
  // already lack the step the preconditioner replaces (Orthogonalizer's
  // "turbo-<schedule>" drops the first). Caveat: a row scaling moves the polar
  // factor slightly (it is U Vᵀ of D^{-1/2}X, not of X).
  bool precondition = false;
  // X is already the normalized start: short side (rows ≤ cols), in the
  // compute dtype, divided by ‖X‖_F·safety + eps (Muon's fused step builds it
  // in the same pass as the momentum). The normalization is skipped.
  bool input_normalized = false;
};

// Runs `schedule` on X.
//   X: (m, n) or batched (B, m, n), any floating dtype, any device. Each matrix
//      is orthogonalized on its own; a tall matrix is iterated as its transpose
//      so the Gram matrix is min(m,n)² (the short side).
//   Returns: same shape and dtype; singular vectors of X, singular values
//      σᵢ ↦ schedule.apply_scalar(σᵢ / (‖X‖_F·safety + eps)). Zero input → zero.
//      With options.precondition the start is the AOL-scaled X instead (above).
//   cost: if non-null, receives the GEMMs and GEMM FLOPs spent.
at::Tensor newton_schulz(const at::Tensor& X, const NsSchedule& schedule,
                         const NsOptions& options = {}, Cost* cost = nullptr);

// GEMMs and FLOPs newton_schulz() spends on one m×n matrix (× batch).
Cost newton_schulz_cost(int64_t m, int64_t n, const NsSchedule& schedule, int64_t batch = 1);

}  // namespace steepest
