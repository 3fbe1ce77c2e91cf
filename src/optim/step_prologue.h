// Internal: what every step() does before its update rule.
#pragma once

#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>

#include <map>
#include <string>

namespace steepest::detail {

// Evaluates the closure (with grad enabled) if given; returns its loss.
inline at::Tensor run_closure(const torch::optim::Optimizer::LossClosure& closure) {
  if (!closure) return {};
  at::AutoGradMode enable_grad(true);
  return closure();
}

// Muon's EMA momentum B ← lerp(B, G, 1−μ), kept in buffers["momentum_buffer"]
// (created at zero); returns the direction to step on: lerp(G, B, μ) with
// Nesterov, B without. μ = 0 returns G itself and keeps no buffer.
inline at::Tensor ema_momentum(std::map<std::string, at::Tensor>& buffers, const at::Tensor& g,
                               double mu, bool nesterov) {
  if (mu == 0.0) return g;
  auto& buf = buffers["momentum_buffer"];
  if (!buf.defined()) buf = at::zeros_like(g, at::MemoryFormat::Contiguous);
  buf.lerp_(g, 1.0 - mu);
  return nesterov ? g.lerp(buf, mu) : buf;
}

// Heavy-ball momentum as a running sum B ← μB + G (fzwark/DynMuon, Dion's
// muon.py), in buffers["momentum_buffer"]; returns G + μB with Nesterov, B
// without. Its size is 1/(1−μ) times the EMA's, which a rule whose step
// depends on ‖M‖ (DynMuon's raw and ‖M‖^p phases) must reproduce.
inline at::Tensor sum_momentum(std::map<std::string, at::Tensor>& buffers, const at::Tensor& g,
                               double mu, bool nesterov) {
  if (mu == 0.0) return g;
  auto& buf = buffers["momentum_buffer"];
  if (!buf.defined()) buf = at::zeros_like(g, at::MemoryFormat::Contiguous);
  buf.mul_(mu).add_(g);
  return nesterov ? g.add(buf, mu) : buf;
}

}  // namespace steepest::detail
