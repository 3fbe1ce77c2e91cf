// Causal softmax attention per head, fused forward and backward.
#include "model/fused_ops.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <limits>

#include "model/simd.h"

namespace steepest::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

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

}  // namespace

at::Tensor causal_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
  TORCH_CHECK(q.dim() == 4 && q.sizes() == k.sizes() && q.sizes() == v.sizes(),
              "causal_attention: q, k, v must be (B, H, T, d) of one shape, got ", q.sizes(), ", ",
              k.sizes(), ", ", v.sizes());
  return CausalAttentionFn::apply(q, k, v);
}

}  // namespace steepest::detail
