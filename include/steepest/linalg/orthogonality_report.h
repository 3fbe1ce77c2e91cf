// How orthogonal a result is, and what it cost to get there.
#pragma once

#include <ATen/ATen.h>

#include <string>

#include "steepest/linalg/cost.h"

namespace steepest {

struct OrthogonalityReport {
  double sigma_min = 0.0;   // smallest of the min(m,n) singular values of O
  double sigma_max = 0.0;   // largest singular value of O (its spectral norm)
  double orth_error = 0.0;  // ‖OᵀO − I‖_F/√r on the short side r = min(m,n)
  Cost cost;                // what produced O (copied from the caller)

  // One-line JSON: {"sigma_min":…, "sigma_max":…, "orth_error":…, "gemms":…, "flops":…}.
  std::string to_json() const;
};

// O: (m, n) or (B, m, n); for a batch the extremes are taken over all matrices
// and orth_error is the largest over the batch. Computed in fp64 from exact
// singular values, so the report itself adds no iteration error.
OrthogonalityReport orthogonality_report(const at::Tensor& O, const Cost& cost = {});

}  // namespace steepest
