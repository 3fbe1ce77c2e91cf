// `steepest train --spectra-every K` (issue #14): every K steps, one line per
// hidden matrix in spectra.jsonl with the singular-value statistics of its
// weight W (after the step), of the optimizer's input (its momentum buffer),
// of the update actually applied ΔW, the alignment ⟨G, ΔW⟩/(‖G‖_F‖ΔW‖_F)
// (negative: a descent direction), and, for the Muon family, the realized
// singular-value band [σ_min, σ_max] of its orthogonalizer's output on this
// step's input.
#pragma once

#include <torch/nn/module.h>

#include <map>
#include <string>

#include "steepest/optim/composite.h"
#include "steepest/train/metrics.h"

namespace steepest {

class SpectraRecorder {
 public:
  // Appends to path; keep_up_to_step ≥ 0 first drops records of later steps
  // (a run resumed into its own directory), as MetricsWriter does.
  SpectraRecorder(const std::string& path, int64_t every, int64_t keep_up_to_step = -1);
  bool due(int64_t step) const { return every_ > 0 && step % every_ == 0; }
  // Before the optimizer step of a due step: the weights the update starts from.
  void before_step(const torch::nn::Module& model);
  // After it: writes the records (the gradients are still in p.grad()).
  void after_step(int64_t step, const torch::nn::Module& model, CompositeOptimizer& optimizer);

 private:
  MetricsWriter out_;
  int64_t every_;
  std::map<std::string, at::Tensor> before_;
};

}  // namespace steepest
