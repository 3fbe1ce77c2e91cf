#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "steepest/linalg/spectrum_stats.h"
#include "test_util.h"

namespace steepest {
namespace {

// n draws of a Pareto law p(x) ∝ x^(−α) on x ≥ xmin (inverse-CDF sampling).
std::vector<double> pareto(int64_t n, double alpha, double xmin) {
  const auto u = at::rand({n}, at::kDouble);
  const auto x = xmin * at::pow(1.0 - u, -1.0 / (alpha - 1.0));
  return {x.data_ptr<double>(), x.data_ptr<double>() + n};
}

// The Hill/Clauset estimate's standard error is (α − 1)/√n_tail; the bounds
// below are about 3 of them at the sizes used.
TEST(PowerLawFit, RecoversTheExponentOfParetoSamples) {
  at::manual_seed(1);
  for (const double alpha : {2.5, 4.0}) {
    const auto fit = fit_power_law(pareto(3000, alpha, 1.0));
    EXPECT_NEAR(fit.alpha, alpha, 0.1 * (alpha - 1.0)) << "alpha " << alpha;
    EXPECT_LT(fit.ks_distance, 0.05);
    EXPECT_EQ(fit.estimator, "clauset-mle");
  }
}

// Below the tail the data is not a power law: the KS choice of xmin finds
// where the tail starts.
TEST(PowerLawFit, FindsWhereTheTailStarts) {
  at::manual_seed(2);
  auto x = pareto(2000, 3.0, 1.0);
  const auto body = at::rand({2000}, at::kDouble) * 0.9 + 0.05;
  x.insert(x.end(), body.data_ptr<double>(), body.data_ptr<double>() + 2000);
  const auto fit = fit_power_law(x);
  EXPECT_NEAR(fit.alpha, 3.0, 0.3);
  EXPECT_GT(fit.xmin, 0.9);
  EXPECT_LT(fit.xmin, 1.5);
  EXPECT_EQ(fit_power_law({1.0, 2.0, 3.0}).alpha, 0.0);  // shorter than min_tail
  EXPECT_EQ(fit_power_law({}).n_tail, 0);
}

// The likelihood ratio against an exponential picks the law that drew the
// sample: Pareto → power law (R > 0), shifted exponential → exponential
// (R < 0), both decisively at n = 2000 (p < 1e-3). By hand on two points:
// power law α = 2, xmin = 1 on {1, 3}: ln p_pl = (0, −2 ln 3); λ = 1/1 = 1:
// ln p_exp = (0, −2); R = 2 − 2 ln 3.
TEST(PowerLawFit, LikelihoodRatioAgainstAnExponentialPicksTheTrueLaw) {
  at::manual_seed(4);
  const auto heavy = fit_power_law(pareto(2000, 2.5, 1.0));
  EXPECT_GT(heavy.lr_exponential, 0.0);
  EXPECT_GT(heavy.lr_z, 0.0);
  EXPECT_LT(heavy.lr_p, 1e-3);

  const auto e = 1.0 + at::empty({2000}, at::kDouble).exponential_(1.5);
  const std::vector<double> light(e.data_ptr<double>(), e.data_ptr<double>() + 2000);
  PowerLawFit fit;  // a power law fitted on the whole sample from its minimum
  fit.xmin = *std::min_element(light.begin(), light.end());
  double log_sum = 0.0;
  for (double v : light) log_sum += std::log(v / fit.xmin);
  fit.alpha = 1.0 + 2000.0 / log_sum;
  compare_with_exponential(light, fit);
  EXPECT_LT(fit.lr_exponential, 0.0);
  EXPECT_LT(fit.lr_z, 0.0);
  EXPECT_LT(fit.lr_p, 1e-3);

  PowerLawFit two;
  two.alpha = 2.0;
  two.xmin = 1.0;
  compare_with_exponential({1.0, 3.0}, two);
  EXPECT_NEAR(two.lr_exponential, 2.0 - 2.0 * std::log(3.0), 1e-12);
  // Per-point ratios (0, 2 − 2 ln 3): mean R/2, population sd |R|/2, z = R/(sd·√2).
  EXPECT_NEAR(two.lr_z, std::sqrt(2.0) * (two.lr_exponential < 0 ? -1.0 : 1.0), 1e-12);
  EXPECT_NEAR(two.lr_p, std::erfc(1.0), 1e-12);
}

// A matrix whose WᵀW has Pareto(α = 3) eigenvalues: spectrum_stats fits α to
// them. 400 eigenvalues: the bound 0.5 is about 3 standard errors of a tail
// of ~150.
TEST(SpectrumStats, RecoversAlphaOfASyntheticHeavyTailedMatrix) {
  at::manual_seed(3);
  const auto lambda = pareto(400, 3.0, 1.0);
  const auto W =
      testing::known_svd(400, 600, at::tensor(lambda, at::kDouble).sqrt(), at::kDouble).X;
  const auto stats = spectrum_stats(W);
  EXPECT_NEAR(stats.alpha.alpha, 3.0, 0.5);
  EXPECT_EQ(stats.singular_values.size(), 400u);
}

// Closed forms on a matrix with singular values (3, 2, 1) in random bases.
TEST(SpectrumStats, MatchesClosedFormsOnConstructedMatrices) {
  at::manual_seed(4);
  const auto W = testing::known_svd(3, 5, at::tensor({3.0, 2.0, 1.0}, at::kDouble)).X;
  const auto st = spectrum_stats(W);
  ASSERT_EQ(st.singular_values.size(), 3u);
  EXPECT_NEAR(st.singular_values[0], 3.0, 1e-6);
  EXPECT_NEAR(st.singular_values[2], 1.0, 1e-6);
  EXPECT_NEAR(st.stable_rank, 14.0 / 9.0, 1e-6);
  double h = 0;
  for (double p : {0.5, 1.0 / 3, 1.0 / 6}) h -= p * std::log(p);
  EXPECT_NEAR(st.effective_rank, std::exp(h), 1e-6);
  EXPECT_NEAR(st.condition_number, 3.0, 1e-6);

  const auto I = spectrum_stats(at::eye(7));
  EXPECT_NEAR(I.stable_rank, 7.0, 1e-12);
  EXPECT_NEAR(I.effective_rank, 7.0, 1e-9);
  EXPECT_NEAR(I.condition_number, 1.0, 1e-12);

  const auto rank1 = spectrum_stats(at::ones({4, 6}));
  EXPECT_NEAR(rank1.stable_rank, 1.0, 1e-9);
  EXPECT_TRUE(std::isinf(rank1.condition_number));

  const auto zero = spectrum_stats(at::zeros({3, 3}));
  EXPECT_EQ(zero.stable_rank, 0.0);
  EXPECT_EQ(zero.alpha.n_tail, 0);
}

TEST(SpectrumStats, QuantilesInterpolateAndBadInputIsRefused) {
  const auto q = quantiles({4.0, 1.0, 3.0, 2.0}, {0.0, 0.5, 1.0, 0.25});
  EXPECT_DOUBLE_EQ(q[0], 1.0);
  EXPECT_DOUBLE_EQ(q[1], 2.5);
  EXPECT_DOUBLE_EQ(q[2], 4.0);
  EXPECT_DOUBLE_EQ(q[3], 1.75);
  EXPECT_THROW(quantiles({}, {0.5}), c10::Error);
  EXPECT_THROW(quantiles({1.0}, {1.5}), c10::Error);
  EXPECT_THROW(spectrum_stats(at::randn({2, 3, 4})), c10::Error);
  auto bad = at::ones({3, 3});
  bad[1][1] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(spectrum_stats(bad), c10::Error);
}

}  // namespace
}  // namespace steepest
