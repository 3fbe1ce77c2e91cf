#include "model/fused_ops.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

// The fp32 kernels are compiled twice, for x86-64-v3 (AVX2 + FMA) and the
// baseline ISA, and the loader picks one (GCC function multiversioning; note
// that an "arch=haswell" clone is only taken on Intel CPUs, x86-64-v3 on any
// CPU with the features). The bodies are plain loops written for the
// auto-vectorizer: unit-stride inner loops, no compare-and-select, and no
// floating-point reductions except through explicit partial sums.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#if __GNUC__ >= 12
#define STEEPEST_SIMD __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define STEEPEST_SIMD __attribute__((target_clones("avx2", "default")))
#endif
#else
#define STEEPEST_SIMD
#endif
#define STEEPEST_INLINE inline __attribute__((always_inline))

namespace steepest::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows per parallel chunk: ~32K elements, so small tensors stay on one thread.
int64_t grain(int64_t row) {
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

// ---- RMS norm over rows of length c ------------------------------------------

template <typename T>
STEEPEST_INLINE void rms_forward_rows(const T* __restrict x, T* __restrict y, T* __restrict r,
                                      int64_t rows, int64_t c, double eps) {
  for (int64_t i = 0; i < rows; ++i) {
    const T* xi = x + i * c;
    T* yi = y + i * c;
    const T ri = T(1.0 / std::sqrt(double(dot(xi, xi, c)) / double(c) + eps));
    r[i] = ri;
    for (int64_t j = 0; j < c; ++j) yi[j] = xi[j] * ri;
  }
}

// dx = r·(g − n·⟨g, n⟩/c) for n = x·r, written over g.
template <typename T>
STEEPEST_INLINE void rms_backward_row(T* __restrict g, const T* __restrict n, T r, int64_t c) {
  const T k = dot(g, n, c) / T(c);
  for (int64_t j = 0; j < c; ++j) g[j] = r * (g[j] - n[j] * k);
}

template <typename T>
STEEPEST_INLINE void rms_backward_rows(T* __restrict g, const T* __restrict y,
                                       const T* __restrict r, int64_t rows, int64_t c) {
  for (int64_t i = 0; i < rows; ++i) rms_backward_row(g + i * c, y + i * c, r[i], c);
}

STEEPEST_SIMD void rms_forward_k(const float* x, float* y, float* r, int64_t rows, int64_t c,
                                 double eps) {
  rms_forward_rows(x, y, r, rows, c, eps);
}
void rms_forward_k(const double* x, double* y, double* r, int64_t rows, int64_t c, double eps) {
  rms_forward_rows(x, y, r, rows, c, eps);
}
STEEPEST_SIMD void rms_backward_k(float* g, const float* y, const float* r, int64_t rows,
                                  int64_t c) {
  rms_backward_rows(g, y, r, rows, c);
}
void rms_backward_k(double* g, const double* y, const double* r, int64_t rows, int64_t c) {
  rms_backward_rows(g, y, r, rows, c);
}

struct RmsNormFn : torch::autograd::Function<RmsNormFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in, double eps) {
    const auto x = x_in.contiguous();
    const int64_t c = x.size(-1), rows = x.numel() / std::max<int64_t>(c, 1);
    auto y = at::empty_like(x);
    auto r = at::empty({rows}, x.options());
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "rms_norm", [&] {
      const scalar_t* xp = x.data_ptr<scalar_t>();
      scalar_t *yp = y.data_ptr<scalar_t>(), *rp = r.data_ptr<scalar_t>();
      at::parallel_for(0, rows, grain(c), [=](int64_t b, int64_t e) {
        rms_forward_k(xp + b * c, yp + b * c, rp + b, e - b, c, eps);
      });
    });
    ctx->save_for_backward({y, r});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &y = saved[0], &r = saved[1];
    auto g = grads[0].contiguous().clone();
    const int64_t c = y.size(-1), rows = r.numel();
    AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "rms_norm_backward", [&] {
      const scalar_t *yp = y.data_ptr<scalar_t>(), *rp = r.data_ptr<scalar_t>();
      scalar_t* gp = g.data_ptr<scalar_t>();
      at::parallel_for(0, rows, grain(c), [=](int64_t b, int64_t e) {
        rms_backward_k(gp + b * c, yp + b * c, rp + b, e - b, c);
      });
    });
    return {g, at::Tensor()};
  }
};

