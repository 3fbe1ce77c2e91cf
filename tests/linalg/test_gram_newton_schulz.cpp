#include <gtest/gtest.h>

#include "steepest/linalg/gram_newton_schulz.h"
#include "steepest/linalg/newton_schulz.h"
#include "test_util.h"

namespace steepest {
namespace {

class GramEverySchedule : public ::testing::TestWithParam<std::string> {};

// Same polynomial, different association of products: equal up to fp32 rounding.
TEST_P(GramEverySchedule, AgreesWithStandardNewtonSchulz) {
  at::manual_seed(4);
  const auto s = ns_schedule(GetParam());
  for (auto [m, n] : {std::pair<int64_t, int64_t>{64, 256}, {256, 64}, {32, 512}}) {
    const int64_t r = std::min(m, n);
    const auto k = testing::known_svd(m, n, at::logspace(-1, 0, r, 10.0, at::kDouble));
    Cost gc, nc;
    const auto G = gram_newton_schulz(k.X, s, {}, &gc);
    const auto N = newton_schulz(k.X, s, {}, &nc);
    EXPECT_LT(testing::rel_err(G, N), 1e-4) << GetParam() << " " << m << "x" << n;
    EXPECT_LT(gc.flops, nc.flops) << "Gram must be cheaper at aspect ratio 4+";
    EXPECT_EQ(gc.gemms, gram_newton_schulz_cost(m, n, s).gemms);
  }
}

INSTANTIATE_TEST_SUITE_P(All, GramEverySchedule, ::testing::ValuesIn(ns_schedule_names()));

TEST(GramNewtonSchulz, FlopModelMatchesPaper) {
  // 5 quintic steps, one restart: 8α + 28 r³-units versus 20α + 10 (Zhang, Amsel, Chen, Dao 2026).
  const double r3 = 256.0 * 256.0 * 256.0;
  const auto s = ns_schedule("keller");
  EXPECT_DOUBLE_EQ(gram_newton_schulz_cost(256, 1024, s).flops, (8 * 4 + 28) * r3);
  EXPECT_DOUBLE_EQ(gram_newton_schulz_cost(256, 2048, s).flops, (8 * 8 + 28) * r3);
}

TEST(GramNewtonSchulz, FallsBackToStandardWhenSquare) {
  at::manual_seed(5);
  const auto X = at::randn({64, 64});
  const auto s = ns_schedule("polar-express");
  Cost gc, nc;
  const auto G = gram_newton_schulz(X, s, {}, &gc);
  const auto N = newton_schulz(X, s, {}, &nc);
  EXPECT_TRUE(at::equal(G, N));
  EXPECT_EQ(gc.flops, nc.flops);
}

TEST(GramNewtonSchulz, BatchedAndZero) {
  at::manual_seed(6);
  const auto X = at::randn({2, 16, 128});
  const auto s = ns_schedule("polar-express");
  EXPECT_LT(testing::rel_err(gram_newton_schulz(X, s), newton_schulz(X, s)), 1e-4);
  const auto Z = gram_newton_schulz(at::zeros({8, 64}), s);
  EXPECT_EQ(Z.abs().max().item<float>(), 0.0f);
}

// `orthogonalize --method gram-keller --dtype bf16` once failed inside
// libtorch ("eye" not implemented for 'BFloat16'); batched too.
TEST(GramNewtonSchulz, Bf16ComputeStaysInTheBandOfFp32) {
  at::manual_seed(8);
  const auto s = ns_schedule("keller");
  GramNsOptions bf16;
  bf16.ns.compute_dtype = at::kBFloat16;
  for (const auto& X : {at::randn({32, 128}), at::randn({3, 128, 32})}) {
    const auto O = gram_newton_schulz(X, s, bf16);
    EXPECT_EQ(O.scalar_type(), at::kFloat);
    const auto ref = gram_newton_schulz(X, s);
    const auto cosine = (O * ref).sum() / (O.norm() * ref.norm());
    EXPECT_GT(cosine.item<double>(), 0.99) << X.sizes();
    const auto sv = at::linalg_svdvals(O);
    EXPECT_GT(sv.min().item<double>(), 0.5) << X.sizes();
    EXPECT_LT(sv.max().item<double>(), 1.3) << X.sizes();
  }
}

TEST(GramNewtonSchulz, NoRestartStillAgreesInDouble) {
  at::manual_seed(7);
  const auto X = at::randn({16, 128}, at::kDouble);
  GramNsOptions o;
  o.restart_after = {};
  const auto s = ns_schedule("keller");
  EXPECT_LT(testing::rel_err(gram_newton_schulz(X, s, o), newton_schulz(X, s)), 1e-9);
}

}  // namespace
}  // namespace steepest
