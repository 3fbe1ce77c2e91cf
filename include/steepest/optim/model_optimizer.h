// Everything a trainer needs from "the optimizer of a model", whichever one it
// is: a single optimizer over all parameters (adamw, sgd, signsgd, lion) or
// the hybrid (muon: Muon for hidden matrices, AdamW for the rest).
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/optimizer.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "steepest/linalg/cost.h"
#include "steepest/norms/module_tree.h"
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
};

// options.opt with the orthogonalizer / ns_steps shorthands folded in
// (explicit opt keys win); what the optimizer's factory receives.
nlohmann::json effective_hyperparameters(const ModelOptimizerOptions& options);

class ModelOptimizer {
 public:
  ModelOptimizer(const torch::nn::Module& model, const ModelOptimizerOptions& options);

  void zero_grad();
  void step();
  // Sets every group's learning rate to its base value × factor (LR schedules).
  void set_lr_factor(double factor);
  // The learning rate of the first group at the current factor (for logs).
  double lr() const;

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

  Cost last_step_cost() const;
  int64_t state_bytes() const;
  // One line per parameter: where it went (table of the hybrid, or a summary).
  std::string table() const;
  const std::string& name() const { return options_.name; }

 private:
  ModelOptimizerOptions options_;
  std::unique_ptr<HybridOptimizer> hybrid_;
  std::unique_ptr<torch::optim::Optimizer> single_;
  std::vector<std::pair<std::string, std::vector<int64_t>>> single_params_;
  std::vector<double> base_lrs_;
  double factor_ = 1.0;
};

}  // namespace steepest
