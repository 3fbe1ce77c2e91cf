// SIMD helpers shared by the GPT's fused CPU kernels (one op per file:
// rms_norm.cpp, qkv_heads.cpp, causal_attention.cpp, relu_square.cpp,
// linear.cpp).
//
// The kernels are compiled per ISA (STEEPEST_SIMD, util/simd.h) as plain
// loops written for the auto-vectorizer: unit-stride inner loops, no
// compare-and-select, and no floating-point reductions except through explicit
// partial sums.
#pragma once

#include "util/simd.h"

#include <algorithm>
#include <cstdint>

namespace steepest::detail {

// Rows per parallel chunk: ~32K elements, so small tensors stay on one thread.
inline int64_t grain(int64_t row) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(row, 1));
}

// Σ a_j·b_j with 8 partial sums (vectorizable without reassociation flags).
template <typename T>
STEEPEST_INLINE T dot(const T* __restrict a, const T* __restrict b, int64_t n) {
  T acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8)
    for (int u = 0; u < 8; ++u) acc[u] += a[j + u] * b[j + u];
  T s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; j < n; ++j) s += a[j] * b[j];
  return s;
}

// RMS-norm backward of one row: dx = r·(g − n·⟨g, n⟩/c) for n = x·r, written
// over g (rms_norm and the per-head norms of qkv_heads).
template <typename T>
STEEPEST_INLINE void rms_backward_row(T* __restrict g, const T* __restrict n, T r, int64_t c) {
  const T k = dot(g, n, c) / T(c);
  for (int64_t j = 0; j < c; ++j) g[j] = r * (g[j] - n[j] * k);
}

}  // namespace steepest::detail
