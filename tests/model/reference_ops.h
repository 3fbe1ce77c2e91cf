// Plain-ATen references of the GPT's fused kernels (src/model/fused_ops.h):
// the same maths as several autograd ops, for the kernels' tests.
#pragma once

#include <ATen/ATen.h>

#include <limits>
#include <vector>

#include "steepest/model/rotary.h"

namespace steepest::testing {

inline at::Tensor rms_norm_reference(const at::Tensor& x, double eps) {
  return x * at::rsqrt(x.square().mean(-1, true) + eps);
}

inline std::vector<at::Tensor> qkv_heads_reference(const at::Tensor& qkv, int64_t B, int64_t T,
                                                   int64_t H, const RotaryTables& rope, double eps,
                                                   double q_scale) {
  const int64_t d = qkv.size(1) / (3 * H);
  const auto heads = qkv.view({B, T, 3, H, d}).permute({2, 0, 3, 1, 4});  // (3, B, H, T, d)
  const auto q = apply_rotary(rms_norm_reference(heads[0], eps), rope) * q_scale;
  const auto k = apply_rotary(rms_norm_reference(heads[1], eps), rope);
  return {q, k, heads[2]};
}

inline at::Tensor causal_attention_reference(const at::Tensor& q, const at::Tensor& k,
                                             const at::Tensor& v) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), d = q.size(3);
  const auto mask = at::full({T, T}, -std::numeric_limits<double>::infinity(), q.options()).triu(1);
  const auto p = at::softmax(at::matmul(q, k.transpose(-2, -1)) + mask, -1);
  return at::matmul(p, v).transpose(1, 2).reshape({B * T, H * d});
}

}  // namespace steepest::testing
