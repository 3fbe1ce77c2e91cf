// One name → one orthogonalization method, for optimizers, the CLI and benchmarks.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

#include "steepest/linalg/cost.h"
#include "steepest/linalg/gram_newton_schulz.h"
#include "steepest/linalg/schedule.h"

namespace steepest {

// Methods by name:
//   "<schedule>"        Newton–Schulz with that schedule (cubic, keller, convergent, you6,
//                       polar-express); with compute dtype kFloat it runs the Gram
//                       form where that is cheaper (rectangular inputs): the same
//                       polynomial of X, 1.6× faster at 512×128 at equal error
//                       (docs/BENCHMARKS.md). Muon asks fp32 for fp32 parameters.
//   "ns-<schedule>"     always plain Newton–Schulz (the reference iteration)
//   "gram-<schedule>"   Gram Newton–Schulz with that schedule (e.g. gram-polar-express)
//   "turbo-<schedule>"  Turbo-Muon: AOL-preconditioned NS (NsOptions::precondition)
//                       running the schedule's steps 2…n (the first is dropped);
//                       steps = N runs steps 2…N+1 of the extended schedule
//   "svd"               exact U Vᵀ by LAPACK SVD
struct Orthogonalizer {
  enum class Kind { NewtonSchulz, GramNewtonSchulz, Svd };
  Kind kind = Kind::NewtonSchulz;
  NsSchedule schedule;    // unused for Svd
  GramNsOptions options;  // options.ns applies to both iterations
  // NewtonSchulz only: run the Gram form where it is cheaper when the compute
  // dtype is kFloat (a bare schedule name; "ns-<schedule>" sets false).
  bool gram_when_cheaper = false;

  // Parses a method name; steps < 0 keeps the schedule's default length.
  // Throws std::invalid_argument listing the valid names.
  static Orthogonalizer from_name(const std::string& method, int steps = -1,
                                  at::ScalarType compute_dtype = at::ScalarType::Undefined);

  // The canonical name ("keller", "ns-keller", "gram-polar-express", "svd").
  std::string name() const;

  // ≈ U Vᵀ of X ((m, n) or (B, m, n)), same shape and dtype; adds its cost to `cost`.
  at::Tensor operator()(const at::Tensor& X, Cost* cost = nullptr) const;

  // What operator() spends on one m×n matrix (× batch), without running it.
  Cost cost(int64_t m, int64_t n, int64_t batch = 1) const;
};

// Every method name from_name() accepts.
std::vector<std::string> orthogonalizer_names();

}  // namespace steepest
