#include "steepest/optim/muon.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <map>
#include <regex>
#include <stdexcept>
#include <tuple>

#include "optim/muon_fused_step.h"
#include "optim/param_groups.h"
#include "optim/step_prologue.h"
#include "steepest/linalg/ns_steps_auto.h"

namespace steepest {

namespace {

// The dtype the iteration of a `param` parameter runs in: the group's compute
// dtype, else the parameter's own (explicit, so that a bare schedule name can
// pick its fp32 Gram form; linalg/orthogonalizer.h).
at::ScalarType iteration_dtype(const MuonOptions& o, at::ScalarType param) {
  if (o.compute_dtype() == at::ScalarType::Undefined ||
      (o.compute_dtype_fp32_only() && param != at::kFloat))
    return param;
  return o.compute_dtype();
}

// ns_steps = auto: the step count kept in the parameter's state (a buffer, so
// that it is checkpointed), measured on this step's momentum when due; -1
// (the full schedule) before the first measurement.
int auto_ns_steps(const at::Tensor& g, TensorState& st, const MuonOptions& o,
                  const UpdateRule& rule) {
  const auto kept = st.buffers.find("ns_steps_auto");
  const int before = kept != st.buffers.end() ? static_cast<int>(kept->second.item<double>()) : -1;
  // The first steps' momentum is a few gradients, and matrices behind a zero-
  // initialized projection get none: nothing to measure yet.
  if (st.step < o.ns_auto_start()) return -1;
  if (kept != st.buffers.end() && (st.step - o.ns_auto_start()) % o.ns_auto_every() != 0)
    return before;
  // The momentum the step is about to form, without forming it.
  at::Tensor u = g;
  if (!rule.owns_momentum() && o.momentum() != 0.0) {
    const auto buf = st.buffers.find("momentum_buffer");
    const at::Tensor next =
        next_momentum(rule.momentum_form(), buf != st.buffers.end() ? buf->second : at::Tensor(), g,
                      o.momentum());
    u = momentum_input(rule.momentum_form(), g, next, o.momentum(), o.nesterov());
  }
  const auto schedule = Orthogonalizer::from_name(o.orthogonalizer()).schedule;
  const auto errors = ns_error_by_step(u.reshape({u.size(0), -1}), schedule);
  // A zero momentum stays at error 1 whatever the count: measure again next step.
  if (!(errors.back() < 0.999)) return before;
  const int steps = fewest_ns_steps(errors, o.ns_auto_tolerance());
  st.buffers["ns_steps_auto"] = at::full({}, steps, at::kLong);
  return steps;
}

// Whether the group's steps can take the fused elementwise path
// (optim/muon_fused_step.h): the plain msign of a Newton–Schulz-type iteration.
bool fused_rule(const MuonOptions& o, const Orthogonalizer& ortho) {
  return o.fused() && o.rule() == nullptr && ortho.kind != Orthogonalizer::Kind::Svd &&
         !ortho.options.ns.precondition;
}

}  // namespace

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
    TORCH_CHECK(o.ns_steps() >= -1,
                "Muon: ns_steps must be >= 1, -1 (the schedule's own) or 0 "
                "(auto), got ",
                o.ns_steps());
    // Validates the name.
    const auto ortho =
        Orthogonalizer::from_name(o.orthogonalizer(), o.ns_steps() == 0 ? -1 : o.ns_steps());
    if (o.ns_steps() == 0) {
      TORCH_CHECK(ortho.kind != Orthogonalizer::Kind::Svd && !ortho.options.ns.precondition,
                  "Muon: ns_steps=auto needs a Newton-Schulz schedule (or gram-<schedule>), not '",
                  o.orthogonalizer(), "'");
      TORCH_CHECK(o.ns_auto_tolerance() >= 0, "Muon: ns_auto_tolerance must be >= 0, got ",
                  o.ns_auto_tolerance());
      TORCH_CHECK(o.ns_auto_every() >= 1, "Muon: ns_auto_every must be >= 1, got ",
                  o.ns_auto_every());
      TORCH_CHECK(o.ns_auto_start() >= 1, "Muon: ns_auto_start must be >= 1, got ",
                  o.ns_auto_start());
    }
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
                  "to AdamW, e.g. with steepest::HybridOptimizer (Python: steepest.optim.Hybrid).");
    }
  }
  const auto& first = static_cast<const MuonOptions&>(param_groups_.front().options());
  kind_ = update_rule(first).name();
}

