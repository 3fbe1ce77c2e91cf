#include "steepest/bench/stats.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace steepest {
namespace {

// Continued fraction of the regularized incomplete beta function, by the
// modified Lentz method (Press et al., Numerical Recipes §6.4, written anew).
double beta_continued_fraction(double a, double b, double x) {
  const double tiny = 1e-300, eps = 1e-15;
  double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
  if (std::fabs(d) < tiny) d = tiny;
  d = 1.0 / d;
  double h = d;
  for (int m = 1; m <= 500; ++m) {
    const double m2 = 2.0 * m;
    double aa = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    h *= d * c;
    aa = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
    d = 1.0 + aa * d;
    if (std::fabs(d) < tiny) d = tiny;
    c = 1.0 + aa / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < eps) break;
  }
  return h;
}

// I_x(a, b).
double incomplete_beta(double a, double b, double x) {
  if (x <= 0.0) return 0.0;
  if (x >= 1.0) return 1.0;
  const double ln_front =
      std::lgamma(a + b) - std::lgamma(a) - std::lgamma(b) + a * std::log(x) + b * std::log1p(-x);
  const double front = std::exp(ln_front);
  if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_continued_fraction(a, b, x) / a;
  return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;
}

}  // namespace

double mean(const std::vector<double>& x) {
  if (x.empty()) return std::numeric_limits<double>::quiet_NaN();
  return std::accumulate(x.begin(), x.end(), 0.0) / static_cast<double>(x.size());
}

double sample_stddev(const std::vector<double>& x) {
  if (x.size() < 2) return 0.0;
  const double m = mean(x);
  double ss = 0.0;
  for (double v : x) ss += (v - m) * (v - m);
  return std::sqrt(ss / static_cast<double>(x.size() - 1));
}

double student_t_cdf(double t, double df) {
  if (!(df > 0)) throw std::invalid_argument("student_t_cdf: df must be > 0");
  if (std::isinf(t)) return t > 0 ? 1.0 : 0.0;
  const double x = df / (df + t * t);
  const double tail = 0.5 * incomplete_beta(df / 2.0, 0.5, x);  // P(T > |t|)
  return t >= 0 ? 1.0 - tail : tail;
}

double student_t_quantile(double q, double df) {
  if (!(q > 0 && q < 1)) throw std::invalid_argument("student_t_quantile: q must be in (0, 1)");
  // Bisection on the monotone CDF: robust and plenty fast for a report.
  double lo = -1e3, hi = 1e3;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (student_t_cdf(mid, df) < q ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

double ci95_half_width(const std::vector<double>& x) {
  if (x.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  const double n = static_cast<double>(x.size());
  return student_t_quantile(0.975, n - 1.0) * sample_stddev(x) / std::sqrt(n);
}

double one_sided_p_below(const std::vector<double>& x, double target) {
  if (x.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  const double n = static_cast<double>(x.size());
  const double s = sample_stddev(x), m = mean(x);
  if (s == 0.0) return m < target ? 0.0 : 1.0;
  return student_t_cdf((m - target) / (s / std::sqrt(n)), n - 1.0);
}

double two_sided_p_zero_mean(const std::vector<double>& x) {
  if (x.size() < 2) return std::numeric_limits<double>::quiet_NaN();
  const double n = static_cast<double>(x.size());
  const double s = sample_stddev(x), m = mean(x);
  if (s == 0.0) return m == 0.0 ? 1.0 : 0.0;
  return 2.0 * student_t_cdf(-std::fabs(m) / (s / std::sqrt(n)), n - 1.0);
}

std::pair<double, double> percentile_interval(std::vector<double> v) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return {kNaN, kNaN};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))]; };
  return {at(0.025), at(0.975)};
}

double normal_cdf(double z) {
  return 0.5 * std::erfc(-z / std::sqrt(2.0));
}

std::pair<double, double> expanded_percentile_interval(std::vector<double> v, size_t n) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  if (n < 2) throw std::invalid_argument("expanded_percentile_interval: n must be >= 2");
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return !std::isfinite(x); }), v.end());
  if (v.empty()) return {kNaN, kNaN};
  std::sort(v.begin(), v.end());
  const double dn = static_cast<double>(n);
  const double q = normal_cdf(-std::sqrt(dn / (dn - 1.0)) * student_t_quantile(0.975, dn - 1.0));
  auto at = [&](double p) {
    return v[static_cast<size_t>(std::lround(p * static_cast<double>(v.size() - 1)))];
  };
  return {at(q), at(1.0 - q)};
}

Interval fieller_ratio_interval(const std::vector<double>& a, const std::vector<double>& b) {
  constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  Interval out{kNaN, kNaN, kNaN};
  if (a.empty() || b.empty()) return out;
  const double ma = mean(a), mb = mean(b);
  out.value = ma / mb;
  if (a.size() < 2 || b.size() < 2 || !std::isfinite(out.value)) return out;
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  const double va = std::pow(sample_stddev(a), 2) / na, vb = std::pow(sample_stddev(b), 2) / nb;
  const double r = out.value;
  // Welch–Satterthwaite df of the pivot's variance va + ρ²vb at ρ = r; with no
  // spread at all the ratio is known exactly (as far as these seeds go).
  const double num = va + r * r * vb;
  if (num == 0.0) {
    out.lo = out.hi = r;
    return out;
  }
  if (!std::isfinite(num)) return out;
  const double den = va * va / (na - 1.0) + std::pow(r * r * vb, 2) / (nb - 1.0);
  const double df = num * num / den;
  const double t2 = std::pow(student_t_quantile(0.975, df), 2);
  // (b̄² − t²vb)ρ² − 2āb̄ρ + (ā² − t²va) ≤ 0.
  const double qa = mb * mb - t2 * vb, qb = -2.0 * ma * mb, qc = ma * ma - t2 * va;
  const double disc = qb * qb - 4.0 * qa * qc;
  if (!(qa > 0.0) || disc < 0.0) {  // unbounded (b̄ not clearly non-zero)
    out.lo = -std::numeric_limits<double>::infinity();
    out.hi = std::numeric_limits<double>::infinity();
    return out;
  }
  const double root = std::sqrt(disc);
  out.lo = (-qb - root) / (2.0 * qa);
  out.hi = (-qb + root) / (2.0 * qa);
  return out;
}

std::vector<double> resampled(const std::vector<double>& x, std::mt19937_64& rng) {
  if (x.empty()) throw std::invalid_argument("resampled: nothing to resample");
  std::uniform_int_distribution<size_t> pick(0, x.size() - 1);
  std::vector<double> out(x.size());
  for (auto& v : out) v = x[pick(rng)];
  return out;
}

}  // namespace steepest