// ---- q/k/v head split with QK-norm and rotary ---------------------------------

struct HeadsShape {
  int64_t B, T, H, d;
};

// Rows [n0, n1) of qkv (N, 3·H·d) → q, k, v (B, H, T, d); r (2, N, H) inverse RMS.
template <typename T>
STEEPEST_INLINE void qkv_forward_rows(const T* __restrict x, T* __restrict q, T* __restrict k,
                                      T* __restrict v, T* __restrict r, const T* __restrict cs,
                                      const T* __restrict sn, HeadsShape s, int64_t n0, int64_t n1,
                                      double eps, double q_scale) {
  const int64_t C = s.H * s.d, half = s.d / 2, N = s.B * s.T;
  T* out[3] = {q, k, v};
  for (int64_t n = n0; n < n1; ++n) {
    const int64_t b = n / s.T, t = n % s.T;
    const T *cr = cs + t * half, *sr = sn + t * half;
    for (int64_t part = 0; part < 3; ++part) {
      for (int64_t h = 0; h < s.H; ++h) {
        const T* xi = x + n * 3 * C + part * C + h * s.d;
        T* y = out[part] + ((b * s.H + h) * s.T + t) * s.d;
        if (part == 2) {
          for (int64_t i = 0; i < s.d; ++i) y[i] = xi[i];
          continue;
        }
        const T ri = T(1.0 / std::sqrt(double(dot(xi, xi, s.d)) / double(s.d) + eps));
        r[(part * N + n) * s.H + h] = ri;
        const T f = part == 0 ? T(ri * q_scale) : ri;
        for (int64_t i = 0; i < half; ++i) {
          const T x1 = xi[i] * f, x2 = xi[i + half] * f;
          y[i] = x1 * cr[i] + x2 * sr[i];
          y[i + half] = x2 * cr[i] - x1 * sr[i];
        }
      }
    }
  }
}

template <typename T>
STEEPEST_INLINE void qkv_backward_rows(const T* __restrict x, const T* __restrict gq,
                                       const T* __restrict gk, const T* __restrict gv,
                                       const T* __restrict r, const T* __restrict cs,
                                       const T* __restrict sn, T* __restrict gx, T* __restrict nrm,
                                       HeadsShape s, int64_t n0, int64_t n1, double q_scale) {
  const int64_t C = s.H * s.d, half = s.d / 2, N = s.B * s.T;
  const T* gin[3] = {gq, gk, gv};
  for (int64_t n = n0; n < n1; ++n) {
    const int64_t b = n / s.T, t = n % s.T;
    const T *cr = cs + t * half, *sr = sn + t * half;
    for (int64_t part = 0; part < 3; ++part) {
      for (int64_t h = 0; h < s.H; ++h) {
        const T* gy = gin[part] + ((b * s.H + h) * s.T + t) * s.d;
        T* g = gx + n * 3 * C + part * C + h * s.d;
        if (part == 2) {
          for (int64_t i = 0; i < s.d; ++i) g[i] = gy[i];
          continue;
        }
        // The rotation's transpose, then the per-head RMS norm's backward.
        const T qs = part == 0 ? T(q_scale) : T(1);
        for (int64_t i = 0; i < half; ++i) {
          const T g1 = gy[i] * qs, g2 = gy[i + half] * qs;
          g[i] = g1 * cr[i] - g2 * sr[i];
          g[i + half] = g1 * sr[i] + g2 * cr[i];
        }
        const T ri = r[(part * N + n) * s.H + h];
        const T* xi = x + n * 3 * C + part * C + h * s.d;
        for (int64_t i = 0; i < s.d; ++i) nrm[i] = xi[i] * ri;
        rms_backward_row(g, nrm, ri, s.d);
      }
    }
  }
}

