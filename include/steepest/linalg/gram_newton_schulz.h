// Gram Newton–Schulz (Zhang, Amsel, Chen, Dao 2026): the same polynomial
// iteration as newton_schulz(), run on the small Gram matrix R = X·Xᵀ.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "steepest/linalg/cost.h"
#include "steepest/linalg/newton_schulz.h"
#include "steepest/linalg/schedule.h"

namespace steepest {

struct GramNsOptions {
  NsOptions ns;
  // Re-form R = X·Xᵀ from the current X after these (1-based) iterations; one
  // restart after step 2 keeps fp32 rounding from accumulating in R.
  std::vector<int> restart_after = {2};
};

// Same contract and same result (up to rounding) as newton_schulz(X, schedule).
//   X: (m, n) or (B, m, n); iterated on the short side r = min(m,n), c = max(m,n).
//   Every step X ← Q·X with Q = aI + bR + cR² a polynomial in R (r×r), so the
//   r×c matrix is touched only when R is formed and when the accumulated Q is
//   applied: for 5 steps and α = c/r, 8α+28 r³-units of FLOPs versus 20α+10.
//   When that is not cheaper (square and near-square inputs) it falls back to
//   newton_schulz() itself. options.ns.precondition (the Turbo/AOL start) is
//   honoured either way; its x·xᵀ is the iteration's first R, so it is free.
at::Tensor gram_newton_schulz(const at::Tensor& X, const NsSchedule& schedule,
                              const GramNsOptions& options = {}, Cost* cost = nullptr);

// GEMMs and FLOPs gram_newton_schulz() spends on one m×n matrix (× batch),
// including the fallback decision.
Cost gram_newton_schulz_cost(int64_t m, int64_t n, const NsSchedule& schedule,
                             const GramNsOptions& options = {}, int64_t batch = 1);

}  // namespace steepest
