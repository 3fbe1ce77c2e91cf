// Internal: the elementwise half of Muon's step (momentum, the Frobenius
// normalization that starts Newton–Schulz, stacking, dtype conversion, weight
// decay and the update) in two passes over each matrix instead of about ten
// libtorch calls. At the default GPT's sizes those calls cost as much as the
// bf16 GEMMs of the iteration itself (docs/BENCHMARKS.md, issue #13).
//
// Used for the plain msign rule with a Newton–Schulz-type orthogonalizer on
// CPU fp32 parameters with contiguous gradients; everything else, and
// MuonOptions::fused(false), takes the general path, which these kernels
// match up to fp32 rounding (tests/optim/test_muon_fused_step.cpp).
#pragma once

#include <ATen/ATen.h>

#include <vector>

namespace steepest::detail {

// One parameter of the step, all (m, n) fp32, contiguous, on the CPU. `buf`
// is the momentum buffer (undefined when μ = 0); `step` its lr·scale. One
// batch may mix (m, n) and (n, m) matrices: they share the short-side shape.
struct FusedMatrix {
  at::Tensor p, g, buf;
  double step = 0.0;
};

// True when a parameter with gradient `g` can take the fused path.
bool fusable_parameter(const at::Tensor& p, const at::Tensor& g);

// Pass 1, for every matrix i (in parallel over matrices):
//   buf ← lerp(buf, g, 1−μ);  u = nesterov ? lerp(g, buf, μ) : buf  (u = g when μ = 0)
// and writes x_i = u / (‖u‖_F·safety + eps) into out[i], the short-side view
// ((r, c) = (n, m) when m > n, i.e. uᵀ), in out's dtype (fp32 or bf16).
// out: (k, r, c), contiguous — exactly the input newton_schulz() would build.
void momentum_to_normalized(const std::vector<FusedMatrix>& items, double mu, bool nesterov,
                            double safety, double eps, at::Tensor& out);

// Pass 2: p_i ← p_i·decay − step_i·O_i, with O: (k, r, c) in fp32 or bf16,
// the short-side layout of pass 1 (read transposed back when m > n).
void apply_update(const std::vector<FusedMatrix>& items, const at::Tensor& O, double decay);

}  // namespace steepest::detail