STEEPEST_SIMD void qkv_forward_k(const float* x, float* q, float* k, float* v, float* r,
                                 const float* cs, const float* sn, HeadsShape s, int64_t n0,
                                 int64_t n1, double eps, double q_scale) {
  qkv_forward_rows(x, q, k, v, r, cs, sn, s, n0, n1, eps, q_scale);
}
void qkv_forward_k(const double* x, double* q, double* k, double* v, double* r, const double* cs,
                   const double* sn, HeadsShape s, int64_t n0, int64_t n1, double eps,
                   double q_scale) {
  qkv_forward_rows(x, q, k, v, r, cs, sn, s, n0, n1, eps, q_scale);
}
STEEPEST_SIMD void qkv_backward_k(const float* x, const float* gq, const float* gk, const float* gv,
                                  const float* r, const float* cs, const float* sn, float* gx,
                                  float* scratch, HeadsShape s, int64_t n0, int64_t n1,
                                  double q_scale) {
  qkv_backward_rows(x, gq, gk, gv, r, cs, sn, gx, scratch, s, n0, n1, q_scale);
}
void qkv_backward_k(const double* x, const double* gq, const double* gk, const double* gv,
                    const double* r, const double* cs, const double* sn, double* gx,
                    double* scratch, HeadsShape s, int64_t n0, int64_t n1, double q_scale) {
  qkv_backward_rows(x, gq, gk, gv, r, cs, sn, gx, scratch, s, n0, n1, q_scale);
}

