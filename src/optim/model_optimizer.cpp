#include "steepest/optim/model_optimizer.h"

#include <c10/util/Exception.h>

#include <cstdio>

#include "optim/state_bytes.h"
#include "steepest/compat.h"
#include "steepest/optim/modular.h"
#include "steepest/optim/registry.h"

namespace steepest {

nlohmann::json effective_hyperparameters(const ModelOptimizerOptions& options) {
  nlohmann::json opt = options.opt.is_null() ? nlohmann::json::object() : options.opt;
  if (!options.orthogonalizer.empty() && !opt.contains("orthogonalizer"))
    opt["orthogonalizer"] = options.orthogonalizer;
  if (options.ns_steps >= 0 && !opt.contains("ns_steps")) opt["ns_steps"] = options.ns_steps;
  return opt;
}

ModelOptimizer::ModelOptimizer(const torch::nn::Module& model, const ModelOptimizerOptions& options)
    : options_(options) {
  const OptimizerInfo& info = optimizer_info(options.name);  // throws for unknown names
  const nlohmann::json opt = effective_hyperparameters(options);
  resolve_hyperparameters(options.name, opt);  // unknown keys fail before anything is built
  if (info.hidden_matrices) {
    HybridOptions h;
    if (options.adamw_lr >= 0) h.adamw.lr(options.adamw_lr);
    h.matrix_optimizer = [options, opt](const std::vector<NamedParameter>& params) {
      return make_matrix_optimizer(options.name, params, options.lr, opt, options.total_steps,
                                   options.weight_decay);
    };
    hybrid_ = std::make_unique<HybridOptimizer>(model, h);
    return;
  }
  std::vector<NamedParameter> params;
  for (const auto& p : model.named_parameters())
    if (p.value().requires_grad()) params.emplace_back(p.key(), p.value());
  TORCH_CHECK(!params.empty(), "optimizer '", options.name, "': the model has no parameters");
  single_ = make_optimizer(options.name, params, options.lr, opt, options.total_steps,
                           options.weight_decay, options.module_tree);
  for (const auto& p : params) single_params_.emplace_back(p.first, p.second.sizes().vec());
  for (const auto& g : single_->param_groups()) base_lrs_.push_back(g.options().get_lr());
}

void ModelOptimizer::zero_grad() {
  if (hybrid_) return hybrid_->zero_grad();
  compat::zero_grad(*single_);
}

void ModelOptimizer::step() {
  if (hybrid_) return hybrid_->step();
  single_->step();
}

void ModelOptimizer::set_lr_factor(double factor) {
  factor_ = factor;
  if (hybrid_) return hybrid_->set_lr_factor(factor);
  for (size_t i = 0; i < base_lrs_.size(); ++i)
    single_->param_groups()[i].options().set_lr(base_lrs_[i] * factor);
}

double ModelOptimizer::lr() const {
  if (hybrid_) {
    for (const auto& r : hybrid_->routes())
      if (r.optimizer != "adamw") return r.lr * factor_;
    return hybrid_->routes().front().lr * factor_;
  }
  return base_lrs_.front() * factor_;
}

void ModelOptimizer::save(torch::serialize::OutputArchive& archive) const {
  archive.write("name", c10::IValue(options_.name));
  if (hybrid_) return hybrid_->save(archive);
  single_->save(archive);
}

void ModelOptimizer::load(torch::serialize::InputArchive& archive) {
  c10::IValue v;
  archive.read("name", v);
  TORCH_CHECK(v.toStringRef() == options_.name, "checkpoint was trained with optimizer '",
              v.toStringRef(), "', not '", options_.name, "'; pass --optimizer ", v.toStringRef(),
              " or start a new run");
  if (hybrid_) return hybrid_->load(archive);
  single_->load(archive);
  set_lr_factor(factor_);  // libtorch 1.13's own optimizers drop saved options
}

Cost ModelOptimizer::last_step_cost() const {
  if (hybrid_) return hybrid_->last_step_cost();
  if (const auto* n = dynamic_cast<const NamedOptimizer*>(single_.get()))
    return n->last_step_cost();
  return {};
}

int64_t ModelOptimizer::state_bytes() const {
  if (hybrid_) return hybrid_->state_bytes();
  if (const auto* n = dynamic_cast<const NamedOptimizer*>(single_.get())) return n->state_bytes();
  return detail::libtorch_state_bytes(*single_);
}

std::string ModelOptimizer::table() const {
  if (hybrid_) return hybrid_->table();
  if (const auto* m = dynamic_cast<const Modular*>(single_.get())) return m->table();
  std::string out;
  char line[256];
  std::snprintf(line, sizeof(line), "%-40s %-14s %-8s %-9s\n", "parameter", "shape", "optim", "lr");
  out += line;
  for (const auto& [name, shape] : single_params_) {
    std::string s;
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? "x" : "") + std::to_string(shape[i]);
    std::snprintf(line, sizeof(line), "%-40s %-14s %-8s %-9.3g\n", name.c_str(), s.c_str(),
                  options_.name.c_str(), base_lrs_.front());
    out += line;
  }
  return out;
}

}  // namespace steepest
