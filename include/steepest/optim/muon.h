// Muon: momentum, then steepest descent under the spectral norm (Keller Jordan 2024,
// KellerJordan/Muon).
#pragma once

#include <torch/optim/optimizer.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "steepest/linalg/orthogonalizer.h"
#include "steepest/optim/named_optimizer.h"
#include "steepest/optim/update_rule.h"

namespace steepest {

// How the orthogonalized update O (‖O‖₂ ≈ 1) is scaled for an m×n weight
// (m = fan_out = rows, n = fan_in; conv weights flattened to (out, in·kh·kw)).
enum class MuonScale {
  Original,       // max(1, m/n)^½ — KellerJordan/Muon
  Spectral,       // √(m/n) — RMS→RMS steepest descent (Bernstein, "Deriving Muon")
  MatchRmsAdamW,  // 0.2·√max(m, n) — Moonlight ("Muon is Scalable for LLM Training")
  None,           // 1 — the norm's own map sets the size (steepest-<norm> optimizers)
};
double muon_scale(MuonScale rule, int64_t m, int64_t n);
MuonScale muon_scale_from_name(
    const std::string& name);  // "original" | "spectral" | "match_rms_adamw" | "none"
std::string muon_scale_name(MuonScale rule);

using NsStepsMap = std::vector<std::pair<std::string, int>>;  // (name regex, NS steps)

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
  // -1: the schedule's own length. 0 (auto): from step ns_auto_start on, each
  // matrix gets the fewest of the schedule's steps whose orthogonality error
  // on its own momentum is within ns_auto_tolerance of the full schedule's
  // (linalg/ns_steps_auto.h), re-measured every ns_auto_every steps and kept
  // in its state; the full schedule before.
  TORCH_ARG(int, ns_steps) = -1;
  TORCH_ARG(double, ns_auto_tolerance) = 0.02;  // 0.1 cost 0.02-0.03 val loss (docs/BENCHMARKS.md)
  TORCH_ARG(int64_t, ns_auto_start) = 10;
  TORCH_ARG(int64_t, ns_auto_every) = 250;
  TORCH_ARG(MuonScale, scale) = MuonScale::Original;
  // GEMM dtype of the iteration (Undefined = the parameter's dtype).
  TORCH_ARG(at::ScalarType, compute_dtype) = at::ScalarType::Undefined;
  // Apply compute_dtype to fp32 parameters only (the registry's dtype=auto:
  // bf16 speeds up fp32 steps and must not lower fp64 ones).
  TORCH_ARG(bool, compute_dtype_fp32_only) = false;
  // Per-layer NS step counts: the first (ECMAScript regex searched in the
  // parameter name, steps) that matches sets that parameter's step count;
  // unmatched parameters use ns_steps.
  TORCH_ARG(NsStepsMap, ns_steps_map) = {};
  // The map from momentum to update direction (nullptr: msign, i.e. Muon). The
  // variants of the family (HTMuon, NorMuon, Dion, …) are rules; see update_rule.h.
  TORCH_ARG(std::shared_ptr<const UpdateRule>, rule) = nullptr;
  // Run the elementwise work of the plain msign step (momentum, normalization,
  // dtype conversion, decay, update) as two fused passes per matrix where it
  // can (CPU fp32 matrices, a Newton–Schulz-type orthogonalizer). false: the
  // general path, one libtorch call at a time; the two agree to fp32 rounding.
  TORCH_ARG(bool, fused) = true;

 public:
  double get_lr() const override { return lr(); }
  void set_lr(const double lr) override { this->lr(lr); }
};

// The rule `o` applies: o.rule(), or Muon's msign when none is set.
const UpdateRule& update_rule(const MuonOptions& o);
// The factor lr is multiplied by for an m×n matrix: the rule's scale of
// muon_scale(o.scale(), m, n) (Dion and AdaMuon use their own).
double step_scale(const MuonOptions& o, int64_t m, int64_t n);

// The Muon family's optimizer: momentum (unless the rule owns it), the rule's
// direction O, then W ← W·(1 − lr·wd) − lr·scale·O. With the default rule it is
// Muon; kind() is the rule's name.
class Muon : public NamedOptimizer {
 public:
  // Every parameter must be ≥ 2-D; a 1-D one raises c10::Error naming it.
  Muon(const std::vector<NamedParameter>& params, MuonOptions defaults = {});
  Muon(std::vector<torch::optim::OptimizerParamGroup> groups, MuonOptions defaults = {},
       std::vector<std::string> names = {});

  std::string kind() const override { return kind_; }
  at::Tensor step(LossClosure closure = nullptr) override;

  // NS steps p gets (ns_steps_map, else ns_steps; -1 = the schedule's default,
  // 0 = auto, which step() resolves per parameter).
  int ns_steps_for(const at::Tensor& p, const MuonOptions& o) const;
  // What one step spends on an m×n parameter of the first group at `step`.
  Cost predicted_cost(int64_t m, int64_t n, int64_t step = 1, int ns_steps = -1) const;
  Cost predicted_step_cost(int64_t m, int64_t n) const override { return predicted_cost(m, n); }

 private:
  std::string kind_ = "muon";
  mutable std::unordered_map<const void*, int> ns_steps_cache_;
};

}  // namespace steepest
