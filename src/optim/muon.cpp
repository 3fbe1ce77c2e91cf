#include "steepest/optim/muon.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <map>
#include <regex>
#include <stdexcept>
#include <tuple>

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
    case MuonScale::None:
      break;
  }
  return 1.0;
}

MuonScale muon_scale_from_name(const std::string& name) {
  if (name == "original") return MuonScale::Original;
  if (name == "spectral") return MuonScale::Spectral;
  if (name == "match_rms_adamw") return MuonScale::MatchRmsAdamW;
  if (name == "none") return MuonScale::None;
  throw std::invalid_argument("unknown Muon scale rule '" + name +
                              "'; known: original, spectral, match_rms_adamw, none");
}

std::string muon_scale_name(MuonScale rule) {
  switch (rule) {
    case MuonScale::Original:
      return "original";
    case MuonScale::Spectral:
      return "spectral";
    case MuonScale::MatchRmsAdamW:
      return "match_rms_adamw";
    case MuonScale::None:
      return "none";
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
    for (const auto& [pattern, steps] : o.ns_steps_map()) {
      try {
        std::regex re(pattern, std::regex::ECMAScript);
      } catch (const std::regex_error& e) {
        TORCH_CHECK(false, "Muon: invalid ns_steps_map pattern '", pattern, "': ", e.what());
      }
      TORCH_CHECK(steps >= 1, "Muon: ns_steps_map gives '", pattern, "' ", steps,
                  " steps; need >= 1");
      Orthogonalizer::from_name(o.orthogonalizer(), steps);
    }
    for (const auto& p : group.params()) {
      TORCH_CHECK(p.dim() >= 2, "Muon: parameter '", param_name(p), "' has shape ", p.sizes(),
                  "; Muon orthogonalizes matrices only. Route 1-D parameters (biases, gains) "
                  "to AdamW, e.g. with steepest::HybridOptimizer.");
    }
  }
  const auto& first = static_cast<const MuonOptions&>(param_groups_.front().options());
  kind_ = update_rule(first).name();
}

int Muon::ns_steps_for(const at::Tensor& p, const MuonOptions& o) const {
  if (o.ns_steps_map().empty()) return o.ns_steps();
  const auto it = ns_steps_cache_.find(p.unsafeGetTensorImpl());
  if (it != ns_steps_cache_.end()) return it->second;
  int steps = o.ns_steps();
  const std::string name = param_name(p);
  for (const auto& [pattern, s] : o.ns_steps_map()) {
    if (std::regex_search(name, std::regex(pattern, std::regex::ECMAScript))) {
      steps = s;
      break;
    }
  }
  ns_steps_cache_[p.unsafeGetTensorImpl()] = steps;
  return steps;
}

const UpdateRule& update_rule(const MuonOptions& o) {
  static const DualizeRule msign(make_norm("spectral"), "muon");
  return o.rule() ? *o.rule() : msign;
}

double step_scale(const MuonOptions& o, int64_t m, int64_t n) {
  return update_rule(o).scale(muon_scale(o.scale(), m, n), m, n);
}

Cost Muon::predicted_cost(int64_t m, int64_t n, int64_t step, int ns_steps) const {
  const auto& o = static_cast<const MuonOptions&>(param_groups_.front().options());
  const Orthogonalizer ortho = Orthogonalizer::from_name(
      o.orthogonalizer(), ns_steps >= 0 ? ns_steps : o.ns_steps(), o.compute_dtype());
  return update_rule(o).cost(m, n, step, ortho);
}

at::Tensor Muon::step(LossClosure closure) {
  at::NoGradGuard no_grad;
  at::Tensor loss = detail::run_closure(closure);
  check_gradients();
  step_cost_ = Cost{};
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const MuonOptions&>(group.options());
    const UpdateRule& rule = update_rule(o);
    std::map<std::pair<int, at::ScalarType>, Orthogonalizer> orthos;  // by NS steps, dtype
    // Momentum first; matrices of one (flattened) shape, NS step count and step
    // are then handled as one batch, which saves per-call overhead on small
    // models (each matrix is still normalized and iterated on its own).
    struct Item {
      at::Tensor p, u;
      TensorState* state;
    };
    std::map<std::tuple<int64_t, int64_t, int, int64_t, at::ScalarType>, std::vector<Item>> batches;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      // Also covers groups added later through add_param_group().
      TORCH_CHECK(p.dim() >= 2, "Muon: parameter '", param_name(p), "' has shape ", p.sizes(),
                  "; route 1-D parameters to AdamW");
      const at::Tensor& g = p.grad();
      auto& st = state_of(p);
      ++st.step;
      // μ = 0 (spectral descent) steps on G itself and keeps no buffer.
      const at::Tensor u = rule.owns_momentum()
                               ? g
                               : detail::ema_momentum(st.buffers, g, o.momentum(), o.nesterov());
      // Conv weights (out, in, kh, kw) are handled as (out, in·kh·kw).
      const at::Tensor u2 = u.reshape({u.size(0), -1});
      const int steps = ns_steps_for(p, o);
      const at::ScalarType dtype = o.compute_dtype_fp32_only() && p.scalar_type() != at::kFloat
                                       ? at::ScalarType::Undefined
                                       : o.compute_dtype();
      if (!orthos.count({steps, dtype}))
        orthos.emplace(std::make_pair(steps, dtype),
                       Orthogonalizer::from_name(o.orthogonalizer(), steps, dtype));
      batches[{u2.size(0), u2.size(1), steps, st.step, dtype}].push_back({p, u2, &st});
    }
    for (auto& [key, items] : batches) {
      const auto [m, n, steps, step, dtype] = key;
      RuleBatch batch;
      std::vector<at::Tensor> us;
      for (const auto& it : items) {
        us.push_back(it.u);
        batch.states.push_back(it.state);
      }
      batch.M = us.size() == 1 ? us[0].unsqueeze(0) : at::stack(us);
      batch.step = step;
      batch.ortho = &orthos.at({steps, dtype});
      batch.momentum = o.momentum();
      batch.scale = step_scale(o, m, n);
      if (rule.needs_weights()) {
        std::vector<at::Tensor> ws;
        for (const auto& it : items) ws.push_back(it.p.reshape({m, n}));
        batch.W = at::stack(ws);
      }
      const at::Tensor O = rule.direction(batch, &step_cost_);
      const double step_size = o.lr() * batch.scale;
      for (size_t i = 0; i < items.size(); ++i) {
        at::Tensor& p = items[i].p;
        if (o.weight_decay() != 0.0) p.mul_(1.0 - o.lr() * o.weight_decay());
        p.add_(O[static_cast<int64_t>(i)].view(p.sizes()), -step_size);
      }
    }
  }
  return loss;
}

}  // namespace steepest
