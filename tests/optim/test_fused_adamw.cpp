// The hybrid's fused AdamW (optim/fused_adamw.h) against torch::optim::AdamW:
// the same parameters and state after several steps (fp32 rounding apart),
// the same checkpoint format both ways, and libtorch's own step wherever the
// fused one does not apply.
#include <gtest/gtest.h>

#include <torch/optim/adamw.h>
#include <torch/serialize/archive.h>

#include <sstream>
#include <vector>

#include "optim/fused_adamw.h"
#include "steepest/compat.h"
#include "test_util.h"

namespace steepest {
namespace {

using torch::optim::AdamW;
using torch::optim::AdamWOptions;
using torch::optim::AdamWParamState;

std::vector<at::Tensor> make_params(bool with_transposed = false) {
  at::manual_seed(5);
  std::vector<at::Tensor> ps;
  for (auto shape : std::vector<std::vector<int64_t>>{{256, 128}, {128}, {37, 3}})
    ps.push_back(at::randn(shape).set_requires_grad(true));
  if (with_transposed) ps.push_back(at::randn({6, 9}).t().detach().set_requires_grad(true));
  return ps;
}

// Gradients of scale `scale` (tiny ones make eps matter).
void set_grads(std::vector<at::Tensor>& ps, int step, double scale = 1.0) {
  at::manual_seed(100 + step);
  for (auto& p : ps) p.mutable_grad() = at::randn(p.sizes()) * scale;
}

const AdamWParamState& state_of(torch::optim::Optimizer& opt, const at::Tensor& p) {
  return static_cast<const AdamWParamState&>(*opt.state().at(compat::state_key(p)));
}

// Runs `steps` steps of both on the same gradients; returns the largest
// relative difference of the total update (W − W₀) and of the moment buffers.
// `fused_steps`: how many of the fused optimizer's steps took its own path.
double max_difference(const AdamWOptions& o, int steps, bool with_transposed = false,
                      double grad_scale = 1.0, int64_t* fused_steps = nullptr) {
  auto fused_ps = make_params(with_transposed), ref_ps = make_params(with_transposed);
  std::vector<at::Tensor> start;
  for (const auto& p : ref_ps) start.push_back(p.detach().clone());
  detail::FusedAdamW fused(fused_ps, o);
  AdamW ref(ref_ps, o);
  for (int s = 0; s < steps; ++s) {
    set_grads(fused_ps, s, grad_scale);
    set_grads(ref_ps, s, grad_scale);
    fused.step();
    ref.step();
  }
  if (fused_steps != nullptr) *fused_steps = fused.fused_steps();
  double worst = 0;
  for (size_t i = 0; i < ref_ps.size(); ++i) {
    worst = std::max(
        worst, testing::rel_err(fused_ps[i].detach() - start[i], ref_ps[i].detach() - start[i]));
    const auto& a = state_of(fused, fused_ps[i]);
    const auto& b = state_of(ref, ref_ps[i]);
    EXPECT_EQ(a.step(), b.step());
    worst = std::max(worst, testing::rel_err(a.exp_avg(), b.exp_avg()));
    worst = std::max(worst, testing::rel_err(a.exp_avg_sq(), b.exp_avg_sq()));
  }
  return worst;
}

// The update itself (not the weights it is added to) within fp32 rounding,
// with ordinary gradients and with gradients so small (1e-9) that eps and
// its place in the denominator decide the step.
TEST(FusedAdamW, MatchesLibtorchsAdamW) {
  for (double scale : {1.0, 1e-9}) {
    int64_t fused = 0;
    EXPECT_LT(max_difference(AdamWOptions(3e-3).betas({0.9, 0.95}).eps(1e-8).weight_decay(0), 5,
                             false, scale, &fused),
              1e-5)
        << "gradient scale " << scale;
    EXPECT_EQ(fused, 5);
    EXPECT_LT(max_difference(AdamWOptions(1e-2).betas({0.8, 0.99}).eps(1e-10).weight_decay(0.1), 5,
                             false, scale, &fused),
              1e-5)
        << "gradient scale " << scale;
    EXPECT_EQ(fused, 5);
  }
}

// amsgrad and a non-contiguous parameter take libtorch's step: identical.
TEST(FusedAdamW, FallsBackToLibtorchsStepWhereItDoesNotApply) {
  int64_t fused = -1;
  EXPECT_EQ(max_difference(AdamWOptions(3e-3).amsgrad(true), 3, false, 1.0, &fused), 0.0);
  EXPECT_EQ(fused, 0);
  EXPECT_EQ(max_difference(AdamWOptions(3e-3), 3, /*with_transposed=*/true, 1.0, &fused), 0.0);
  EXPECT_EQ(fused, 0);
}

// Three steps of one kind, saved, then two more in the other kind loaded
// from it; against five steps of the second kind alone.
template <typename First, typename Second>
void continue_from_checkpoint() {
  const auto o = AdamWOptions(3e-3).weight_decay(0.01);
  auto a_ps = make_params(), b_ps = make_params(), c_ps = make_params();
  First a(a_ps, o);
  Second c(c_ps, o);
  for (int s = 0; s < 3; ++s) {
    set_grads(a_ps, s);
    set_grads(c_ps, s);
    a.step();
    c.step();
  }
  for (size_t i = 0; i < a_ps.size(); ++i) b_ps[i].detach().copy_(a_ps[i].detach());
  torch::serialize::OutputArchive out;
  a.save(out);
  std::stringstream bytes;
  out.save_to(bytes);
  Second b(b_ps, o);
  torch::serialize::InputArchive in;
  in.load_from(bytes);
  b.load(in);
  for (int s = 3; s < 5; ++s) {
    set_grads(b_ps, s);
    set_grads(c_ps, s);
    b.step();
    c.step();
  }
  for (size_t i = 0; i < b_ps.size(); ++i) {
    EXPECT_LT(testing::rel_err(b_ps[i].detach(), c_ps[i].detach()), 1e-6) << "parameter " << i;
    EXPECT_EQ(state_of(b, b_ps[i]).step(), 5);
  }
}

// A checkpoint of either continues in the other: same state, same format.
TEST(FusedAdamW, CheckpointsLoadBothWays) {
  continue_from_checkpoint<detail::FusedAdamW, AdamW>();
  continue_from_checkpoint<AdamW, detail::FusedAdamW>();
}

}  // namespace
}  // namespace steepest