struct QkvHeadsFn : torch::autograd::Function<QkvHeadsFn> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& qkv_in, int64_t B, int64_t T,
                               int64_t H, const at::Tensor& cos_in, const at::Tensor& sin_in,
                               double eps, double q_scale) {
    const auto qkv = qkv_in.contiguous();
    const HeadsShape s{B, T, H, qkv.size(1) / (3 * H)};
    const auto cos = cos_in.to(qkv.scalar_type()).contiguous();
    const auto sin = sin_in.to(qkv.scalar_type()).contiguous();
    auto q = at::empty({B, H, T, s.d}, qkv.options()), k = at::empty_like(q), v = at::empty_like(q);
    auto r = at::empty({2, B * T, H}, qkv.options());  // inverse RMS of q and k per head
    AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "qkv_heads", [&] {
      const scalar_t *xp = qkv.data_ptr<scalar_t>(), *cp = cos.data_ptr<scalar_t>(),
                     *sp = sin.data_ptr<scalar_t>();
      scalar_t *qp = q.data_ptr<scalar_t>(), *kp = k.data_ptr<scalar_t>(),
               *vp = v.data_ptr<scalar_t>(), *rp = r.data_ptr<scalar_t>();
      at::parallel_for(0, B * T, grain(3 * H * s.d), [=](int64_t n0, int64_t n1) {
        qkv_forward_k(xp, qp, kp, vp, rp, cp, sp, s, n0, n1, eps, q_scale);
      });
    });
    ctx->save_for_backward({qkv, cos, sin, r});
    ctx->saved_data["B"] = B;
    ctx->saved_data["T"] = T;
    ctx->saved_data["H"] = H;
    ctx->saved_data["q_scale"] = q_scale;
    return {q, k, v};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &qkv = saved[0], &cos = saved[1], &sin = saved[2], &r = saved[3];
    const int64_t B = ctx->saved_data["B"].toInt(), T = ctx->saved_data["T"].toInt(),
                  H = ctx->saved_data["H"].toInt();
    const double q_scale = ctx->saved_data["q_scale"].toDouble();
    const HeadsShape s{B, T, H, qkv.size(1) / (3 * H)};
    // An output that did not reach the loss has an undefined gradient: zeros.
    std::vector<at::Tensor> gs(3);
    for (int i = 0; i < 3; ++i)
      gs[i] = grads[i].defined() ? grads[i].contiguous() : at::zeros({B, H, T, s.d}, qkv.options());
    auto gx = at::empty_like(qkv);
    AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "qkv_heads_backward", [&] {
      const scalar_t *xp = qkv.data_ptr<scalar_t>(), *cp = cos.data_ptr<scalar_t>(),
                     *sp = sin.data_ptr<scalar_t>(), *rp = r.data_ptr<scalar_t>(),
                     *gq = gs[0].data_ptr<scalar_t>(), *gk = gs[1].data_ptr<scalar_t>(),
                     *gv = gs[2].data_ptr<scalar_t>();
      scalar_t* gxp = gx.data_ptr<scalar_t>();
      at::parallel_for(0, B * T, grain(3 * H * s.d), [=](int64_t n0, int64_t n1) {
        std::vector<scalar_t> scratch(s.d);
        qkv_backward_k(xp, gq, gk, gv, rp, cp, sp, gxp, scratch.data(), s, n0, n1, q_scale);
      });
    });
    return {gx,           at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// ---- causal attention ------------------------------------------------------------
//
// Per (batch, head): T×T scores in a scratch-free layout, with the head size D
// a compile-time constant for the common sizes (16, 32, 64, 128; 0 = any), so
// the per-row accumulators of q·k, p·v and dq live in registers.

struct AttnShape {
  int64_t B, H, T, d;
};

// s (T×T) = q·kᵀ on and below the diagonal, −inf above. kt: d×T scratch.
template <typename T, int D>
STEEPEST_INLINE void scores_head(const T* __restrict q, const T* __restrict k, T* __restrict s,
                                 T* __restrict kt, int64_t len, int64_t d_rt) {
  const int64_t d = D > 0 ? D : d_rt;
  for (int64_t j = 0; j < len; ++j)
    for (int64_t c = 0; c < d; ++c) kt[c * len + j] = k[j * d + c];
  for (int64_t i = 0; i < len; ++i) {
    T* row = s + i * len;
    for (int64_t j = 0; j <= i; ++j) row[j] = 0;
    for (int64_t c = 0; c < d; ++c) {
      const T a = q[i * d + c];
      const T* kr = kt + c * len;
      for (int64_t j = 0; j <= i; ++j) row[j] += a * kr[j];
    }
    for (int64_t j = i + 1; j < len; ++j) row[j] = -std::numeric_limits<T>::infinity();
  }
}

// y_i = Σ_{j≤i} p_ij·v_j, written with row stride ys (the (B·T, H·d) layout).
template <typename T, int D>
STEEPEST_INLINE void pv_head(const T* __restrict p, const T* __restrict v, T* __restrict y,
                             int64_t len, int64_t d_rt, int64_t ys) {
  const int64_t d = D > 0 ? D : d_rt;
  for (int64_t i = 0; i < len; ++i) {
    T* out = y + i * ys;
    if constexpr (D > 0) {
      T acc[D] = {};
      for (int64_t j = 0; j <= i; ++j) {
        const T pj = p[i * len + j];
        for (int c = 0; c < D; ++c) acc[c] += pj * v[j * D + c];
      }
      for (int c = 0; c < D; ++c) out[c] = acc[c];
    } else {
      for (int64_t c = 0; c < d; ++c) out[c] = 0;
      for (int64_t j = 0; j <= i; ++j) {
        const T pj = p[i * len + j];
        for (int64_t c = 0; c < d; ++c) out[c] += pj * v[j * d + c];
      }
    }
  }
}

// Backward of one head given p = softmax(s) and gy (row stride ys). dq is
// written, dk and dv accumulate (zeroed by the caller). vt: d×T, ds: T scratch.
template <typename T, int D>
STEEPEST_INLINE void attention_backward_head(const T* __restrict q, const T* __restrict k,
                                             const T* __restrict v, const T* __restrict p,
                                             const T* __restrict gy, T* __restrict dq,
                                             T* __restrict dk, T* __restrict dv, T* __restrict vt,
                                             T* __restrict ds, int64_t len, int64_t d_rt,
                                             int64_t ys) {
  const int64_t d = D > 0 ? D : d_rt;
  for (int64_t j = 0; j < len; ++j)
    for (int64_t c = 0; c < d; ++c) vt[c * len + j] = v[j * d + c];
  for (int64_t i = 0; i < len; ++i) {
    const T* g = gy + i * ys;
    const T* prow = p + i * len;
    for (int64_t j = 0; j <= i; ++j) ds[j] = 0;  // dp_ij = g_i·v_j
    for (int64_t c = 0; c < d; ++c) {
      const T a = g[c];
      const T* vr = vt + c * len;
      for (int64_t j = 0; j <= i; ++j) ds[j] += a * vr[j];
    }
    for (int64_t j = 0; j <= i; ++j) {  // dv_j += p_ij·g_i
      const T pij = prow[j];
      T* dvr = dv + j * d;
      for (int64_t c = 0; c < d; ++c) dvr[c] += pij * g[c];
    }
    const T sum = dot(ds, prow, i + 1);  // softmax backward: ds = p·(dp − ⟨dp, p⟩)
    for (int64_t j = 0; j <= i; ++j) ds[j] = prow[j] * (ds[j] - sum);
    // dq_i = Σ_j ds_ij·k_j; dk_j += ds_ij·q_i
    const T* qr = q + i * d;
    if constexpr (D > 0) {
      T acc[D] = {};
      for (int64_t j = 0; j <= i; ++j) {
        const T sij = ds[j];
        for (int c = 0; c < D; ++c) {
          acc[c] += sij * k[j * D + c];
          dk[j * D + c] += sij * qr[c];
        }
      }
      for (int c = 0; c < D; ++c) dq[i * D + c] = acc[c];
    } else {
      T* dqr = dq + i * d;
      for (int64_t c = 0; c < d; ++c) dqr[c] = 0;
      for (int64_t j = 0; j <= i; ++j) {
        const T sij = ds[j];
        for (int64_t c = 0; c < d; ++c) {
          dqr[c] += sij * k[j * d + c];
          dk[j * d + c] += sij * qr[c];
        }
      }
    }
  }
}

template <typename T, int D>
STEEPEST_INLINE void scores_heads_d(const T* q, const T* k, T* s, T* kt, AttnShape a, int64_t bh0,
                                    int64_t bh1) {
  for (int64_t bh = bh0; bh < bh1; ++bh)
    scores_head<T, D>(q + bh * a.T * a.d, k + bh * a.T * a.d, s + bh * a.T * a.T, kt, a.T, a.d);
}

template <typename T, int D>
STEEPEST_INLINE void pv_heads_d(const T* p, const T* v, T* y, AttnShape a, int64_t bh0,
                                int64_t bh1) {
  for (int64_t bh = bh0; bh < bh1; ++bh) {
    const int64_t b = bh / a.H, h = bh % a.H;
    pv_head<T, D>(p + bh * a.T * a.T, v + bh * a.T * a.d, y + b * a.T * a.H * a.d + h * a.d, a.T,
                  a.d, a.H * a.d);
  }
}

template <typename T, int D>
STEEPEST_INLINE void backward_heads_d(const T* q, const T* k, const T* v, const T* p, const T* gy,
                                      T* dq, T* dk, T* dv, T* vt, T* ds, AttnShape a, int64_t bh0,
                                      int64_t bh1) {
  for (int64_t bh = bh0; bh < bh1; ++bh) {
    const int64_t b = bh / a.H, h = bh % a.H, o = bh * a.T * a.d;
    attention_backward_head<T, D>(q + o, k + o, v + o, p + bh * a.T * a.T,
                                  gy + b * a.T * a.H * a.d + h * a.d, dq + o, dk + o, dv + o, vt,
                                  ds, a.T, a.d, a.H * a.d);
  }
}

// Calls KERNEL<T, D> with D = a.d for the specialized head sizes, else D = 0.
#define STEEPEST_HEAD_DISPATCH(KERNEL, T, ...) \
  switch (a.d) {                               \
    case 16:                                   \
      return KERNEL<T, 16>(__VA_ARGS__);       \
    case 32:                                   \
      return KERNEL<T, 32>(__VA_ARGS__);       \
    case 64:                                   \
      return KERNEL<T, 64>(__VA_ARGS__);       \
    case 128:                                  \
      return KERNEL<T, 128>(__VA_ARGS__);      \
    default:                                   \
      return KERNEL<T, 0>(__VA_ARGS__);        \
  }

STEEPEST_SIMD void scores_k(const float* q, const float* k, float* s, float* kt, AttnShape a,
                            int64_t bh0, int64_t bh1) {
  STEEPEST_HEAD_DISPATCH(scores_heads_d, float, q, k, s, kt, a, bh0, bh1)
}
void scores_k(const double* q, const double* k, double* s, double* kt, AttnShape a, int64_t bh0,
              int64_t bh1) {
  scores_heads_d<double, 0>(q, k, s, kt, a, bh0, bh1);
}
STEEPEST_SIMD void pv_k(const float* p, const float* v, float* y, AttnShape a, int64_t bh0,
                        int64_t bh1) {
  STEEPEST_HEAD_DISPATCH(pv_heads_d, float, p, v, y, a, bh0, bh1)
}
void pv_k(const double* p, const double* v, double* y, AttnShape a, int64_t bh0, int64_t bh1) {
  pv_heads_d<double, 0>(p, v, y, a, bh0, bh1);
}
STEEPEST_SIMD void attn_backward_k(const float* q, const float* k, const float* v, const float* p,
                                   const float* gy, float* dq, float* dk, float* dv, float* vt,
                                   float* ds, AttnShape a, int64_t bh0, int64_t bh1) {
  STEEPEST_HEAD_DISPATCH(backward_heads_d, float, q, k, v, p, gy, dq, dk, dv, vt, ds, a, bh0, bh1)
}
void attn_backward_k(const double* q, const double* k, const double* v, const double* p,
                     const double* gy, double* dq, double* dk, double* dv, double* vt, double* ds,
                     AttnShape a, int64_t bh0, int64_t bh1) {
  backward_heads_d<double, 0>(q, k, v, p, gy, dq, dk, dv, vt, ds, a, bh0, bh1);
}
#undef STEEPEST_HEAD_DISPATCH

struct CausalAttentionFn : torch::autograd::Function<CausalAttentionFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q_in, const at::Tensor& k_in,
                            const at::Tensor& v_in) {
    const auto q = q_in.contiguous(), k = k_in.contiguous(), v = v_in.contiguous();
    const AttnShape a{q.size(0), q.size(1), q.size(2), q.size(3)};
    auto s = at::empty({a.B * a.H, a.T, a.T}, q.options());
    auto y = at::empty({a.B * a.T, a.H * a.d}, q.options());
    const int64_t g = std::max<int64_t>(1, 16384 / (a.T * a.T));
    at::Tensor p;
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "causal_attention", [&] {
      const scalar_t *qp = q.data_ptr<scalar_t>(), *kp = k.data_ptr<scalar_t>();
      scalar_t* sp = s.data_ptr<scalar_t>();
      at::parallel_for(0, a.B * a.H, g, [=](int64_t b0, int64_t b1) {
        std::vector<scalar_t> kt(a.d * a.T);
        scores_k(qp, kp, sp, kt.data(), a, b0, b1);
      });
      p = at::_softmax(s, -1, false);
      const scalar_t *pp = p.data_ptr<scalar_t>(), *vp = v.data_ptr<scalar_t>();
      scalar_t* yp = y.data_ptr<scalar_t>();
      at::parallel_for(0, a.B * a.H, g,
                       [=](int64_t b0, int64_t b1) { pv_k(pp, vp, yp, a, b0, b1); });
    });
    ctx->save_for_backward({q, k, v, p});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &q = saved[0], &k = saved[1], &v = saved[2], &p = saved[3];
    const AttnShape a{q.size(0), q.size(1), q.size(2), q.size(3)};
    const auto gy = grads[0].contiguous();
    auto dq = at::empty_like(q), dk = at::zeros_like(k), dv = at::zeros_like(v);
    const int64_t g = std::max<int64_t>(1, 16384 / (a.T * a.T));
    AT_DISPATCH_FLOATING_TYPES(q.scalar_type(), "causal_attention_backward", [&] {
      const scalar_t *qp = q.data_ptr<scalar_t>(), *kp = k.data_ptr<scalar_t>(),
                     *vp = v.data_ptr<scalar_t>(), *pp = p.data_ptr<scalar_t>(),
                     *gp = gy.data_ptr<scalar_t>();
      scalar_t *dqp = dq.data_ptr<scalar_t>(), *dkp = dk.data_ptr<scalar_t>(),
               *dvp = dv.data_ptr<scalar_t>();
      at::parallel_for(0, a.B * a.H, g, [=](int64_t b0, int64_t b1) {
        std::vector<scalar_t> vt(a.d * a.T), ds(a.T);
        attn_backward_k(qp, kp, vp, pp, gp, dqp, dkp, dvp, vt.data(), ds.data(), a, b0, b1);
      });
    });
    return {dq, dk, dv};
  }
};

