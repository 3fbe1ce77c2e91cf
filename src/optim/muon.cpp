#include "steepest/optim/muon.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <map>
#include <stdexcept>

#include "optim/param_groups.h"
#include "optim/step_prologue.h"

namespace steepest {

double muon_scale(MuonScale rule, int64_t m, int64_t n) {
  const double dm = static_cast<double>(m), dn = static_cast<double>(n);
  switch (rule) {
    case MuonScale::Original:
      return std::sqrt(std::max(1.0, dm / dn));
    case MuonScale::Spectral:
      return std::sqrt(dm / dn);
    case MuonScale::MatchRmsAdamW:
      return 0.2 * std::sqrt(std::max(dm, dn));
  }
  return 1.0;
}

MuonScale muon_scale_from_name(const std::string& name) {
  if (name == "original") return MuonScale::Original;
  if (name == "spectral") return MuonScale::Spectral;
  if (name == "match_rms_adamw") return MuonScale::MatchRmsAdamW;
  throw std::invalid_argument("unknown Muon scale rule '" + name +
                              "'; known: original, spectral, match_rms_adamw");
}

std::string muon_scale_name(MuonScale rule) {
  switch (rule) {
    case MuonScale::Original:
      return "original";
    case MuonScale::Spectral:
      return "spectral";
    case MuonScale::MatchRmsAdamW:
      return "match_rms_adamw";
  }
  return "?";
}

Muon::Muon(const std::vector<NamedParameter>& params, MuonOptions defaults)
    : Muon({torch::optim::OptimizerParamGroup(detail::tensors_of(params))}, std::move(defaults),
           detail::names_of(params)) {}

Muon::Muon(std::vector<torch::optim::OptimizerParamGroup> groups, MuonOptions defaults,
           std::vector<std::string> names)
    : NamedOptimizer(std::move(groups), std::make_unique<MuonOptions>(defaults), std::move(names)) {
  for (const auto& group : param_groups_) {
    const auto& o = static_cast<const MuonOptions&>(group.options());
    TORCH_CHECK(o.lr() >= 0, "Muon: learning rate must be >= 0, got ", o.lr());
    TORCH_CHECK(o.momentum() >= 0 && o.momentum() < 1, "Muon: momentum must be in [0, 1), got ",
                o.momentum());
    Orthogonalizer::from_name(o.orthogonalizer(), o.ns_steps());  // validates the name
    for (const auto& p : group.params()) {
      TORCH_CHECK(p.dim() >= 2, "Muon: parameter '", param_name(p), "' has shape ", p.sizes(),
                  "; Muon orthogonalizes matrices only. Route 1-D parameters (biases, gains) "
                  "to AdamW, e.g. with steepest::HybridOptimizer.");
    }
  }
}

at::Tensor Muon::step(LossClosure closure) {
  at::NoGradGuard no_grad;
  at::Tensor loss = detail::run_closure(closure);
  check_gradients();
  step_cost_ = Cost{};
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const MuonOptions&>(group.options());
    const Orthogonalizer ortho =
        Orthogonalizer::from_name(o.orthogonalizer(), o.ns_steps(), o.compute_dtype());
    // Momentum first; matrices of one (flattened) shape are then orthogonalized
    // as one batch, which saves per-call overhead on small models (each matrix
    // is still normalized and iterated on its own).
    std::map<std::pair<int64_t, int64_t>, std::vector<std::pair<at::Tensor, at::Tensor>>> by_shape;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      // Also covers groups added later through add_param_group().
      TORCH_CHECK(p.dim() >= 2, "Muon: parameter '", param_name(p), "' has shape ", p.sizes(),
                  "; route 1-D parameters to AdamW");
      const at::Tensor& g = p.grad();
      auto& st = state_of(p);
      auto& buf = st.buffers["momentum_buffer"];
      if (!buf.defined()) buf = at::zeros_like(p, at::MemoryFormat::Contiguous);
      ++st.step;
      buf.lerp_(g, 1.0 - o.momentum());
      const at::Tensor u = o.nesterov() ? g.lerp(buf, o.momentum()) : buf;
      // Conv weights (out, in, kh, kw) are orthogonalized as (out, in·kh·kw).
      const at::Tensor u2 = u.reshape({u.size(0), -1});
      by_shape[{u2.size(0), u2.size(1)}].emplace_back(p, u2);
    }
    for (auto& [shape, items] : by_shape) {
      std::vector<at::Tensor> us;
      for (const auto& it : items) us.push_back(it.second);
      const at::Tensor O = us.size() == 1 ? ortho(us[0], &step_cost_).unsqueeze(0)
                                          : ortho(at::stack(us), &step_cost_);
      const double step_size = o.lr() * muon_scale(o.scale(), shape.first, shape.second);
      for (size_t i = 0; i < items.size(); ++i) {
        at::Tensor& p = items[i].first;
        if (o.weight_decay() != 0.0) p.mul_(1.0 - o.lr() * o.weight_decay());
        p.add_(O[static_cast<int64_t>(i)].view(p.sizes()), -step_size);
      }
    }
  }
  return loss;
}

}  // namespace steepest
