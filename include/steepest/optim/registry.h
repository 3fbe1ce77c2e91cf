// Every optimizer steepest ships, by name, with its defaults, hyperparameters
// and formula; and the factories that build them from a name and a JSON object
// of hyperparameter overrides (the `opt` key of a training config, `--opt k=v`).
#pragma once

#include <torch/optim/optimizer.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "steepest/linalg/cost.h"
#include "steepest/norms/module_tree.h"
#include "steepest/optim/named_optimizer.h"

namespace steepest {

struct Hyperparameter {
  std::string name;
  nlohmann::json value;  // the default; an override must have the same JSON type
  std::string help;
};

// What a registry row's factory gets: the parameters and the resolved
// hyperparameters (the row's defaults with overrides applied).
struct OptimizerArgs {
  const std::vector<NamedParameter>& params;
  double lr;                // resolved: the override, or the row's default
  const nlohmann::json& h;  // every hyperparameter of the row, resolved
  int64_t total_steps;      // run length (0: unknown)
  double weight_decay;
  const Module& tree;  // the model's module tree (modular), may be null

  double num(const char* key) const { return h.at(key).get<double>(); }
  int integer(const char* key) const { return h.at(key).get<int>(); }
  std::string str(const char* key) const { return h.at(key).get<std::string>(); }
  bool flag(const char* key) const { return h.at(key).get<bool>(); }
};
using OptimizerFactory =
    std::function<std::unique_ptr<torch::optim::Optimizer>(const OptimizerArgs&)>;

// One row per optimizer: its defaults (stated only here) and its factory beside them.
struct OptimizerInfo {
  std::string name;     // CLI / config name
  std::string norm;     // the geometry it descends in
  std::string formula;  // one line
  std::string source;   // paper / repository
  double lr = 0.0;      // default learning rate
  std::vector<Hyperparameter> hyper;
  // True for the Muon family and the Stiefel optimizers: on a model they get
  // the hidden matrices, and AdamW the embeddings, head and ≤1-D parameters.
  bool hidden_matrices = false;
  OptimizerFactory make;

  // "lr=0.02 momentum=0.95 …" from lr and hyper.
  std::string defaults() const;
};

// Every row: the hand-written ones, then "steepest-<norm>" for each
// norm_entries() entry (DualizeRule over that norm: registering a norm yields
// an optimizer).
const std::vector<OptimizerInfo>& optimizer_infos();
// The entry for `name`; throws std::invalid_argument listing the names.
const OptimizerInfo& optimizer_info(const std::string& name);

// The optimizer's defaults with `overrides` (a JSON object) applied. Unknown
// keys and values of the wrong type throw std::invalid_argument naming the key,
// the optimizer and its valid keys.
nlohmann::json resolve_hyperparameters(const std::string& name, const nlohmann::json& overrides);

// Builds optimizer `name` over `params` (lr < 0 keeps the default lr).
// Hidden-matrix optimizers reject 1-D parameters; use ModelOptimizer or
// HybridOptimizer for whole models. `total_steps` is the run length, for
// schedules inside an optimizer (DynMuon's p(t)); 0 = not known. `tree` is the
// model's module tree for `modular` (null: flat_module_tree(params)); others ignore it.
// Throws std::invalid_argument listing the names for an unknown one.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(
    const std::string& name, const std::vector<NamedParameter>& params, double lr = -1.0,
    const nlohmann::json& overrides = nlohmann::json::object(), int64_t total_steps = 0,
    double weight_decay = 0.0, const Module& tree = nullptr);

// The same for hidden-matrix optimizers only, as a NamedOptimizer (so cost and
// state bytes are reported). Throws for names without hidden_matrices.
std::unique_ptr<NamedOptimizer> make_matrix_optimizer(
    const std::string& name, const std::vector<NamedParameter>& params, double lr = -1.0,
    const nlohmann::json& overrides = nlohmann::json::object(), int64_t total_steps = 0,
    double weight_decay = 0.0);

// What one step of an optimizer costs on one m×n matrix (rows = fan_out), as the
// optimizer itself reports it: GEMMs and FLOPs (Cost), state bytes, wall time.
struct StepCost {
  Cost cost;
  int64_t state_bytes = 0;
  double ms = 0.0;  // median over `repeats` steps after a warm-up step; a timing, not a test
};
// Builds `name` on one fp32 m×n parameter with fixed random gradients (seed 0) and
// steps it 1 + repeats times; cost and state are those of the last step.
StepCost measure_step_cost(const std::string& name, int64_t m, int64_t n,
                           const nlohmann::json& overrides = nlohmann::json::object(),
                           int repeats = 3);

// Parses "pattern=steps,pattern=steps" (ns_steps_map); throws naming the bad entry.
std::vector<std::pair<std::string, int>> parse_ns_steps_map(const std::string& text);

}  // namespace steepest
