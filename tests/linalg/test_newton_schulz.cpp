#include <gtest/gtest.h>

#include "steepest/linalg/newton_schulz.h"
#include "steepest/linalg/orthogonality_report.h"
#include "steepest/linalg/schedule.h"
#include "test_util.h"

namespace steepest {
namespace {

class NewtonSchulzEverySchedule : public ::testing::TestWithParam<std::string> {};

// The defining property: NS keeps U, V and maps each σ through the schedule's
// scalar polynomial of σ/(‖X‖_F·safety + eps).
TEST_P(NewtonSchulzEverySchedule, MapsEachSingularValueThroughTheSchedule) {
  at::manual_seed(1);
  const auto s = ns_schedule(GetParam());
  for (auto [m, n] : {std::pair<int64_t, int64_t>{48, 96}, {96, 48}, {64, 64}}) {
    const int64_t r = std::min(m, n);
    const auto sigma = at::logspace(-1, 0.5, r, 10.0, at::kDouble);
    const auto k = testing::known_svd(m, n, sigma, at::kFloat);
    Cost cost;
    const auto O = newton_schulz(k.X, s, {}, &cost);
    ASSERT_EQ(O.sizes(), k.X.sizes());
    ASSERT_EQ(O.scalar_type(), at::kFloat);
    const double fro = k.S.norm().item<double>();
    auto f = k.S.clone();
    for (int64_t i = 0; i < r; ++i)
      f[i] = s.apply_scalar(k.S[i].item<double>() / (fro * s.safety + s.eps));
    const auto expected = at::matmul(k.U * f.unsqueeze(0), k.V.t());
    EXPECT_LT(testing::rel_err(O, expected), 2e-4) << GetParam() << " " << m << "x" << n;
    EXPECT_EQ(cost.gemms, newton_schulz_cost(m, n, s).gemms);
  }
}

INSTANTIATE_TEST_SUITE_P(All, NewtonSchulzEverySchedule, ::testing::ValuesIn(ns_schedule_names()));

TEST(NewtonSchulz, ZeroMatrixGivesZeroNotNaN) {
  for (const auto& name : ns_schedule_names()) {
    const auto O = newton_schulz(at::zeros({8, 16}), ns_schedule(name));
    EXPECT_TRUE(at::isfinite(O).all().item<bool>()) << name;
    EXPECT_EQ(O.abs().max().item<float>(), 0.0f) << name;
  }
}

TEST(NewtonSchulz, BatchedEqualsPerMatrix) {
  at::manual_seed(2);
  const auto X = at::randn({3, 16, 40});
  const auto s = ns_schedule("polar-express");
  Cost cost;
  const auto O = newton_schulz(X, s, {}, &cost);
  for (int64_t b = 0; b < 3; ++b) EXPECT_LT(testing::rel_err(O[b], newton_schulz(X[b], s)), 1e-5);
  EXPECT_EQ(cost.gemms, 3 * 15);  // 3 matrices × 5 steps × 3 GEMMs
}

TEST(NewtonSchulz, CostCountsShortSideGemms) {
  const auto s = ns_schedule("keller");
  const auto c = newton_schulz_cost(1024, 4096, s);
  EXPECT_EQ(c.gemms, 15);
  // 5 × (2·r²·c + 2·r³ + 2·r²·c), r = 1024, c = 4096: (20α + 10)·r³ with α = 4.
  EXPECT_DOUBLE_EQ(c.flops, 90.0 * 1024.0 * 1024.0 * 1024.0);
  EXPECT_EQ(newton_schulz_cost(64, 64, ns_schedule("cubic")).gemms, 24);  // 12 × 2
}

TEST(NewtonSchulz, ComputeDtypeKeepsOutputDtype) {
  at::manual_seed(3);
  const auto X = at::randn({32, 64});
  NsOptions bf16;
  bf16.compute_dtype = at::kBFloat16;
  const auto s = ns_schedule("polar-express");
  const auto O = newton_schulz(X, s, bf16);
  EXPECT_EQ(O.scalar_type(), at::kFloat);
  // bf16 keeps 8 mantissa bits and the early Polar Express steps amplify rounding
  // for small σ, so compare what matters: the band and the direction.
  const auto rep = orthogonality_report(O);
  EXPECT_GT(rep.sigma_min, 0.6);
  EXPECT_LT(rep.sigma_max, 1.25);
  const auto ref = newton_schulz(X, s);
  EXPECT_GT(((O * ref).sum() / (O.norm() * ref.norm())).item<double>(), 0.95);
  NsOptions fp64;
  fp64.compute_dtype = at::kDouble;
  EXPECT_LT(testing::rel_err(newton_schulz(X, s, fp64), newton_schulz(X, s)), 1e-5);
}

TEST(NewtonSchulz, RejectsVectorsAndIntegers) {
  EXPECT_THROW(newton_schulz(at::randn({5}), ns_schedule("keller")), c10::Error);
  EXPECT_THROW(newton_schulz(at::ones({4, 4}, at::kLong), ns_schedule("keller")), c10::Error);
}

}  // namespace
}  // namespace steepest
