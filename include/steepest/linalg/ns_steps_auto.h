// Per-layer Newton–Schulz step counts from the measured orthogonality error
// (`--ns-steps auto`). Layers whose momentum has a flat spectrum reach the
// schedule's band in fewer steps than those with a steep power-law decay (the
// argument for layer-aware step counts that issue #13 quotes), so each layer
// gets the fewest steps that leave it as orthogonal as the full schedule does.
// Measured on the default GPT it saves nothing (docs/BENCHMARKS.md, #13).
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "steepest/linalg/schedule.h"

namespace steepest {

// e_s = ‖X_s X_sᵀ − I‖_F/√r after each step s = 1…n of `schedule` on one
// matrix X ((m, n), any float dtype; computed in fp32 on the short side
// r = min(m, n) after the schedule's Frobenius normalization). One run of the
// iteration gives every prefix, since a shorter step count runs the first
// steps of the schedule. Element s−1 is e_s.
std::vector<double> ns_error_by_step(const at::Tensor& X, const NsSchedule& schedule);

// The fewest steps s with e_s ≤ (1 + tolerance)·e_n (n = errors.size(), the
// full schedule); errors as from ns_error_by_step. tolerance ≥ 0.
int fewest_ns_steps(const std::vector<double>& errors, double tolerance);

}  // namespace steepest
