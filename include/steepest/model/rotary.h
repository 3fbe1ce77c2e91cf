// Rotary position embedding (RoPE), half-split form as in modded-nanogpt.
//
// For a head vector x of size d at position t, the pair (x_i, x_{i+d/2}),
// i < d/2, is rotated by the angle θ_i·t with θ_i = base^(−2i/d):
//   y_i       =  x_i·cos + x_{i+d/2}·sin
//   y_{i+d/2} = −x_i·sin + x_{i+d/2}·cos
// Rotations preserve ‖x‖, and ⟨rot_m(q), rot_n(k)⟩ depends on m − n only.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace steepest {

// cos and sin of θ_i·t for t < ctx, each (ctx, head_dim/2) fp32 contiguous.
struct RotaryTables {
  at::Tensor cos, sin;
  int64_t ctx() const { return cos.size(0); }
};

// Throws c10::Error for non-positive ctx, or a head_dim that is not positive and even.
RotaryTables rotary_tables(int64_t ctx, int64_t head_dim, double base = 10000.0);

// x (..., T, head_dim), T ≤ tables.ctx(): rotates position t (dim −2) by its row
// of the tables. Differentiable (plain ATen ops); returns x's dtype.
at::Tensor apply_rotary(const at::Tensor& x, const RotaryTables& tables);

}  // namespace steepest
