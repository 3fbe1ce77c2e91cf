// Internal: what every step() does before its update rule.
#pragma once

#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>

#include <map>
#include <string>

#include "steepest/optim/update_rule.h"

namespace steepest::detail {

// Evaluates the closure (with grad enabled) if given; returns its loss.
inline at::Tensor run_closure(const torch::optim::Optimizer::LossClosure& closure) {
  if (!closure) return {};
  at::AutoGradMode enable_grad(true);
  return closure();
}

// Momentum of `form` kept in buffers["momentum_buffer"] (created at zero),
// updated in place: Ema B ← lerp(B, G, 1−μ), Sum B ← μB + G (fzwark/DynMuon,
// Dion's muon.py; 1/(1−μ) times the EMA's size, which a rule whose step
// depends on ‖M‖ must reproduce). Returns momentum_input(): the direction to
// step on. μ = 0 returns G itself and keeps no buffer.
inline at::Tensor momentum(MomentumForm form, std::map<std::string, at::Tensor>& buffers,
                           const at::Tensor& g, double mu, bool nesterov) {
  if (mu == 0.0) return g;
  auto& buf = buffers["momentum_buffer"];
  if (!buf.defined()) buf = at::zeros_like(g, at::MemoryFormat::Contiguous);
  if (form == MomentumForm::Sum)
    buf.mul_(mu).add_(g);
  else
    buf.lerp_(g, 1.0 - mu);
  return momentum_input(form, g, buf, mu, nesterov);
}

// Muon's EMA momentum (Stiefel and modular use it too).
inline at::Tensor ema_momentum(std::map<std::string, at::Tensor>& buffers, const at::Tensor& g,
                               double mu, bool nesterov) {
  return momentum(MomentumForm::Ema, buffers, g, mu, nesterov);
}

}  // namespace steepest::detail
