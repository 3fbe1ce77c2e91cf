#include <gtest/gtest.h>

#include <cmath>

#include "steepest/bench/stats.h"

namespace steepest {
namespace {

TEST(Stats, StudentTQuantilesMatchTables) {
  // Two-sided 95% critical values (any statistics table).
  EXPECT_NEAR(student_t_quantile(0.975, 1), 12.7062, 1e-3);
  EXPECT_NEAR(student_t_quantile(0.975, 2), 4.3027, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.975, 4), 2.7764, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.975, 10), 2.2281, 1e-4);
  EXPECT_NEAR(student_t_quantile(0.975, 30), 2.0423, 1e-4);
  EXPECT_NEAR(student_t_cdf(0.0, 3), 0.5, 1e-12);
  EXPECT_NEAR(student_t_cdf(2.0, 5), 0.949030, 1e-6);
  EXPECT_NEAR(student_t_cdf(-2.0, 5), 1 - 0.949030, 1e-6);
  EXPECT_THROW(student_t_cdf(1.0, 0.0), std::invalid_argument);
}

TEST(Stats, MeanStddevAndConfidenceInterval) {
  EXPECT_DOUBLE_EQ(mean({1, 2, 3}), 2.0);
  EXPECT_DOUBLE_EQ(sample_stddev({1, 2, 3}), 1.0);
  EXPECT_NEAR(ci95_half_width({1, 2, 3}), 4.3027 / std::sqrt(3.0), 1e-4);
  EXPECT_TRUE(std::isnan(ci95_half_width({1.0})));  // one seed: no interval
  EXPECT_TRUE(std::isnan(mean({})));
}

// The modded-nanogpt record rule (scipy.stats.ttest_1samp(x, target,
// alternative="less")): with x = 0..4 (mean 2, standard error √(2.5/5)), a
// target t_{0.95,4} = 2.1318 standard errors above the mean gives p = 0.05.
TEST(Stats, OneSidedTestMatchesTheTTable) {
  const std::vector<double> x = {0, 1, 2, 3, 4};
  const double se = std::sqrt(2.5 / 5.0);
  EXPECT_NEAR(one_sided_p_below(x, 2.0 + 2.1318 * se), 0.05, 1e-4);
  EXPECT_NEAR(one_sided_p_below(x, 2.0), 0.5, 1e-12);
  EXPECT_NEAR(one_sided_p_below(x, 2.0 - 2.1318 * se), 0.95, 1e-4);
  EXPECT_EQ(one_sided_p_below({1.0, 1.0}, 2.0), 0.0);
  EXPECT_TRUE(std::isnan(one_sided_p_below({1.0}, 2.0)));
}

}  // namespace
}  // namespace steepest