// ---- relu² --------------------------------------------------------------------

template <typename T>
STEEPEST_INLINE void relu_square_rows(const T* __restrict h, T* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    // relu(h) = (h + |h|)/2, exact and free of compares, so it vectorizes
    // (GCC keeps a compare-and-select as a branch without -ffast-math).
    const T v = T(0.5) * (h[i] + std::fabs(h[i]));
    y[i] = v * v;
  }
}
template <typename T>
STEEPEST_INLINE void relu_square_back_rows(const T* __restrict h, const T* __restrict g,
                                           T* __restrict gh, int64_t n) {
  for (int64_t i = 0; i < n; ++i) gh[i] = (h[i] + std::fabs(h[i])) * g[i];
}
STEEPEST_SIMD void relu_square_k(const float* h, float* y, int64_t n) {
  relu_square_rows(h, y, n);
}
void relu_square_k(const double* h, double* y, int64_t n) {
  relu_square_rows(h, y, n);
}
STEEPEST_SIMD void relu_square_back_k(const float* h, const float* g, float* gh, int64_t n) {
  relu_square_back_rows(h, g, gh, n);
}
void relu_square_back_k(const double* h, const double* g, double* gh, int64_t n) {
  relu_square_back_rows(h, g, gh, n);
}

struct ReluSquareFn : torch::autograd::Function<ReluSquareFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& h_in) {
    const auto h = h_in.contiguous();
    auto y = at::empty_like(h);
    AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "relu_square", [&] {
      const scalar_t* hp = h.data_ptr<scalar_t>();
      scalar_t* yp = y.data_ptr<scalar_t>();
      at::parallel_for(0, h.numel(), 32768,
                       [=](int64_t b, int64_t e) { relu_square_k(hp + b, yp + b, e - b); });
    });
    ctx->save_for_backward({h});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto h = ctx->get_saved_variables()[0];
    const auto g = grads[0].contiguous();
    auto gh = at::empty_like(h);
    AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "relu_square_backward", [&] {
      const scalar_t *hp = h.data_ptr<scalar_t>(), *gp = g.data_ptr<scalar_t>();
      scalar_t* ghp = gh.data_ptr<scalar_t>();
      at::parallel_for(0, h.numel(), 32768, [=](int64_t b, int64_t e) {
        relu_square_back_k(hp + b, gp + b, ghp + b, e - b);
      });
    });
    return {gh};
  }
};

