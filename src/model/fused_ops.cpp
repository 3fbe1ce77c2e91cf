#include "model/fused_ops.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace steepest::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows per parallel chunk: ~32K elements, so small tensors stay on one thread.
int64_t grain(int64_t row) {
  return std::max<int64_t>(1, 32768 / std::max<int64_t>(row, 1));
}

template <typename T>
T inv_rms(const T* x, int64_t n, double eps) {
  double ss = 0;
  for (int64_t j = 0; j < n; ++j) ss += double(x[j]) * double(x[j]);
  return T(1.0 / std::sqrt(ss / double(n) + eps));
}

// dx = r·(g − n·⟨g, n⟩/C) for y = n = x·r, in place over g (g and n may not alias).
template <typename T>
void rms_backward_row(T* g, const T* n, T r, int64_t c) {
  double dot = 0;
  for (int64_t j = 0; j < c; ++j) dot += double(g[j]) * double(n[j]);
  const T k = T(dot / double(c));
  for (int64_t j = 0; j < c; ++j) g[j] = r * (g[j] - n[j] * k);
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
      at::parallel_for(0, rows, grain(c), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const scalar_t ri = inv_rms(xp + i * c, c, eps);
          rp[i] = ri;
          for (int64_t j = 0; j < c; ++j) yp[i * c + j] = xp[i * c + j] * ri;
        }
      });
    });
    ctx->save_for_backward({y, r});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto& y = saved[0];
    const auto& r = saved[1];
    auto g = grads[0].contiguous().clone();
    const int64_t c = y.size(-1), rows = r.numel();
    AT_DISPATCH_FLOATING_TYPES(y.scalar_type(), "rms_norm_backward", [&] {
      const scalar_t *yp = y.data_ptr<scalar_t>(), *rp = r.data_ptr<scalar_t>();
      scalar_t* gp = g.data_ptr<scalar_t>();
      at::parallel_for(0, rows, grain(c), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) rms_backward_row(gp + i * c, yp + i * c, rp[i], c);
      });
    });
    return {g, at::Tensor()};
  }
};

