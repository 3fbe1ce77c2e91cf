#include "optim/muon_fused_step.h"

#include "util/simd.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <c10/util/BFloat16.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace steepest::detail {
namespace {

// ATen's lerp (ATen/native/Lerp.h): the two-sided form keeps lerp(a, b, 1) = b
// exactly, and using it makes the momentum buffer match the general path's.
STEEPEST_INLINE float lerp(float self, float end, float w) {
  return std::abs(w) < 0.5f ? self + w * (end - self) : end - (end - self) * (1.0f - w);
}

// fp32 → bf16 rounding to nearest even (c10::BFloat16's rule for finite
// values; the gradients were checked finite), branch-free so loops vectorize.
STEEPEST_INLINE uint16_t bf16_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

STEEPEST_INLINE void store(float v, float* out) {
  *out = v;
}
STEEPEST_INLINE void store(float v, c10::BFloat16* out) {
  out->x = bf16_bits(v);
}
STEEPEST_INLINE float load(const float* in) {
  return *in;
}
STEEPEST_INLINE float load(const c10::BFloat16* in) {
  const uint32_t bits = static_cast<uint32_t>(in->x) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Per-thread fp32 scratch of at least `size` elements.
float* scratch(int64_t size) {
  thread_local std::vector<float> buffer;
  if (static_cast<int64_t>(buffer.size()) < size) buffer.resize(size);
  return buffer.data();
}

constexpr int64_t kTile = 32;  // transposes go tile by tile to stay in L1

// out = src·scale in the short-side layout of the (m, n) row-major src:
// transposed ((n, m)) when m > n.
template <typename Out>
STEEPEST_INLINE void store_short_side(const float* __restrict src, float scale, int64_t m,
                                      int64_t n, Out* __restrict out) {
  if (m <= n) {
    for (int64_t i = 0; i < m * n; ++i) store(src[i] * scale, out + i);
    return;
  }
  for (int64_t r0 = 0; r0 < m; r0 += kTile)
    for (int64_t c0 = 0; c0 < n; c0 += kTile)
      for (int64_t c = c0; c < std::min(c0 + kTile, n); ++c)
        for (int64_t r = r0; r < std::min(r0 + kTile, m); ++r)
          store(src[r * n + c] * scale, out + c * m + r);
}

constexpr int64_t kLanes = 16, kBlock = 1024;  // partial sums that vectorize; blocks add in double

// Eight fp32 lanes (GCC vector extension: AVX in the x86-64-v3 clone, pairs
// of SSE ops in the baseline); the auto-vectorizer leaves max-reductions scalar.
typedef float Lanes8 __attribute__((vector_size(32)));
typedef int32_t Bits8 __attribute__((vector_size(32)));

// max|u| and Σu² of u[begin, end), accumulated into *amax and *sumsq.
STEEPEST_INLINE void add_max_and_squares(const float* __restrict u, int64_t begin, int64_t end,
                                         float* amax, double* sumsq) {
  Lanes8 max0 = {}, max1 = {}, sq0 = {}, sq1 = {};
  int64_t i = begin;
  for (; i + kLanes <= end; i += kLanes) {
    Lanes8 a, b;
    std::memcpy(&a, u + i, sizeof a);
    std::memcpy(&b, u + i + 8, sizeof b);
    const Lanes8 abs_a = (Lanes8)((Bits8)a & 0x7fffffff), abs_b = (Lanes8)((Bits8)b & 0x7fffffff);
    max0 = max0 > abs_a ? max0 : abs_a;
    max1 = max1 > abs_b ? max1 : abs_b;
    sq0 += a * a;
    sq1 += b * b;
  }
  float m = *amax;
  double sum = 0.0;
  for (int j = 0; j < 8; ++j) {
    m = std::max({m, max0[j], max1[j]});
    sum += static_cast<double>(sq0[j]) + sq1[j];
  }
  for (; i < end; ++i) {
    m = std::max(m, std::abs(u[i]));
    sum += static_cast<double>(u[i]) * u[i];
  }
  *amax = m;
  *sumsq += sum;
}

// Σ(u/M)² for M = 1/inv_max: the slow path for entries whose squares leave
// fp32's normal range.
STEEPEST_INLINE double scaled_squares(const float* __restrict u, int64_t size, float inv_max) {
  double sumsq = 0.0;
  for (int64_t b = 0; b < size; b += kBlock) {
    float lane[kLanes] = {};
    const int64_t end = std::min(b + kBlock, size);
    int64_t k = b;
    for (; k + kLanes <= end; k += kLanes)
      for (int64_t j = 0; j < kLanes; ++j) {
        const float y = u[k + j] * inv_max;
        lane[j] += y * y;
      }
    for (; k < end; ++k) lane[0] += (u[k] * inv_max) * (u[k] * inv_max);
    for (int64_t j = 0; j < kLanes; ++j) sumsq += lane[j];
  }
  return sumsq;
}

// Pass 1 of one matrix: momentum, then u / (‖u‖_F·safety + eps) into `out`.
// One sweep updates the momentum and gathers max|u| and Σu² block by block
// (while the block is in L1); a second writes the scaled short-side layout.
template <typename Out>
STEEPEST_INLINE void normalize_one(const FusedMatrix& it, float mu, bool nesterov, double safety,
                                   double eps, Out* out) {
  const int64_t m = it.p.size(0), n = it.p.size(1), size = m * n;
  const float* __restrict g = it.g.data_ptr<float>();
  float* __restrict u = scratch(size);
  float* __restrict buf = it.buf.defined() ? it.buf.data_ptr<float>() : nullptr;
  const float one_minus_mu = 1.0f - mu;
  float amax = 0.0f;
  double sumsq = 0.0;
  for (int64_t b = 0; b < size; b += kBlock) {
    const int64_t end = std::min(b + kBlock, size);
    if (buf == nullptr) {
      std::memcpy(u + b, g + b, sizeof(float) * (end - b));
    } else if (nesterov) {
      for (int64_t i = b; i < end; ++i) {
        buf[i] = lerp(buf[i], g[i], one_minus_mu);
        u[i] = lerp(g[i], buf[i], mu);
      }
    } else {
      for (int64_t i = b; i < end; ++i) u[i] = buf[i] = lerp(buf[i], g[i], one_minus_mu);
    }
    add_max_and_squares(u, b, end, &amax, &sumsq);
  }
  // Squares overflow fp32 near 1e19 (caught as a non-finite sum) and turn
  // subnormal below ~1e-19, where they lose digits: when max|u| ≤ 1e-12 the
  // entries that still matter may be there. Then ‖u‖ = M·‖u/M‖ for
  // M = max|u|, as frobenius_normalize computes it.
  const bool extreme = std::isfinite(amax) && amax > 0.0f &&
                       (amax >= 1e18f || amax <= 1e-12f || !std::isfinite(sumsq));
  double scale = 1.0 / (std::sqrt(sumsq) * safety + eps);
  if (extreme) {
    const double max_scale = amax;
    const double scaled = scaled_squares(u, size, static_cast<float>(1.0 / max_scale));
    scale = 1.0 / max_scale / (std::sqrt(scaled) * safety + eps / max_scale);
  }
  store_short_side(u, static_cast<float>(scale), m, n, out);
}

// Pass 2 of one matrix: p ← p·decay − step·O, O in the short-side layout.
template <typename In>
STEEPEST_INLINE void update_one(const FusedMatrix& it, const In* __restrict O, float decay,
                                float step) {
  const int64_t m = it.p.size(0), n = it.p.size(1);
  float* __restrict p = it.p.data_ptr<float>();
  if (m <= n) {
    for (int64_t i = 0; i < m * n; ++i) p[i] = p[i] * decay - step * load(O + i);
    return;
  }
  for (int64_t r0 = 0; r0 < m; r0 += kTile)
    for (int64_t c0 = 0; c0 < n; c0 += kTile)
      for (int64_t r = r0; r < std::min(r0 + kTile, m); ++r)
        for (int64_t c = c0; c < std::min(c0 + kTile, n); ++c)
          p[r * n + c] = p[r * n + c] * decay - step * load(O + c * m + r);
}

// One ISA-dispatched entry per output dtype (target clones need non-templates).
STEEPEST_SIMD void normalize_f32(const FusedMatrix& it, float mu, bool nesterov, double safety,
                                 double eps, float* out) {
  normalize_one(it, mu, nesterov, safety, eps, out);
}
STEEPEST_SIMD void normalize_bf16(const FusedMatrix& it, float mu, bool nesterov, double safety,
                                  double eps, c10::BFloat16* out) {
  normalize_one(it, mu, nesterov, safety, eps, out);
}
STEEPEST_SIMD void update_f32(const FusedMatrix& it, const float* O, float decay, float step) {
  update_one(it, O, decay, step);
}
STEEPEST_SIMD void update_bf16(const FusedMatrix& it, const c10::BFloat16* O, float decay,
                               float step) {
  update_one(it, O, decay, step);
}

void check_layout(const std::vector<FusedMatrix>& items, const at::Tensor& t, const char* what) {
  TORCH_CHECK(!items.empty(), "fused Muon step: no matrices");
  const int64_t m = items[0].p.size(0), n = items[0].p.size(1);
  const int64_t r = std::min(m, n), c = std::max(m, n);
  for (const auto& it : items)
    TORCH_CHECK(
        std::min(it.p.size(0), it.p.size(1)) == r && std::max(it.p.size(0), it.p.size(1)) == c,
        "fused Muon step: a batch mixes ", it.p.sizes(), " with (", m, ", ", n,
        "); its matrices must share the short-side shape");
  // The kernels index g and buf by p's numel: anything smaller is a heap overrun.
  for (const auto& it : items) {
    TORCH_CHECK(it.g.sizes() == it.p.sizes() && it.g.is_contiguous(), "fused Muon step: gradient ",
                it.g.sizes(), " does not match its parameter ", it.p.sizes());
    TORCH_CHECK(!it.buf.defined() || (it.buf.sizes() == it.p.sizes() && it.buf.is_contiguous() &&
                                      it.buf.scalar_type() == at::kFloat),
                "fused Muon step: momentum buffer ", it.buf.sizes(),
                " does not match its parameter ", it.p.sizes());
  }
  TORCH_CHECK(t.dim() == 3 && t.size(0) == static_cast<int64_t>(items.size()) && t.size(1) == r &&
                  t.size(2) == c && t.is_contiguous() &&
                  (t.scalar_type() == at::kFloat || t.scalar_type() == at::kBFloat16),
              "fused Muon step: ", what, " is ", t.sizes(), " ", t.scalar_type(), "; expected (",
              items.size(), ", ", r, ", ", c, ") contiguous fp32 or bf16");
}

}  // namespace

bool fusable_parameter(const at::Tensor& p, const at::Tensor& g) {
  return p.dim() == 2 && p.device().is_cpu() && g.device().is_cpu() &&
         p.scalar_type() == at::kFloat && g.scalar_type() == at::kFloat && p.is_contiguous() &&
         g.is_contiguous() && g.sizes() == p.sizes();
}

void momentum_to_normalized(const std::vector<FusedMatrix>& items, double mu, bool nesterov,
                            double safety, double eps, at::Tensor& out) {
  RECORD_FUNCTION("steepest::muon_momentum_to_normalized", std::vector<c10::IValue>());
  check_layout(items, out, "the stacked input");
  const int64_t k = out.size(0), stride = out.size(1) * out.size(2);
  const bool bf16 = out.scalar_type() == at::kBFloat16;
  at::parallel_for(0, k, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0; i < b1; ++i) {
      if (bf16)
        normalize_bf16(items[i], static_cast<float>(mu), nesterov, safety, eps,
                       out.data_ptr<c10::BFloat16>() + i * stride);
      else
        normalize_f32(items[i], static_cast<float>(mu), nesterov, safety, eps,
                      out.data_ptr<float>() + i * stride);
    }
  });
}

void apply_update(const std::vector<FusedMatrix>& items, const at::Tensor& O, double decay) {
  RECORD_FUNCTION("steepest::muon_apply_update", std::vector<c10::IValue>());
  check_layout(items, O, "the orthogonalized update");
  const int64_t k = O.size(0), stride = O.size(1) * O.size(2);
  const bool bf16 = O.scalar_type() == at::kBFloat16;
  at::parallel_for(0, k, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0; i < b1; ++i) {
      if (bf16)
        update_bf16(items[i], O.data_ptr<c10::BFloat16>() + i * stride, static_cast<float>(decay),
                    static_cast<float>(items[i].step));
      else
        update_f32(items[i], O.data_ptr<float>() + i * stride, static_cast<float>(decay),
                   static_cast<float>(items[i].step));
    }
  });
}

}  // namespace steepest::detail
