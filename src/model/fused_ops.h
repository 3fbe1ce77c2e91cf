// Fused, autograd-aware CPU kernels for the GPT's elementwise work: one pass
// forward and one backward where plain ATen would launch several kernels and
// keep several intermediates. One op per file (rms_norm.cpp, qkv_heads.cpp,
// causal_attention.cpp, relu_square.cpp, linear.cpp; shared SIMD helpers in
// simd.h); the plain-op references are in tests/model/reference_ops.h.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <vector>

#include "steepest/model/rotary.h"

namespace steepest::detail {

// x·rsqrt(mean(x², −1) + eps), no learned gain.
at::Tensor rms_norm(const at::Tensor& x, double eps);

// The head split after the fused q/k/v projection:
// qkv (B·T, 3·C) with C = H·head_dim → {q, k, v}, each (B, H, T, head_dim)
// contiguous, where q = q_scale·rotary(rms_norm(q)), k = rotary(rms_norm(k)),
// v is copied; the norms are per head. Positions are t = row % T.
std::vector<at::Tensor> qkv_heads(const at::Tensor& qkv, int64_t B, int64_t T, int64_t H,
                                  const RotaryTables& rope, double eps, double q_scale);

// Causal softmax attention per head: q, k, v (B, H, T, d) (q already scaled by
// 1/√d) → softmax(q·kᵀ + causal mask)·v, heads merged: (B·T, H·d).
at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

// relu(h)².
at::Tensor relu_square(const at::Tensor& h);

// x (N, in) · wᵀ (+ residual (N, out) when defined), with w's gradient computed
// directly in w's (out, in) layout.
at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& residual = {});

}  // namespace steepest::detail
