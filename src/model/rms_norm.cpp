// RMS norm without gain, fused forward and backward.
#include "model/fused_ops.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "model/simd.h"

namespace steepest::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

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

}  // namespace

at::Tensor rms_norm(const at::Tensor& x, double eps) {
  return RmsNormFn::apply(x, eps);
}

}  // namespace steepest::detail
