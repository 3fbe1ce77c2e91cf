// Modular steepest descent in practice: Muon for hidden matrices, AdamW for
// embeddings, the output head and every ≤1-D parameter, behind one step().
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/adamw.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "steepest/optim/muon.h"

namespace steepest {

struct HybridOptions {
  // The hidden matrices' optimizer: Muon with these options, unless
  // matrix_optimizer is set (any Muon variant or Stiefel optimizer, e.g. from
  // make_matrix_optimizer()).
  MuonOptions muon;
  std::function<std::unique_ptr<NamedOptimizer>(const std::vector<NamedParameter>&)>
      matrix_optimizer;
  // AdamW for the non-matrix parameters: betas (0.9, 0.95), eps 1e-8, no weight
  // decay on gains/embeddings. modded-nanogpt's optimization-track scripts use
  // betas (0.8, 0.95) and eps 1e-10 (its speedrun sets betas per group, e.g.
  // (0.5, 0.95) for embeddings and head): set adamw.betas({0.8, 0.95}).eps(1e-10)
  // to match. Our default keeps the common β₁ that docs/RESULTS.md was measured with.
  torch::optim::AdamWOptions adamw =
      torch::optim::AdamWOptions(3e-3).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.0);
  // ECMAScript regexes searched in the parameter name: a ≥2-D parameter that
  // matches goes to AdamW. Parameters of torch::nn::Embedding modules go to
  // AdamW whatever their name.
  std::vector<std::string> adamw_patterns = {
      R"((^|\.)(embed|embedding|embeddings|wte|wpe|tok_emb|pos_emb)(\.|$))",
      R"((^|\.)(head|lm_head)(\.|$))"};
  // A name matching one of these goes to Muon even if it matched above (≥2-D only).
  std::vector<std::string> muon_patterns = {};
};

// Where one parameter went and why.
struct ParameterRoute {
  std::string name;
  std::vector<int64_t> shape;
  std::string optimizer;  // the matrix optimizer's kind() ("muon", "htmuon", …) | "adamw"
  double lr = 0.0;
  double scale = 1.0;  // Muon's shape scale; 1 for AdamW
  std::string reason;  // "hidden matrix", "1-D", "embedding module", "name pattern …"
};

class HybridOptimizer {
 public:
  explicit HybridOptimizer(const torch::nn::Module& module, HybridOptions options = {});
  explicit HybridOptimizer(const std::vector<NamedParameter>& params, HybridOptions options = {});

  // Checks every gradient first (a NaN/Inf raises c10::Error naming the
  // parameter, and nothing is updated), then steps Muon and AdamW.
  void step();
  void zero_grad();

  // Multiplies every group's base learning rate by `factor` (LR schedules).
  void set_lr_factor(double factor);

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

  const std::vector<ParameterRoute>& routes() const { return routes_; }
  // A fixed-width table: parameter, shape, optimizer, lr, scale, reason.
  std::string table() const;

  // The hidden matrices' optimizer (nullptr if none); muon() if it is a Muon.
  NamedOptimizer* matrix() { return matrix_.get(); }
  Muon* muon() { return dynamic_cast<Muon*>(matrix_.get()); }
  torch::optim::AdamW* adamw() { return adamw_.get(); }
  Cost last_step_cost() const;
  int64_t state_bytes() const;

 private:
  void build(const std::vector<NamedParameter>& params, const std::vector<bool>& is_embedding);

  HybridOptions options_;
  std::vector<ParameterRoute> routes_;
  std::vector<NamedParameter> params_;
  std::unique_ptr<NamedOptimizer> matrix_;
  std::unique_ptr<torch::optim::AdamW> adamw_;
  double base_muon_lr_ = 0.0, base_adamw_lr_ = 0.0;
};

}  // namespace steepest