// ---- linear ---------------------------------------------------------------------

// y = x·wᵀ (+ residual). Backward: gx = g·w and gw = gᵀ·x, so the weight
// gradient comes out contiguous in w's own (out, in) layout.
std::pair<at::Tensor, at::Tensor> linear_backward(AutogradContext* ctx, const at::Tensor& g) {
  const auto saved = ctx->get_saved_variables();
  const auto &x = saved[0], &w = saved[1];
  at::Tensor gx, gw;
  if (ctx->needs_input_grad(0)) gx = at::mm(g, w);
  if (ctx->needs_input_grad(1)) gw = at::mm(g.t(), x);
  return {gx, gw};
}

struct LinearFn : torch::autograd::Function<LinearFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w) {
    ctx->save_for_backward({x, w});
    return at::mm(x, w.t());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto [gx, gw] = linear_backward(ctx, grads[0]);
    return {gx, gw};
  }
};

struct LinearAddFn : torch::autograd::Function<LinearAddFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w,
                            const at::Tensor& residual) {
    ctx->save_for_backward({x, w});
    return at::addmm(residual, x, w.t());
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto [gx, gw] = linear_backward(ctx, grads[0]);
    return {gx, gw, grads[0]};
  }
};

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, double eps) {
  return RmsNormFn::apply(x, eps);
}

