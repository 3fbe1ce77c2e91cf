// One optimizer interface for single and composite optimizers: a model's
// optimizer is a list of parts, each one optimizer over its own parameters,
// plus the route every parameter took. A single optimizer (adamw, lion,
// modular, …) is one part; the hybrid (hidden matrices → a Muon-family or
// Stiefel optimizer, the rest → AdamW) is two. Callers step, schedule, save
// and report through this class and never ask which case they have.
#pragma once

#include <torch/optim/optimizer.h>

#include <memory>
#include <string>
#include <vector>

#include "steepest/linalg/cost.h"
#include "steepest/optim/named_optimizer.h"

namespace steepest {

// Where one parameter went and why.
struct ParameterRoute {
  std::string name;
  std::vector<int64_t> shape;
  std::string optimizer;  // the part's kind ("muon", "htmuon", "adamw", …)
  double lr = 0.0;
  double scale = 1.0;  // the Muon family's shape scale; 1 elsewhere
  std::string reason;  // "hidden matrix", "1-D", "embedding module", "all parameters", …
};

struct OptimizerPart {
  std::string key;  // its sub-archive in a checkpoint ("muon", "adamw")
  std::unique_ptr<torch::optim::Optimizer> optimizer;
};

class CompositeOptimizer {
 public:
  // `archive_kind` "" saves the one part as its own archive (the layout of a
  // single optimizer's checkpoint); otherwise the archive holds "kind" and one
  // sub-archive per part. step() first checks every parameter in `checked`
  // (its gradient's shape, dtype and device; with `check_finite`, NaN/Inf too:
  // c10::Error naming it, nothing updated; NamedOptimizer parts whose
  // parameters are all in `checked` then skip their own gradient checks, others
  // their finite check) and that libtorch parts' buffers still fit their parameters.
  CompositeOptimizer(std::vector<OptimizerPart> parts, std::vector<ParameterRoute> routes,
                     std::string archive_kind = "", bool check_finite = false,
                     std::vector<NamedParameter> checked = {});
  virtual ~CompositeOptimizer() = default;

  void step();
  void zero_grad();
  // Every group's learning rate = its base value (at construction) × factor.
  void set_lr_factor(double factor);
  // The first part's first group at the current factor (for logs).
  double lr() const;

  void save(torch::serialize::OutputArchive& archive) const;
  // Checks every part's state is present before any is touched; re-applies the
  // lr factor (libtorch 1.13's own optimizers drop saved options).
  void load(torch::serialize::InputArchive& archive);

  Cost last_step_cost() const;
  int64_t state_bytes() const;
  const std::vector<ParameterRoute>& routes() const { return routes_; }
  // The part's own table if it has one (modular's per-atom table), else a
  // fixed-width table of routes: parameter, shape, optimizer, lr, scale, why.
  std::string table() const;

  size_t parts() const { return parts_.size(); }
  torch::optim::Optimizer& part(size_t i) { return *parts_.at(i).optimizer; }
  const std::string& part_key(size_t i) const { return parts_.at(i).key; }

 protected:
  CompositeOptimizer() = default;
  void init(std::vector<OptimizerPart> parts, std::vector<ParameterRoute> routes,
            std::string archive_kind, bool check_finite, std::vector<NamedParameter> checked);

 private:
  // The name `checked` gives p, for messages.
  std::string name_of(const at::Tensor& p) const;

  std::vector<OptimizerPart> parts_;
  std::vector<ParameterRoute> routes_;
  std::string archive_kind_;
  bool check_finite_ = false;
  std::vector<NamedParameter> checked_;
  std::vector<std::vector<double>> base_lrs_;  // [part][group]
  double factor_ = 1.0;
};

}  // namespace steepest
