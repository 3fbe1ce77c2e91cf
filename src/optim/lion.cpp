#include "steepest/optim/lion.h"

#include <c10/util/Exception.h>

#include "optim/param_groups.h"
#include "optim/step_prologue.h"

namespace steepest {

Lion::Lion(const std::vector<NamedParameter>& params, LionOptions defaults)
    : Lion({torch::optim::OptimizerParamGroup(detail::tensors_of(params))}, std::move(defaults),
           detail::names_of(params)) {}

Lion::Lion(std::vector<torch::optim::OptimizerParamGroup> groups, LionOptions defaults,
           std::vector<std::string> names)
    : NamedOptimizer(std::move(groups), std::make_unique<LionOptions>(defaults), std::move(names)) {
  TORCH_CHECK(defaults.lr() >= 0, "Lion: learning rate must be >= 0, got ", defaults.lr());
  TORCH_CHECK(defaults.beta1() >= 0 && defaults.beta1() < 1 && defaults.beta2() >= 0 &&
                  defaults.beta2() < 1,
              "Lion: betas must be in [0, 1), got (", defaults.beta1(), ", ", defaults.beta2(),
              ")");
}

at::Tensor Lion::step(LossClosure closure) {
  at::NoGradGuard no_grad;
  at::Tensor loss = detail::run_closure(closure);
  check_gradients();
  step_cost_ = Cost{};
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const LionOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const at::Tensor& g = p.grad();
      auto& st = state_of(p);
      auto& m = st.buffers["exp_avg"];
      if (!m.defined()) m = at::zeros_like(p, at::MemoryFormat::Contiguous);
      ++st.step;
      const at::Tensor c = m.lerp(g, 1.0 - o.beta1());
      if (o.weight_decay() != 0.0) p.mul_(1.0 - o.lr() * o.weight_decay());
      p.add_(c.sign_(), -o.lr());
      m.lerp_(g, 1.0 - o.beta2());
    }
  }
  return loss;
}

}  // namespace steepest
