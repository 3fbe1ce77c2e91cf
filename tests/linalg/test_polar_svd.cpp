#include <gtest/gtest.h>

#include "steepest/linalg/newton_schulz.h"
#include "steepest/linalg/orthogonality_report.h"
#include "steepest/linalg/polar_svd.h"
#include "test_util.h"

namespace steepest {
namespace {

TEST(PolarSvd, EqualsUVtOfKnownSvd) {
  at::manual_seed(8);
  for (auto [m, n] : {std::pair<int64_t, int64_t>{40, 90}, {90, 40}}) {
    const auto k = testing::known_svd(m, n, at::logspace(-2, 1, std::min(m, n), 10.0, at::kDouble),
                                      at::kDouble);
    const auto O = polar_svd(k.X);
    EXPECT_LT(testing::rel_err(O, at::matmul(k.U, k.V.t())), 1e-10);
    const auto rep = orthogonality_report(O);
    EXPECT_NEAR(rep.sigma_min, 1.0, 1e-10);
    EXPECT_NEAR(rep.sigma_max, 1.0, 1e-10);
    EXPECT_LT(rep.orth_error, 1e-10);
  }
}

TEST(PolarSvd, RankDeficientKeepsNullSpaceAndZeroStaysZero) {
  at::manual_seed(9);
  auto sigma = at::tensor({3.0, 1.0, 0.0, 0.0}, at::kDouble);
  const auto k = testing::known_svd(4, 6, sigma, at::kDouble);
  const auto rep = orthogonality_report(polar_svd(k.X));
  EXPECT_NEAR(rep.sigma_max, 1.0, 1e-9);
  EXPECT_NEAR(rep.sigma_min, 0.0, 1e-9);
  EXPECT_EQ(polar_svd(at::zeros({3, 5})).abs().max().item<float>(), 0.0f);
}

TEST(PolarSvd, ConvergentNewtonSchulzAgreesWithSvd) {
  at::manual_seed(10);
  const auto k = testing::known_svd(32, 96, at::logspace(-0.5, 0.5, 32, 10.0, at::kDouble));
  EXPECT_LT(testing::rel_err(newton_schulz(k.X, ns_schedule("convergent")), polar_svd(k.X)), 1e-4);
}

TEST(PolarSvd, BatchedAndCost) {
  at::manual_seed(11);
  Cost c;
  const auto O = polar_svd(at::randn({2, 8, 24}), &c);
  EXPECT_EQ(O.sizes(), (std::vector<int64_t>{2, 8, 24}));
  EXPECT_EQ(c.gemms, 2);
  EXPECT_GT(c.other_flops, 0.0);
  EXPECT_NEAR(orthogonality_report(O).sigma_min, 1.0, 1e-5);
}

TEST(OrthogonalityReport, MeasuresDeviation) {
  // diag(1, 2): σ = {1, 2}; ‖OᵀO − I‖_F/√2 = |4 − 1|/√2.
  const auto O = at::diag(at::tensor({1.0, 2.0}, at::kDouble));
  const auto rep = orthogonality_report(O, Cost{3, 10.0, 0.0});
  EXPECT_DOUBLE_EQ(rep.sigma_min, 1.0);
  EXPECT_DOUBLE_EQ(rep.sigma_max, 2.0);
  EXPECT_NEAR(rep.orth_error, 3.0 / std::sqrt(2.0), 1e-12);
  EXPECT_EQ(rep.cost.gemms, 3);
  EXPECT_NE(rep.to_json().find("\"gemms\": 3"), std::string::npos);
}

}  // namespace
}  // namespace steepest
