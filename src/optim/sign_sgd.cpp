#include "steepest/optim/sign_sgd.h"

#include <c10/util/Exception.h>

#include "optim/param_groups.h"
#include "optim/step_prologue.h"

namespace steepest {

SignSGD::SignSGD(const std::vector<NamedParameter>& params, SignSGDOptions defaults)
    : SignSGD({torch::optim::OptimizerParamGroup(detail::tensors_of(params))}, std::move(defaults),
              detail::names_of(params)) {}

SignSGD::SignSGD(std::vector<torch::optim::OptimizerParamGroup> groups, SignSGDOptions defaults,
                 std::vector<std::string> names)
    : NamedOptimizer(std::move(groups), std::make_unique<SignSGDOptions>(defaults),
                     std::move(names)) {
  TORCH_CHECK(defaults.lr() >= 0, "SignSGD: learning rate must be >= 0, got ", defaults.lr());
  TORCH_CHECK(defaults.momentum() >= 0 && defaults.momentum() < 1,
              "SignSGD: momentum must be in [0, 1), got ", defaults.momentum());
}

at::Tensor SignSGD::step(LossClosure closure) {
  at::NoGradGuard no_grad;
  at::Tensor loss = detail::run_closure(closure);
  check_gradients();
  step_cost_ = Cost{};
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const SignSGDOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& st = state_of(p);
      ++st.step;
      at::Tensor direction = p.grad();
      if (o.momentum() > 0) {
        auto& buf = st.buffers["momentum_buffer"];
        if (!buf.defined()) buf = at::zeros_like(p, at::MemoryFormat::Contiguous);
        buf.lerp_(p.grad(), 1.0 - o.momentum());
        direction = buf;
      }
      if (o.weight_decay() != 0.0) p.mul_(1.0 - o.lr() * o.weight_decay());
      p.add_(direction.sign(), -o.lr());
    }
  }
  return loss;
}

}  // namespace steepest
