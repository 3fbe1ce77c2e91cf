// y = x·wᵀ (+ residual) with the weight gradient in w's own layout; the
// GEMMs run on util/gemm.h (oneDNN where available).
#include "model/fused_ops.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/custom_function.h>

#include <utility>

#include "model/simd.h"
#include "util/gemm.h"

namespace steepest::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// y = x·wᵀ (+ residual). Backward: gx = g·w and gw = gᵀ·x, so the weight
// gradient comes out contiguous in w's own (out, in) layout.
std::pair<at::Tensor, at::Tensor> linear_backward(AutogradContext* ctx, const at::Tensor& g) {
  const auto saved = ctx->get_saved_variables();
  const auto &x = saved[0], &w = saved[1];
  at::Tensor gx, gw;
  if (ctx->needs_input_grad(0)) gx = detail::mm(g, w);
  if (ctx->needs_input_grad(1)) gw = detail::mm(g.t(), x);
  return {gx, gw};
}

struct LinearFn : torch::autograd::Function<LinearFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w) {
    ctx->save_for_backward({x, w});
    return detail::mm(x, w.t());
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
    return detail::addmm(residual, x, w.t(), 1.0, 1.0);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto [gx, gw] = linear_backward(ctx, grads[0]);
    return {gx, gw, grads[0]};
  }
};

}  // namespace

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& residual) {
  return residual.defined() ? LinearAddFn::apply(x, w, residual) : LinearFn::apply(x, w);
}

}  // namespace steepest::detail
