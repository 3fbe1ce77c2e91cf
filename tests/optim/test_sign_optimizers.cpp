#include <gtest/gtest.h>

#include "steepest/optim/lion.h"
#include "steepest/optim/sign_sgd.h"
#include "test_util.h"

namespace steepest {
namespace {

TEST(SignSGD, MomentumThenSign) {
  at::manual_seed(17);
  auto W = at::randn({5, 7}).set_requires_grad(true);
  auto ref = W.detach().clone();
  auto B = at::zeros({5, 7});
  SignSGD opt({{"w", W}}, SignSGDOptions(0.01).momentum(0.8).weight_decay(0.1));
  for (int t = 0; t < 3; ++t) {
    const auto G = at::randn({5, 7});
    W.mutable_grad() = G.clone();
    opt.step();
    B = 0.8 * B + 0.2 * G;
    ref = ref * (1 - 0.01 * 0.1) - 0.01 * B.sign();
  }
  EXPECT_LT(testing::rel_err(W.detach(), ref), 1e-6);
  EXPECT_EQ(opt.state_bytes(), 5 * 7 * 4);
}

TEST(Lion, InterpolatedSignThenMomentumUpdate) {
  at::manual_seed(18);
  auto W = at::randn({6}).set_requires_grad(true);  // any shape, 1-D included
  auto ref = W.detach().clone();
  auto M = at::zeros({6});
  Lion opt({{"w", W}}, LionOptions(1e-3).beta1(0.9).beta2(0.99).weight_decay(0.1));
  for (int t = 0; t < 3; ++t) {
    const auto G = at::randn({6});
    W.mutable_grad() = G.clone();
    opt.step();
    const auto C = 0.9 * M + 0.1 * G;
    ref = ref * (1 - 1e-3 * 0.1) - 1e-3 * C.sign();
    M = 0.99 * M + 0.01 * G;
  }
  EXPECT_LT(testing::rel_err(W.detach(), ref), 1e-6);
}

TEST(SignOptimizers, ZeroGradientGivesZeroUpdate) {
  auto W = at::randn({4, 4}).set_requires_grad(true);
  const auto W0 = W.detach().clone();
  W.mutable_grad() = at::zeros({4, 4});
  SignSGD s({{"w", W}});
  s.step();
  Lion l({{"w", W}});
  l.step();
  EXPECT_TRUE(at::equal(W.detach(), W0));
}

TEST(SignOptimizers, NonFiniteGradientIsNamed) {
  auto W = at::randn({3, 3}).set_requires_grad(true);
  W.mutable_grad() = at::full({3, 3}, INFINITY);
  Lion opt({{"head.weight", W}});
  EXPECT_THROW(
      {
        try {
          opt.step();
        } catch (const c10::Error& e) {
          EXPECT_NE(std::string(e.what()).find("head.weight"), std::string::npos);
          throw;
        }
      },
      c10::Error);
}

}  // namespace
}  // namespace steepest
