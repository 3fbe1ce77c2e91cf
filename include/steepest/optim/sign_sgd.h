// signSGD with momentum (Signum): steepest descent under the ℓ∞ norm.
#pragma once

#include "steepest/optim/named_optimizer.h"

namespace steepest {

// B ← μ·B + (1−μ)·G;  W ← W·(1 − lr·wd) − lr·sign(B)   (Bernstein et al. 2018, "signSGD").
// momentum 0 is plain signSGD. Any parameter shape.
struct SignSGDOptions : torch::optim::OptimizerCloneableOptions<SignSGDOptions> {
  SignSGDOptions(double lr = 1e-3) : lr_(lr) {}
  TORCH_ARG(double, lr);
  TORCH_ARG(double, momentum) = 0.9;
  TORCH_ARG(double, weight_decay) = 0.0;

 public:
  double get_lr() const override { return lr(); }
  void set_lr(const double lr) override { this->lr(lr); }
};

class SignSGD : public NamedOptimizer {
 public:
  SignSGD(const std::vector<NamedParameter>& params, SignSGDOptions defaults = {});
  SignSGD(std::vector<torch::optim::OptimizerParamGroup> groups, SignSGDOptions defaults = {},
          std::vector<std::string> names = {});
  std::string kind() const override { return "signsgd"; }
  at::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace steepest
