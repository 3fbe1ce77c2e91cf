// The q/k/v head split with per-head RMS norm (QK-norm) and rotary, fused.
#include "model/fused_ops.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>
#include <vector>

#include "model/simd.h"

namespace steepest::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

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

}  // namespace

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

}  // namespace steepest::detail
