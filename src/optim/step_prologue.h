// Internal: what every step() does before its update rule.
#pragma once

#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>

namespace steepest::detail {

// Evaluates the closure (with grad enabled) if given; returns its loss.
inline at::Tensor run_closure(const torch::optim::Optimizer::LossClosure& closure) {
  if (!closure) return {};
  at::AutoGradMode enable_grad(true);
  return closure();
}

}  // namespace steepest::detail
