// The module tree (steepest/norms/module_tree.h) of steepest's GPT, read off its
// config, with the parameter names of GPTImpl as atom names. It follows
// modula's GPT: embed → blocks → head, each block two residual branches
//   attention  (q, k, v) as a tuple → attention bond (ν 1/3, so the branch has ν 1) → o
//   MLP        fc → ReLU² bond (ν 1) → proj
// and each branch wrapped in its residual:
//   residual_mixing   x ← (1 − 1/(2L))·x + 1/(2L)·branch(x): ν = 1 for a branch of ν 1
//   plain             x ← x + branch(x): ν = 2, so every later branch halves the
//                     shares of all earlier ones (the reason modula mixes)
// RMSNorm and QK-norm are taken as bonds of ν 1. The blocks are tared to
// `blocks` mass in total; defaults are modula's 1 / 5 / 1.
#pragma once

#include "steepest/model/gpt.h"
#include "steepest/norms/module_tree.h"

namespace steepest {

struct GptMasses {
  double embed = 1.0;
  double blocks = 5.0;  // all blocks together
  double head = 1.0;
};

// Throws std::invalid_argument naming the mass for a mass ≤ 0.
Module gpt_module_tree(const GPTConfig& config, const GptMasses& masses = {});

}  // namespace steepest
