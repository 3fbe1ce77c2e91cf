// Small-sample statistics for comparing optimizers over seeds: mean, Student-t
// confidence intervals and the one-sided test of the modded-nanogpt
// optimization track (mean val loss below a target).
#pragma once

#include <random>
#include <utility>
#include <vector>

namespace steepest {

double mean(const std::vector<double>& x);
// Sample standard deviation (n − 1 in the denominator); 0 for n < 2.
double sample_stddev(const std::vector<double>& x);

// P(T ≤ t) for Student's t with `df` > 0 degrees of freedom.
double student_t_cdf(double t, double df);
// The q-quantile (0 < q < 1) of Student's t with `df` degrees of freedom.
double student_t_quantile(double q, double df);

// Half-width of the two-sided 95% confidence interval of the mean:
// t_{0.975, n−1}·s/√n. NaN for n < 2 (an interval needs two seeds).
double ci95_half_width(const std::vector<double>& x);

// One-sided one-sample t-test, H1: mean(x) < target. Returns the p-value
// (scipy.stats.ttest_1samp(x, target, alternative="less")). NaN for n < 2;
// 0 or 1 when all values are equal (s = 0).
double one_sided_p_below(const std::vector<double>& x, double target);

// Two-sided one-sample t-test, H0: mean(x) = 0 (a paired test when x holds
// per-seed differences). NaN for n < 2; 1 or 0 when all values are equal.
double two_sided_p_zero_mean(const std::vector<double>& x);

// An estimate with a 95% interval (NaN where there is none).
struct Interval {
  double value = 0, lo = 0, hi = 0;
};

// The 2.5% and 97.5% percentiles of the finite values (NaN when none).
// With 5 seeds this covers a mean only ~83% of the time (docs/BENCH.md).
std::pair<double, double> percentile_interval(std::vector<double> v);

// Hesterberg's expanded percentile interval ("What teachers should know about
// the bootstrap", 2015, §5.2) for a statistic of samples of size n ≥ 2: the
// percentiles at Φ(∓√(n/(n−1))·t_{0.975,n−1}) instead of 2.5%/97.5%, which
// corrects the bootstrap's narrowness (variance (n−1)/n, z instead of t) for
// a mean. n = 5: the 0.096% and 99.904% percentiles. NaN when no finite value.
std::pair<double, double> expanded_percentile_interval(std::vector<double> v, size_t n);

// Fieller's 95% interval for the ratio mean(a)/mean(b) of two independent
// samples (each ≥ 2 values; Fieller 1954): the ρ with (ā − ρb̄)² ≤
// t²(s_a²/n_a + ρ²s_b²/n_b), t at Welch–Satterthwaite's df at ρ = ā/b̄. Its
// coverage at n = 5 is measured in tests/bench/test_interval_coverage.cpp.
// lo/hi are −inf/+inf when b̄ is not significantly non-zero (the set is
// unbounded), NaN when a sample has fewer than 2 values or the ratio is not
// finite.
Interval fieller_ratio_interval(const std::vector<double>& a, const std::vector<double>& b);

// Φ, the standard normal CDF.
double normal_cdf(double z);

// A bootstrap resample of x (same size, drawn with replacement); x non-empty.
std::vector<double> resampled(const std::vector<double>& x, std::mt19937_64& rng);

}  // namespace steepest
