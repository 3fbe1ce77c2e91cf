// Muon: momentum, then steepest descent under the spectral norm (REFERENCE.md §2).
#pragma once

#include <torch/optim/optimizer.h>

#include <string>
#include <vector>

#include "steepest/linalg/orthogonalizer.h"
#include "steepest/optim/named_optimizer.h"

namespace steepest {

// How the orthogonalized update O (‖O‖₂ ≈ 1) is scaled for an m×n weight
// (m = fan_out = rows, n = fan_in; conv weights flattened to (out, in·kh·kw)).
enum class MuonScale {
  Original,       // max(1, m/n)^½ — KellerJordan/Muon
  Spectral,       // √(m/n) — RMS→RMS steepest descent (Bernstein, "Deriving Muon")
  MatchRmsAdamW,  // 0.2·√max(m, n) — Moonlight ("Muon is Scalable for LLM Training")
};
double muon_scale(MuonScale rule, int64_t m, int64_t n);
MuonScale muon_scale_from_name(
    const std::string& name);  // "original" | "spectral" | "match_rms_adamw"
std::string muon_scale_name(MuonScale rule);

struct MuonOptions : torch::optim::OptimizerCloneableOptions<MuonOptions> {
  MuonOptions(double lr = 0.02) : lr_(lr) {}
  TORCH_ARG(double, lr);
  TORCH_ARG(double, momentum) = 0.95;
  // The reference's EMA form: B ← lerp(B, G, 1−μ), update from lerp(G, B, μ).
  TORCH_ARG(bool, nesterov) = true;
  // Decoupled: W ← W·(1 − lr·wd), applied exactly once per step.
  TORCH_ARG(double, weight_decay) = 0.0;
  // Any orthogonalizer_names() entry: a schedule, "gram-<schedule>", or "svd".
  TORCH_ARG(std::string, orthogonalizer) = "keller";
  TORCH_ARG(int, ns_steps) = -1;  // -1: the schedule's own length
  TORCH_ARG(MuonScale, scale) = MuonScale::Original;
  // GEMM dtype of the iteration (Undefined = the parameter's dtype).
  TORCH_ARG(at::ScalarType, compute_dtype) = at::ScalarType::Undefined;

 public:
  double get_lr() const override { return lr(); }
  void set_lr(const double lr) override { this->lr(lr); }
};

class Muon : public NamedOptimizer {
 public:
  // Every parameter must be ≥ 2-D; a 1-D one raises c10::Error naming it.
  Muon(const std::vector<NamedParameter>& params, MuonOptions defaults = {});
  Muon(std::vector<torch::optim::OptimizerParamGroup> groups, MuonOptions defaults = {},
       std::vector<std::string> names = {});

  std::string kind() const override { return "muon"; }
  at::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace steepest
