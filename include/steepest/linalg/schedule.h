// Newton–Schulz coefficient schedules: one odd polynomial per iteration.
#pragma once

#include <string>
#include <vector>

namespace steepest {

// One iteration X ← a·X + (b·A + c·A²)·X with A = X·Xᵀ (c = 0: a 2-GEMM cubic step).
struct NsCoefficients {
  double a = 0.0;
  double b = 0.0;
  double c = 0.0;
};

// A whole iteration recipe. X is first normalized as X / (‖X‖_F·safety + eps),
// which puts every singular value in [0, 1/safety].
struct NsSchedule {
  std::string name;
  std::vector<NsCoefficients> steps;
  double safety = 1.0;
  double eps = 1e-7;

  // The scalar map σ ↦ σ' applied to one (already normalized) singular value
  // by the whole schedule: what the matrix iteration does to each σ exactly.
  double apply_scalar(double sigma) const;
};

// The most Newton-Schulz steps any schedule runs: every schedule converges in
// well under 100; more is a typo (10^7 steps would run for hours).
constexpr int kMaxNsSteps = 1000;

// Named schedules: "cubic", "keller", "convergent", "you6", "polar-express".
// steps < 0 keeps the schedule's own length; a shorter count takes the first
// `steps` iterations. A longer one appends the schedule's extension step:
// polar-express continues with the Polar Express paper's (1.875, −1.25, 0.375)
// (fixed point 1, p'(1) = 0), every other schedule repeats its last step
// (keller's last step has no fixed point at 1, so keller stays in its band).
// Throws std::invalid_argument naming the known schedules for an unknown name.
NsSchedule ns_schedule(const std::string& name, int steps = -1);

// Every name ns_schedule() accepts, in a stable order.
const std::vector<std::string>& ns_schedule_names();

// One-line description of a named schedule (for `steepest optimizers`).
std::string ns_schedule_description(const std::string& name);

}  // namespace steepest
