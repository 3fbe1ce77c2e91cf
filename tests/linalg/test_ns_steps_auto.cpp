#include <gtest/gtest.h>

#include <cmath>

#include "steepest/linalg/newton_schulz.h"
#include "steepest/linalg/ns_steps_auto.h"
#include "steepest/linalg/schedule.h"
#include "test_util.h"

namespace steepest {
namespace {

double orth_error(const at::Tensor& O) {
  const auto x = O.size(0) > O.size(1) ? O.t() : O;
  const auto I = at::eye(x.size(0), at::kDouble);
  return (at::matmul(x.to(at::kDouble), x.t().to(at::kDouble)) - I).norm().item<double>() /
         std::sqrt(static_cast<double>(x.size(0)));
}

// Element s−1 is the error of the s-step iteration itself.
TEST(NsStepsAuto, ErrorByStepMatchesEachShorterIteration) {
  at::manual_seed(2);
  const auto X = at::randn({96, 32});
  const auto errors = ns_error_by_step(X, ns_schedule("polar-express"));
  ASSERT_EQ(errors.size(), 5u);
  for (int s = 1; s <= 5; ++s)
    EXPECT_NEAR(errors[s - 1], orth_error(newton_schulz(X, ns_schedule("polar-express", s))), 1e-4)
        << s << " steps";
}

// A flat spectrum reaches the schedule's band in fewer steps than a steep
// power law σ_i = i^-2, whose smallest σ the early steps have not lifted yet.
TEST(NsStepsAuto, FlatSpectraNeedFewerStepsThanSteepPowerLaws) {
  at::manual_seed(4);
  const auto schedule = ns_schedule("keller");
  const auto i = at::arange(1, 65, at::kDouble);
  const int flat = fewest_ns_steps(
      ns_error_by_step(testing::known_svd(64, 256, at::ones({64}, at::kDouble)).X, schedule), 0.1);
  const int steep =
      fewest_ns_steps(ns_error_by_step(testing::known_svd(64, 256, i.pow(-2.0)).X, schedule), 0.1);
  EXPECT_LT(flat, steep);
  EXPECT_EQ(steep, 5);
}

TEST(NsStepsAuto, FewestStepsWithinTheToleranceOfTheFullSchedule) {
  EXPECT_EQ(fewest_ns_steps({0.9, 0.5, 0.21, 0.2}, 0.1), 3);
  EXPECT_EQ(fewest_ns_steps({0.9, 0.5, 0.21, 0.2}, 0.0), 4);
  EXPECT_EQ(fewest_ns_steps({0.1, 0.5, 0.3}, 0.0), 1);  // an earlier step may do better
  EXPECT_THROW(fewest_ns_steps({}, 0.1), c10::Error);
  EXPECT_THROW(fewest_ns_steps({0.1}, -1.0), c10::Error);
  EXPECT_THROW(ns_error_by_step(at::randn({2, 3, 4}), ns_schedule("keller")), c10::Error);
}

}  // namespace
}  // namespace steepest
