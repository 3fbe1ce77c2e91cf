// Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"):
// a sign update of an interpolated momentum, ℓ∞ geometry.
#pragma once

#include "steepest/optim/named_optimizer.h"

namespace steepest {

// C = β₁·M + (1−β₁)·G;  W ← W·(1 − lr·wd) − lr·sign(C);  M ← β₂·M + (1−β₂)·G.
// β = (0.9, 0.99) from the paper; lr 3e-4, the paper's 3–10× below AdamW's (3e-3 here).
struct LionOptions : torch::optim::OptimizerCloneableOptions<LionOptions> {
  LionOptions(double lr = 3e-4) : lr_(lr) {}
  TORCH_ARG(double, lr);
  TORCH_ARG(double, beta1) = 0.9;
  TORCH_ARG(double, beta2) = 0.99;
  TORCH_ARG(double, weight_decay) = 0.0;

 public:
  double get_lr() const override { return lr(); }
  void set_lr(const double lr) override { this->lr(lr); }
};

class Lion : public NamedOptimizer {
 public:
  Lion(const std::vector<NamedParameter>& params, LionOptions defaults = {});
  Lion(std::vector<torch::optim::OptimizerParamGroup> groups, LionOptions defaults = {},
       std::vector<std::string> names = {});
  std::string kind() const override { return "lion"; }
  at::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace steepest
