#include "optim/fused_adamw.h"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <ATen/record_function.h>

#include <cmath>
#include <memory>

#include "steepest/compat.h"
#include "util/simd.h"

namespace steepest::detail {
namespace {

// One parameter's AdamW update on [begin, end), libtorch's ops in their
// order: p·decay; m ← m·β₁ + (1−β₁)·g; v ← v·β₂ + (1−β₂)·g·g;
// p ← p + (−step·m) / (√v / √bc₂ + eps).
struct AdamWScalars {
  float decay, beta1, one_minus_beta1, beta2, one_minus_beta2, sqrt_bc2, eps, neg_step;
};

STEEPEST_SIMD void adamw_range(float* __restrict p, const float* __restrict g, float* __restrict m,
                               float* __restrict v, int64_t begin, int64_t end, AdamWScalars s) {
  for (int64_t i = begin; i < end; ++i) {
    const float decayed = p[i] * s.decay;  // decay 1 (no weight decay) leaves p as it is
    m[i] = m[i] * s.beta1 + s.one_minus_beta1 * g[i];
    v[i] = v[i] * s.beta2 + s.one_minus_beta2 * g[i] * g[i];
    p[i] = decayed + (s.neg_step * m[i]) / (std::sqrt(v[i]) / s.sqrt_bc2 + s.eps);
  }
}

bool dense_fp32_like(const at::Tensor& t, const at::Tensor& p) {
  return t.defined() && t.device().is_cpu() && t.scalar_type() == at::kFloat && !t.is_sparse() &&
         t.is_contiguous() && t.sizes() == p.sizes();
}

// p, its gradient and its state (once it exists) all contiguous CPU fp32.
bool fusable(const at::Tensor& p, const torch::optim::OptimizerParamState* state) {
  if (!dense_fp32_like(p, p) || !dense_fp32_like(p.grad(), p)) return false;
  const auto* st = dynamic_cast<const torch::optim::AdamWParamState*>(state);
  return state == nullptr || (st != nullptr && dense_fp32_like(st->exp_avg(), p) &&
                              dense_fp32_like(st->exp_avg_sq(), p));
}

}  // namespace

at::Tensor FusedAdamW::step(LossClosure closure) {
  at::Tensor loss;
  if (closure != nullptr) {  // first: it may define the gradients checked below
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups())
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const auto found = state_.find(compat::state_key(p));
      if (static_cast<const torch::optim::AdamWOptions&>(group.options()).amsgrad() ||
          !fusable(p, found == state_.end() ? nullptr : found->second.get())) {
        torch::optim::AdamW::step(nullptr);
        return loss;
      }
    }
  RECORD_FUNCTION("steepest::fused_adamw_step", std::vector<c10::IValue>());
  at::NoGradGuard no_grad;
  for (auto& group : param_groups()) {
    const auto& o = static_cast<const torch::optim::AdamWOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& slot = state_[compat::state_key(p)];
      if (!slot) {
        auto fresh = std::make_unique<torch::optim::AdamWParamState>();
        fresh->step(0);
        fresh->exp_avg(at::zeros_like(p, at::MemoryFormat::Preserve));
        fresh->exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
        slot = std::move(fresh);
      }
      auto& st = static_cast<torch::optim::AdamWParamState&>(*slot);
      st.step(st.step() + 1);
      const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
      const double bc1 = 1 - std::pow(beta1, st.step()), bc2 = 1 - std::pow(beta2, st.step());
      const AdamWScalars s{static_cast<float>(1 - o.lr() * o.weight_decay()),
                           static_cast<float>(beta1),
                           static_cast<float>(1 - beta1),
                           static_cast<float>(beta2),
                           static_cast<float>(1 - beta2),
                           static_cast<float>(std::sqrt(bc2)),
                           static_cast<float>(o.eps()),
                           static_cast<float>(-o.lr() / bc1)};
      float* pp = p.data_ptr<float>();
      const float* gp = p.grad().data_ptr<float>();
      float* mp = st.exp_avg().data_ptr<float>();
      float* vp = st.exp_avg_sq().data_ptr<float>();
      at::parallel_for(0, p.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
        adamw_range(pp, gp, mp, vp, begin, end, s);
      });
      // Written through raw pointers: tell autograd's in-place checks, as
      // libtorch's in-place ops do.
      for (const at::Tensor* t : {&p, &st.exp_avg(), &st.exp_avg_sq()})
        t->unsafeGetTensorImpl()->bump_version();
    }
  }
  ++fused_steps_;
  return loss;
}

}  // namespace steepest::detail
