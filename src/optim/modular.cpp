#include "steepest/optim/modular.h"

#include <c10/util/Exception.h>

#include <cstdio>
#include <map>
#include <regex>
#include <stdexcept>

#include "optim/param_groups.h"
#include "optim/step_prologue.h"
#include "steepest/optim/hybrid.h"

namespace steepest {

Module flat_module_tree(const std::vector<NamedParameter>& params) {
  static const std::regex embed(kEmbeddingNamePattern);
  std::vector<Module> atoms;
  for (const auto& [name, p] : params) {
    const AtomNorm norm = p.dim() < 2                      ? AtomNorm::Gain
                          : std::regex_search(name, embed) ? AtomNorm::Embed
                                                           : AtomNorm::Linear;
    atoms.push_back(ModuleNode::atom(name, norm));
  }
  if (atoms.empty()) throw std::invalid_argument("flat_module_tree: no parameters");
  return ModuleNode::tuple(std::move(atoms), "model");
}

Modular::Modular(const std::vector<NamedParameter>& params, Module tree, ModularOptions options)
    : NamedOptimizer({torch::optim::OptimizerParamGroup(detail::tensors_of(params))},
                     std::make_unique<ModularOptions>(options), detail::names_of(params)),
      tree_(std::move(tree)) {
  if (!tree_) throw std::invalid_argument("modular: no module tree given");
  TORCH_CHECK(options.lr() >= 0, "modular: learning rate must be >= 0, got ", options.lr());
  TORCH_CHECK(options.momentum() >= 0 && options.momentum() < 1,
              "modular: momentum must be in [0, 1), got ", options.momentum());
  Orthogonalizer::from_name(options.orthogonalizer(), options.ns_steps());  // validates
  std::map<std::string, at::Tensor> by_name;
  for (const auto& [name, p] : params) by_name[name] = p;
  shares_ = atom_shares(tree_);
  std::map<std::string, bool> covered;
  for (const auto& a : shares_) {
    const auto it = by_name.find(a.name);
    if (it == by_name.end())
      throw std::invalid_argument("modular: atom '" + a.name + "' of module '" + tree_->name() +
                                  "' has no parameter of that name");
    const at::Tensor& p = it->second;
    if (a.norm != AtomNorm::Gain && p.dim() < 2)
      throw std::invalid_argument("modular: atom '" + a.name + "' is " + atom_norm_name(a.norm) +
                                  " but its parameter has shape " + detail::shape_text(p.sizes()) +
                                  "; 1-D parameters (gains, biases) are Gain atoms");
    covered[a.name] = true;
    params_.push_back(p);
  }
  for (const auto& [name, p] : params)
    if (!covered.count(name))
      throw std::invalid_argument("modular: parameter '" + name + "' (" +
                                  detail::shape_text(p.sizes()) + ") is no atom of module '" +
                                  tree_->name() + "'; describe it in the tree (docs/MODULAR.md)");
}

at::Tensor Modular::step(LossClosure closure) {
  at::NoGradGuard no_grad;
  at::Tensor loss = detail::run_closure(closure);
  check_gradients();
  step_cost_ = Cost{};
  const auto& o = static_cast<const ModularOptions&>(param_groups_.front().options());
  const Orthogonalizer ortho = Orthogonalizer::from_name(o.orthogonalizer(), o.ns_steps());
  for (size_t i = 0; i < shares_.size(); ++i) {
    at::Tensor& p = params_[i];
    if (!p.grad().defined()) continue;
    const at::Tensor& g = p.grad();
    auto& st = state_of(p);
    ++st.step;
    const at::Tensor u = detail::ema_momentum(st.buffers, g, o.momentum(), o.nesterov());
    // The atom's duality map is its step: rms-rms (msign by `ortho`), row-rms, ℓ∞.
    const at::Tensor u2 = u.reshape({u.dim() == 0 ? 1 : u.size(0), -1});
    const at::Tensor d =
        atom_norm_map(shares_[i].norm).dualize(u2, &ortho, &step_cost_).view(p.sizes());
    if (o.weight_decay() != 0.0) p.mul_(1.0 - o.lr() * o.weight_decay());
    p.add_(d, -o.lr() * shares_[i].multiplier);
  }
  return loss;
}

std::string Modular::table() const {
  const double lr = static_cast<const ModularOptions&>(param_groups_.front().options()).lr();
  std::string out;
  char line[320];
  std::snprintf(line, sizeof(line), "%-34s %-12s %-7s %7s %5s %9s %10s\n", "atom", "shape", "norm",
                "mass", "sens", "lr x", "lr");
  out += line;
  for (size_t i = 0; i < shares_.size(); ++i) {
    const auto& a = shares_[i];
    // An atom's sensitivity is 1 by definition; the tree's is on the last line.
    std::snprintf(line, sizeof(line), "%-34s %-12s %-7s %7.3g %5g %9.4g %10.4g\n", a.name.c_str(),
                  detail::shape_text(params_[i].sizes()).c_str(), atom_norm_name(a.norm).c_str(),
                  a.mass, 1.0, a.multiplier, lr * a.multiplier);
    out += line;
  }
  std::snprintf(line, sizeof(line), "module '%s': mass %.4g, sensitivity %.4g\n",
                tree_->name().c_str(), tree_->mass(), tree_->sensitivity());
  out += line;
  return out;
}

}  // namespace steepest