struct QkvHeadsFn : torch::autograd::Function<QkvHeadsFn> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& qkv_in, int64_t B, int64_t T,
                               int64_t H, const at::Tensor& cos_in, const at::Tensor& sin_in,
                               double eps, double q_scale) {
    const auto qkv = qkv_in.contiguous();
    const int64_t C = qkv.size(1) / 3, d = C / H, half = d / 2, N = B * T;
    const auto cos = cos_in.to(qkv.scalar_type()).contiguous();
    const auto sin = sin_in.to(qkv.scalar_type()).contiguous();
    at::Tensor out[3];
    for (auto& o : out) o = at::empty({B, H, T, d}, qkv.options());
    auto r = at::empty({2, N, H}, qkv.options());  // inverse RMS of q and k per head
    AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "qkv_heads", [&] {
      const scalar_t *xp = qkv.data_ptr<scalar_t>(), *cp = cos.data_ptr<scalar_t>(),
                     *sp = sin.data_ptr<scalar_t>();
      scalar_t* op[3] = {out[0].data_ptr<scalar_t>(), out[1].data_ptr<scalar_t>(),
                         out[2].data_ptr<scalar_t>()};
      scalar_t* rp = r.data_ptr<scalar_t>();
      at::parallel_for(0, N, grain(3 * C), [&](int64_t b0, int64_t e0) {
        for (int64_t n = b0; n < e0; ++n) {
          const int64_t b = n / T, t = n % T;
          const scalar_t *cr = cp + t * half, *sr = sp + t * half;
          for (int64_t s = 0; s < 3; ++s) {
            for (int64_t h = 0; h < H; ++h) {
              const scalar_t* x = xp + n * 3 * C + s * C + h * d;
              scalar_t* y = op[s] + ((b * H + h) * T + t) * d;
              if (s == 2) {
                for (int64_t i = 0; i < d; ++i) y[i] = x[i];
                continue;
              }
              const scalar_t ri = inv_rms(x, d, eps);
              rp[(s * N + n) * H + h] = ri;
              const scalar_t k = s == 0 ? scalar_t(ri * q_scale) : ri;
              for (int64_t i = 0; i < half; ++i) {
                const scalar_t x1 = x[i] * k, x2 = x[i + half] * k;
                y[i] = x1 * cr[i] + x2 * sr[i];
                y[i + half] = x2 * cr[i] - x1 * sr[i];
              }
            }
          }
        }
      });
    });
    ctx->save_for_backward({qkv, cos, sin, r});
    ctx->saved_data["B"] = B;
    ctx->saved_data["T"] = T;
    ctx->saved_data["H"] = H;
    ctx->saved_data["q_scale"] = q_scale;
    return {out[0], out[1], out[2]};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const auto &qkv = saved[0], &cos = saved[1], &sin = saved[2], &r = saved[3];
    const int64_t B = ctx->saved_data["B"].toInt(), T = ctx->saved_data["T"].toInt(),
                  H = ctx->saved_data["H"].toInt();
    const double q_scale = ctx->saved_data["q_scale"].toDouble();
    const int64_t C = qkv.size(1) / 3, d = C / H, half = d / 2, N = B * T;
    // An output that did not reach the loss has an undefined gradient: zeros.
    std::vector<at::Tensor> gs(3);
    for (int i = 0; i < 3; ++i)
      gs[i] = grads[i].defined() ? grads[i].contiguous() : at::zeros({B, H, T, d}, qkv.options());
    auto gx = at::empty_like(qkv);
    AT_DISPATCH_FLOATING_TYPES(qkv.scalar_type(), "qkv_heads_backward", [&] {
      const scalar_t *xp = qkv.data_ptr<scalar_t>(), *cp = cos.data_ptr<scalar_t>(),
                     *sp = sin.data_ptr<scalar_t>(), *rp = r.data_ptr<scalar_t>();
      const scalar_t* gp[3] = {gs[0].data_ptr<scalar_t>(), gs[1].data_ptr<scalar_t>(),
                               gs[2].data_ptr<scalar_t>()};
      scalar_t* gxp = gx.data_ptr<scalar_t>();
      at::parallel_for(0, N, grain(3 * C), [&](int64_t b0, int64_t e0) {
        std::vector<scalar_t> nrm(d);
        for (int64_t n = b0; n < e0; ++n) {
          const int64_t b = n / T, t = n % T;
          const scalar_t *cr = cp + t * half, *sr = sp + t * half;
          for (int64_t s = 0; s < 3; ++s) {
            for (int64_t h = 0; h < H; ++h) {
              const scalar_t* gy = gp[s] + ((b * H + h) * T + t) * d;
              scalar_t* gxr = gxp + n * 3 * C + s * C + h * d;
              if (s == 2) {
                for (int64_t i = 0; i < d; ++i) gxr[i] = gy[i];
                continue;
              }
              // Undo the rotation (its transpose), then the per-head RMS norm.
              const scalar_t qs = s == 0 ? scalar_t(q_scale) : scalar_t(1);
              for (int64_t i = 0; i < half; ++i) {
                const scalar_t g1 = gy[i] * qs, g2 = gy[i + half] * qs;
                gxr[i] = g1 * cr[i] - g2 * sr[i];
                gxr[i + half] = g1 * sr[i] + g2 * cr[i];
              }
              const scalar_t ri = rp[(s * N + n) * H + h];
              const scalar_t* x = xp + n * 3 * C + s * C + h * d;
              for (int64_t i = 0; i < d; ++i) nrm[i] = x[i] * ri;
              rms_backward_row(gxr, nrm.data(), ri, d);
            }
          }
        }
      });
    });
    return {gx,           at::Tensor(), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

struct ReluSquareFn : torch::autograd::Function<ReluSquareFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& h_in) {
    const auto h = h_in.contiguous();
    auto y = at::empty_like(h);
    const int64_t n = h.numel();
    AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "relu_square", [&] {
      const scalar_t* hp = h.data_ptr<scalar_t>();
      scalar_t* yp = y.data_ptr<scalar_t>();
      at::parallel_for(0, n, 32768, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const scalar_t v = hp[i] > 0 ? hp[i] : scalar_t(0);
          yp[i] = v * v;
        }
      });
    });
    ctx->save_for_backward({h});
    return y;
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto h = ctx->get_saved_variables()[0];
    const auto g = grads[0].contiguous();
    auto gh = at::empty_like(h);
    const int64_t n = h.numel();
    AT_DISPATCH_FLOATING_TYPES(h.scalar_type(), "relu_square_backward", [&] {
      const scalar_t *hp = h.data_ptr<scalar_t>(), *gp = g.data_ptr<scalar_t>();
      scalar_t* ghp = gh.data_ptr<scalar_t>();
      at::parallel_for(0, n, 32768, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) ghp[i] = hp[i] > 0 ? scalar_t(2) * hp[i] * gp[i] : 0;
      });
    });
    return {gh};
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

at::Tensor relu_square(const at::Tensor& h) {
  return ReluSquareFn::apply(h);
}

}  // namespace steepest::detail