int Muon::ns_steps_for(const at::Tensor& p, const MuonOptions& o) const {
  if (o.ns_steps_map().empty()) return o.ns_steps();  // 0: auto, resolved in step()
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
  // Predicted for fp32 parameters, the trainer's; ns_steps = auto at its most.
  const int steps = ns_steps >= 0 ? ns_steps : o.ns_steps() == 0 ? -1 : o.ns_steps();
  const Orthogonalizer ortho =
      Orthogonalizer::from_name(o.orthogonalizer(), steps, iteration_dtype(o, at::kFloat));
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
      at::Tensor p, u;  // u undefined on the fused path, which forms it itself
      TensorState* state;
      detail::FusedMatrix fused;
    };
    std::map<std::tuple<int64_t, int64_t, int, int64_t, at::ScalarType, bool>, std::vector<Item>>
        batches;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      // Also covers groups added later through add_param_group().
      TORCH_CHECK(p.dim() >= 2, "Muon: parameter '", param_name(p), "' has shape ", p.sizes(),
                  "; route 1-D parameters to AdamW");
      const at::Tensor& g = p.grad();
      auto& st = state_of(p);
      ++st.step;
      int steps = ns_steps_for(p, o);
      if (steps == 0) steps = auto_ns_steps(g, st, o, rule);
      const at::ScalarType dtype = iteration_dtype(o, p.scalar_type());
      if (!orthos.count({steps, dtype}))
        orthos.emplace(std::make_pair(steps, dtype),
                       Orthogonalizer::from_name(o.orthogonalizer(), steps, dtype));
      Item item{p, {}, &st, {}};
      const bool fused = fused_rule(o, orthos.at({steps, dtype})) &&
                         detail::fusable_parameter(p, g) && !rule.owns_momentum();
      if (fused) {
        item.fused = {p, g, {}, o.lr() * step_scale(o, p.size(0), p.size(1))};
        if (o.momentum() != 0.0) {
          auto& buf = st.buffers["momentum_buffer"];
          if (!buf.defined()) buf = at::zeros_like(g, at::MemoryFormat::Contiguous);
          item.fused.buf = buf;
        }
      } else {
        // μ = 0 (spectral descent) steps on G itself and keeps no buffer.
        const at::Tensor u =
            rule.owns_momentum()
                ? g
                : detail::momentum(rule.momentum_form(), st.buffers, g, o.momentum(), o.nesterov());
        // Conv weights (out, in, kh, kw) are handled as (out, in·kh·kw).
        item.u = u.reshape({u.size(0), -1});
      }
      const int64_t m = p.size(0), n = p.numel() / std::max<int64_t>(p.size(0), 1);
      // Fused matrices batch by their short-side shape: (m, n) and (n, m) go
      // through one iteration call (fewer, larger GEMM calls).
      if (fused)
        batches[{std::min(m, n), std::max(m, n), steps, st.step, dtype, true}].push_back(
            std::move(item));
      else
        batches[{m, n, steps, st.step, dtype, false}].push_back(std::move(item));
    }
    for (auto& [key, items] : batches) {
      const auto [m, n, steps, step, dtype, fused] = key;
      const double decay = 1.0 - o.lr() * o.weight_decay();
      const Orthogonalizer& ortho = orthos.at({steps, dtype});
      if (fused) {
        std::vector<detail::FusedMatrix> mats;
        for (const auto& it : items) mats.push_back(it.fused);
        at::Tensor x =
            at::empty({static_cast<int64_t>(mats.size()), std::min(m, n), std::max(m, n)},
                      at::TensorOptions().dtype(dtype));
        detail::momentum_to_normalized(mats, o.momentum(), o.nesterov(), ortho.schedule.safety,
                                       ortho.schedule.eps, x);
        Orthogonalizer prepared = ortho;
        prepared.options.ns.input_normalized = true;
        detail::apply_update(mats, prepared(x, &step_cost_), decay);
        continue;
      }
      // Fused matrices carry their own step (lr·scale of their own (m, n)).
      const double scale = step_scale(o, m, n);
      const double step_size = o.lr() * scale;
      RuleBatch batch;
      std::vector<at::Tensor> us;
      for (const auto& it : items) {
        us.push_back(it.u);
        batch.states.push_back(it.state);
      }
      batch.M = us.size() == 1 ? us[0].unsqueeze(0) : at::stack(us);
      batch.step = step;
      batch.ortho = &ortho;
      batch.momentum = o.momentum();
      batch.scale = scale;
      if (rule.needs_weights()) {
        std::vector<at::Tensor> ws;
        for (const auto& it : items) ws.push_back(it.p.reshape({m, n}));
        batch.W = at::stack(ws);
      }
      const at::Tensor O = rule.direction(batch, &step_cost_);
      for (size_t i = 0; i < items.size(); ++i) {
        at::Tensor& p = items[i].p;
        if (o.weight_decay() != 0.0) p.mul_(decay);
        p.add_(O[static_cast<int64_t>(i)].view(p.sizes()), -step_size);
      }
    }
  }
  return loss;
}

}  // namespace steepest
