// Base of steepest's optimizers: parameter names, checked gradients, tensor
// state that saves and loads generically, and per-step cost accounting.
#pragma once

#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>

#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "steepest/linalg/cost.h"

namespace steepest {

using NamedParameter = std::pair<std::string, at::Tensor>;

// Per-parameter state: a step count and named buffers (momentum, …).
struct TensorState : torch::optim::OptimizerCloneableParamState<TensorState> {
  int64_t step = 0;
  std::map<std::string, at::Tensor> buffers;
  // The parameter's shape, dtype and device when this state was made for it;
  // step() refuses a parameter that has changed since (its buffers no longer fit).
  std::vector<int64_t> param_sizes;
  at::ScalarType param_dtype = at::ScalarType::Undefined;
  c10::Device param_device = c10::Device(c10::kCPU);
};

// One parameter's state in an archive, under `prefix`: "<prefix>step",
// "<prefix>buffers" (the names) and "<prefix>buf.<name>" for each buffer.
void write_tensor_state(torch::serialize::OutputArchive& archive, const std::string& prefix,
                        const TensorState& state);
// What write_tensor_state() wrote, buffers moved to p's device and dtype;
// null when the archive holds no state under `prefix` (p was never stepped).
std::unique_ptr<TensorState> read_tensor_state(torch::serialize::InputArchive& archive,
                                               const std::string& prefix, const at::Tensor& p);

class NamedOptimizer : public torch::optim::Optimizer {
 public:
  // `names` follows the parameters of `groups` in order (group by group); an
  // empty vector names them "group<g>.param<i>".
  NamedOptimizer(std::vector<torch::optim::OptimizerParamGroup> groups,
                 std::unique_ptr<torch::optim::OptimizerOptions> defaults,
                 std::vector<std::string> names);

  // Short identifier written into checkpoints ("muon", "lion", …).
  virtual std::string kind() const = 0;

  // The name given for p, or "group<g>.param<i>".
  std::string param_name(const at::Tensor& p) const;

  // What the last step() spent (GEMMs and FLOPs; zero for elementwise rules).
  const Cost& last_step_cost() const { return step_cost_; }
  // Bytes held in optimizer state (all buffers of all parameters).
  virtual int64_t state_bytes() const;

  // Writes/reads every parameter's buffers and step count, and each group's
  // learning rate. load() checks kind, parameter count and shapes and names
  // the first mismatch.
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

  // What one step() spends on an m×n parameter (rows = fan_out) of the first
  // group, as predicted before running it; zero where the optimizer does not
  // predict. Sharded data parallelism balances matrix owners by it.
  virtual Cost predicted_step_cost(int64_t m, int64_t n) const {
    (void)m;
    (void)n;
    return {};
  }

  // Its own routing table for logs (the modular optimizer's per-atom shares);
  // empty: the caller's table of parameters is enough.
  virtual std::string table() const { return {}; }

  // Which checks step() runs on each gradient; its state is always checked
  // against its parameter. kFull (default): shape, dtype, device, layout and
  // NaN/Inf (one pass over each gradient; a non-finite one raises c10::Error
  // naming the parameter and leaves every parameter and buffer untouched).
  // kStructure: without NaN/Inf. kNone: the owner (a composite, a sharded
  // wrapper) already ran detail::check_gradient on every parameter of this one.
  enum class GradientChecks { kFull, kStructure, kNone };
  void set_gradient_checks(GradientChecks checks) { gradient_checks_ = checks; }
  GradientChecks gradient_checks() const { return gradient_checks_; }

 protected:
  // State of p, created empty on first use.
  TensorState& state_of(const at::Tensor& p);
  // Throws (naming the parameter) if a parameter with a gradient has changed
  // shape, dtype or device since its state was made, if a gradient does not
  // match its parameter, or (when checking is on) if one is non-finite.
  void check_gradients() const;

  Cost step_cost_;

 private:
  std::unordered_map<const void*, std::string> names_;
  GradientChecks gradient_checks_ = GradientChecks::kFull;
};

}  // namespace steepest