at::Tensor rms_norm_reference(const at::Tensor& x, double eps) {
  return x * at::rsqrt(x.square().mean(-1, true) + eps);
}

std::vector<at::Tensor> qkv_heads(const at::Tensor& qkv, int64_t B, int64_t T, int64_t H,
                                  const RotaryTables& rope, double eps, double q_scale) {
  TORCH_CHECK(qkv.dim() == 2 && qkv.size(0) == B * T && qkv.size(1) % (3 * H) == 0,
              "qkv_heads: expected (B·T, 3·C) = (", B * T, ", 3·C) with C divisible by H = ", H,
              ", got ", qkv.sizes());
  const int64_t d = qkv.size(1) / (3 * H);
  TORCH_CHECK(d % 2 == 0 && d == 2 * rope.cos.size(1) && T <= rope.ctx(),
              "qkv_heads: rotary tables (", rope.cos.sizes(), ") do not fit head_dim ", d,
              " and T = ", T);
  return QkvHeadsFn::apply(qkv, B, T, H, rope.cos, rope.sin, eps, q_scale);
}

std::vector<at::Tensor> qkv_heads_reference(const at::Tensor& qkv, int64_t B, int64_t T, int64_t H,
                                            const RotaryTables& rope, double eps, double q_scale) {
  const int64_t d = qkv.size(1) / (3 * H);
  const auto heads = qkv.view({B, T, 3, H, d}).permute({2, 0, 3, 1, 4});  // (3, B, H, T, d)
  const auto q = apply_rotary(rms_norm_reference(heads[0], eps), rope) * q_scale;
  const auto k = apply_rotary(rms_norm_reference(heads[1], eps), rope);
  return {q, k, heads[2]};
}

at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  TORCH_CHECK(q.dim() == 4 && q.sizes() == k.sizes() && q.sizes() == v.sizes(),
              "causal_attention: q, k, v must be (B, H, T, d) of one shape, got ", q.sizes(), ", ",
              k.sizes(), ", ", v.sizes());
  return CausalAttentionFn::apply(q, k, v);
}

at::Tensor causal_attention_reference(const at::Tensor& q, const at::Tensor& k,
                                      const at::Tensor& v) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), d = q.size(3);
  const auto mask = at::full({T, T}, -std::numeric_limits<double>::infinity(), q.options()).triu(1);
  const auto p = at::softmax(at::matmul(q, k.transpose(-2, -1)) + mask, -1);
  return at::matmul(p, v).transpose(1, 2).reshape({B * T, H * d});
}

at::Tensor relu_square(const at::Tensor& h) {
  return ReluSquareFn::apply(h);
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& residual) {
  return residual.defined() ? LinearAddFn::apply(x, w, residual) : LinearFn::apply(x, w);
}

}  // namespace steepest::detail
