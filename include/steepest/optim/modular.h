// Modular steepest descent (Large et al. 2024; modula): one optimizer for a
// whole model described by a module tree (steepest/norms/module_tree.h).
// Each parameter is an atom; its step is −η·share·dualize_atom(momentum), the
// duality map of the modular norm at a target step of η.
#pragma once

#include <string>
#include <vector>

#include "steepest/linalg/orthogonalizer.h"
#include "steepest/norms/module_tree.h"
#include "steepest/optim/named_optimizer.h"

namespace steepest {

struct ModularOptions : torch::optim::OptimizerCloneableOptions<ModularOptions> {
  ModularOptions(double lr = 0.1) : lr_(lr) {}
  // η: the modular norm of the whole step (modula's hello-gpt uses 0.1).
  TORCH_ARG(double, lr);
  // EMA momentum like Muon: B ← lerp(B, G, 1−μ); Nesterov steps on lerp(G, B, μ).
  TORCH_ARG(double, momentum) = 0.95;
  TORCH_ARG(bool, nesterov) = true;
  // Decoupled, on every atom: W ← W·(1 − η·wd) before the step.
  TORCH_ARG(double, weight_decay) = 0.0;
  // msign of Linear atoms (any orthogonalizer_names() entry) and its steps (−1: own).
  TORCH_ARG(std::string, orthogonalizer) = "polar-express";
  TORCH_ARG(int, ns_steps) = -1;

 public:
  double get_lr() const override { return lr(); }
  void set_lr(const double lr) override { this->lr(lr); }
};

// Per atom of the tree, the parameter of the same name:
//   Linear  (fan_out, fan_in…) √(fan_out/fan_in)·msign(U) by the orthogonalizer
//           (conv weights flattened to (out, in·k·k))
//   Embed   (vocab, d)         each row of U scaled to length √d (a zero row stays 0)
//   Gain    any                sign(U)
// then W ← W − η·share·that, share = the atom's learning-rate multiplier.
class Modular : public NamedOptimizer {
 public:
  // Every parameter must be an atom of `tree` and every atom a parameter;
  // throws std::invalid_argument naming the first one that is not, and for
  // an atom whose norm does not fit its parameter's shape.
  Modular(const std::vector<NamedParameter>& params, Module tree, ModularOptions options = {});
  std::string kind() const override { return "modular"; }
  at::Tensor step(LossClosure closure = nullptr) override;

  const Module& tree() const { return tree_; }
  // Per atom: name, shape, norm, mass, learning-rate multiplier.
  const std::vector<AtomShare>& shares() const { return shares_; }
  // One line per atom: name, shape, norm, mass, multiplier, η·multiplier; and
  // the tree's total mass and sensitivity.
  std::string table() const override;

 private:
  Module tree_;
  std::vector<AtomShare> shares_;
  std::vector<at::Tensor> params_;  // in shares_ order
};

// A tree for any parameter list when no architecture is given: a tuple of one
// atom per parameter, mass 1 each — Embed for ≥2-D names matching
// kEmbeddingNamePattern (hybrid.h: embed, wte, wpe, tok_emb, pos_emb, …), Linear for other ≥2-D,
// Gain for 1-D. So every parameter gets η/n; describe the model for more.
Module flat_module_tree(const std::vector<NamedParameter>& params);

}  // namespace steepest
