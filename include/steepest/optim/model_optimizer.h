// Everything a trainer needs from "the optimizer of a model", whichever one it
// is, built from its registry name: a CompositeOptimizer whose parts are the
// hybrid's (a hidden-matrix optimizer's row: that optimizer for hidden
// matrices, AdamW for the rest) or one optimizer over every parameter.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "steepest/linalg/cost.h"
#include "steepest/norms/module_tree.h"
#include "steepest/optim/collectives.h"
#include "steepest/optim/hybrid.h"

namespace steepest {

struct ModelOptimizerOptions {
  std::string name = "muon";   // any optimizer_infos() name
  double lr = -1.0;            // < 0: the optimizer's default (of the matrix half for hybrids)
  double adamw_lr = -1.0;      // hidden-matrix optimizers: the AdamW half (< 0: default 3e-3)
  double weight_decay = 0.0;   // decoupled; the hidden matrices, or every parameter otherwise
  std::string orthogonalizer;  // "" = the optimizer's own; else sets its orthogonalizer option
  int ns_steps = -1;           // >= 0 sets the optimizer's ns_steps option
  nlohmann::json opt = nlohmann::json::object();  // hyperparameter overrides (registry.h)
  int64_t total_steps = 0;                        // run length, for in-optimizer schedules
  // `modular`: the model's module tree (null: one atom per parameter,
  // flat_module_tree); the trainer passes gpt_module_tree() of its GPT.
  Module module_tree;
  // Data-parallel runs: the ranks' collectives. With more than one rank the
  // hidden matrices of a hidden-matrix optimizer are sharded (sharded.h); the
  // rest is stepped identically on every rank. Null: one process.
  std::shared_ptr<Collectives> collectives;
};

// options.opt with the orthogonalizer / ns_steps shorthands folded in
// (explicit opt keys win); what the optimizer's factory receives.
nlohmann::json effective_hyperparameters(const ModelOptimizerOptions& options);

// Optimizer `name` over exactly `params` (no routing; registry.h's
// make_optimizer), as a one-part CompositeOptimizer whose routes say "all
// parameters": what ModelOptimizer builds for names without hidden_matrices,
// and what the Python bindings build for a parameter list.
std::unique_ptr<CompositeOptimizer> single_optimizer(
    const std::string& name, const std::vector<NamedParameter>& params, double lr = -1.0,
    const nlohmann::json& overrides = nlohmann::json::object(), int64_t total_steps = 0,
    double weight_decay = 0.0, const Module& tree = nullptr);

class ModelOptimizer {
 public:
  ModelOptimizer(const torch::nn::Module& model, const ModelOptimizerOptions& options);
  // The same over parameters listed by hand (the Python bindings' Hybrid).
  ModelOptimizer(const TrainableParameters& params, const ModelOptimizerOptions& options);

  void zero_grad() { impl_->zero_grad(); }
  void step() { impl_->step(); }
  // Sets every group's learning rate to its base value × factor (LR schedules).
  void set_lr_factor(double factor) { impl_->set_lr_factor(factor); }
  // The learning rate of the first part (the hidden matrices' for hybrids).
  double lr() const { return impl_->lr(); }

  // The archive holds "name" (checked on load) and the composite's state.
  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

  Cost last_step_cost() const { return impl_->last_step_cost(); }
  int64_t state_bytes() const { return impl_->state_bytes(); }
  // One line per parameter (or per atom, for modular): where it went.
  std::string table() const { return impl_->table(); }
  const std::string& name() const { return options_.name; }
  CompositeOptimizer& composite() { return *impl_; }

 private:
  ModelOptimizerOptions options_;
  std::unique_ptr<CompositeOptimizer> impl_;
};

}  // namespace steepest
