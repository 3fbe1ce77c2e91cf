#include "steepest/optim/composite.h"

#include <c10/util/Exception.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <cstdio>
#include <unordered_set>

#include "optim/gradient_checks.h"
#include "optim/param_groups.h"
#include "optim/state_bytes.h"
#include "steepest/compat.h"

namespace steepest {

CompositeOptimizer::CompositeOptimizer(std::vector<OptimizerPart> parts,
                                       std::vector<ParameterRoute> routes, std::string archive_kind,
                                       bool check_finite, std::vector<NamedParameter> checked) {
  init(std::move(parts), std::move(routes), std::move(archive_kind), check_finite,
       std::move(checked));
}

void CompositeOptimizer::init(std::vector<OptimizerPart> parts, std::vector<ParameterRoute> routes,
                              std::string archive_kind, bool check_finite,
                              std::vector<NamedParameter> checked) {
  TORCH_CHECK(!parts.empty(), "CompositeOptimizer: no parts (the model has no parameters?)");
  TORCH_CHECK(!archive_kind.empty() || parts.size() == 1, "CompositeOptimizer: ", parts.size(),
              " parts need an archive kind");
  parts_ = std::move(parts);
  routes_ = std::move(routes);
  archive_kind_ = std::move(archive_kind);
  check_finite_ = check_finite;
  checked_ = std::move(checked);
  std::unordered_set<const void*> in_checked;
  for (const auto& c : checked_) in_checked.insert(c.second.unsafeGetTensorImpl());
  for (auto& part : parts_) {
    TORCH_CHECK(part.optimizer != nullptr, "CompositeOptimizer: part '", part.key, "' is null");
    // step() checks every parameter in `checked` once, up front: a part whose
    // parameters are all there need not check their gradients again.
    if (auto* named = dynamic_cast<NamedOptimizer*>(part.optimizer.get());
        named != nullptr && check_finite_) {
      bool all_checked = true;
      for (const auto& g : named->param_groups())
        for (const auto& p : g.params())
          all_checked = all_checked && in_checked.count(p.unsafeGetTensorImpl()) > 0;
      named->set_gradient_checks(all_checked ? NamedOptimizer::GradientChecks::kNone
                                             : NamedOptimizer::GradientChecks::kStructure);
    }
    std::vector<double> lrs;
    for (const auto& g : part.optimizer->param_groups()) lrs.push_back(g.options().get_lr());
    base_lrs_.push_back(std::move(lrs));
  }
}

namespace {

// libtorch's own optimizers (SGD, AdamW) keep p-shaped buffers; like
// NamedOptimizer's state they must still fit p (libtorch would broadcast a
// grown or shrunk parameter's buffer, or fail with its own text).
void check_libtorch_state(const torch::optim::Optimizer& opt, const at::Tensor& p,
                          const std::string& name) {
  const auto it = opt.state().find(compat::state_key(p));
  if (it == opt.state().end()) return;
  std::vector<at::Tensor> buffers;
  if (const auto* a = dynamic_cast<const torch::optim::AdamWParamState*>(it->second.get()))
    buffers = {a->exp_avg(), a->exp_avg_sq(), a->max_exp_avg_sq()};
  else if (const auto* s = dynamic_cast<const torch::optim::SGDParamState*>(it->second.get()))
    buffers = {s->momentum_buffer()};
  for (const auto& b : buffers)
    if (b.defined())
      detail::check_state_fits(p, b.sizes(), b.scalar_type(), b.device(), "optimizer", name);
}

}  // namespace

void CompositeOptimizer::step() {
  for (const auto& [name, p] : checked_)
    if (p.grad().defined()) detail::check_gradient(p, "optimizer", name, check_finite_);
  for (const auto& part : parts_) {
    if (dynamic_cast<const NamedOptimizer*>(part.optimizer.get())) continue;  // checks its own
    for (const auto& group : part.optimizer->param_groups())
      for (const auto& p : group.params())
        if (p.grad().defined()) check_libtorch_state(*part.optimizer, p, name_of(p));
  }
  for (auto& part : parts_) part.optimizer->step();
}

std::string CompositeOptimizer::name_of(const at::Tensor& p) const {
  for (const auto& [name, q] : checked_)
    if (q.is_same(p)) return name;
  return "<unnamed parameter>";
}

void CompositeOptimizer::zero_grad() {
  for (auto& part : parts_) compat::zero_grad(*part.optimizer);
}

void CompositeOptimizer::set_lr_factor(double factor) {
  factor_ = factor;
  for (size_t i = 0; i < parts_.size(); ++i) {
    auto& groups = parts_[i].optimizer->param_groups();
    for (size_t g = 0; g < groups.size() && g < base_lrs_[i].size(); ++g)
      groups[g].options().set_lr(base_lrs_[i][g] * factor);
  }
}

double CompositeOptimizer::lr() const {
  return base_lrs_.front().front() * factor_;
}

void CompositeOptimizer::save(torch::serialize::OutputArchive& archive) const {
  if (archive_kind_.empty()) return parts_.front().optimizer->save(archive);
  archive.write("kind", c10::IValue(archive_kind_));
  for (const auto& part : parts_) {
    torch::serialize::OutputArchive sub(archive.compilation_unit());
    part.optimizer->save(sub);
    archive.write(part.key, sub);
  }
}

void CompositeOptimizer::load(torch::serialize::InputArchive& archive) {
  if (archive_kind_.empty()) {
    parts_.front().optimizer->load(archive);
  } else {
    c10::IValue kind;
    archive.read("kind", kind);
    TORCH_CHECK(kind.toStringRef() == archive_kind_, "checkpoint holds '", kind.toStringRef(),
                "' optimizer state, expected '", archive_kind_, "'");
    // Every part's state must be present before any is touched.
    std::vector<torch::serialize::InputArchive> subs(parts_.size());
    for (size_t i = 0; i < parts_.size(); ++i) {
      const auto* named = dynamic_cast<const NamedOptimizer*>(parts_[i].optimizer.get());
      TORCH_CHECK(archive.try_read(parts_[i].key, subs[i]), archive_kind_,
                  " checkpoint has no state for its '", parts_[i].key,
                  "' part, but this model routes "
                  "parameters to ",
                  named ? named->kind() : parts_[i].key);
    }
    for (size_t i = 0; i < parts_.size(); ++i) parts_[i].optimizer->load(subs[i]);
  }
  set_lr_factor(factor_);
}

Cost CompositeOptimizer::last_step_cost() const {
  Cost total;
  for (const auto& part : parts_)
    if (const auto* named = dynamic_cast<const NamedOptimizer*>(part.optimizer.get()))
      total += named->last_step_cost();
  return total;
}

int64_t CompositeOptimizer::state_bytes() const {
  int64_t bytes = 0;
  for (const auto& part : parts_) {
    const auto* named = dynamic_cast<const NamedOptimizer*>(part.optimizer.get());
    bytes += named ? named->state_bytes() : detail::libtorch_state_bytes(*part.optimizer);
  }
  return bytes;
}

std::string CompositeOptimizer::table() const {
  if (parts_.size() == 1)
    if (const auto* named = dynamic_cast<const NamedOptimizer*>(parts_.front().optimizer.get()))
      if (std::string own = named->table(); !own.empty()) return own;
  std::string out;
  char line[512];
  std::snprintf(line, sizeof(line), "%-40s %-14s %-16s %-9s %-7s %s\n", "parameter", "shape",
                "optim", "lr", "scale", "why");
  out += line;
  for (const auto& r : routes_) {
    std::snprintf(line, sizeof(line), "%-40s %-14s %-16s %-9.3g %-7.3g %s\n", r.name.c_str(),
                  detail::shape_text(r.shape).c_str(), r.optimizer.c_str(), r.lr, r.scale,
                  r.reason.c_str());
    out += line;
  }
  return out;
}

}  // namespace steepest
