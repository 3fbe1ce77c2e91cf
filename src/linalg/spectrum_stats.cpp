#include "steepest/linalg/spectrum_stats.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <limits>

namespace steepest {
namespace {

// KS distance between the empirical CDF of the sorted tail and the fitted
// power law's CDF 1 − (x/xmin)^(1−α).
double ks_distance(const std::vector<double>& tail, double xmin, double alpha) {
  const double n = static_cast<double>(tail.size());
  double d = 0.0;
  for (size_t i = 0; i < tail.size(); ++i) {
    const double model = 1.0 - std::pow(tail[i] / xmin, 1.0 - alpha);
    d = std::max({d, std::abs(model - i / n), std::abs(model - (i + 1) / n)});
  }
  return d;
}

}  // namespace

PowerLawFit fit_power_law(std::vector<double> x, int64_t min_tail) {
  TORCH_CHECK(min_tail >= 2, "fit_power_law: min_tail must be >= 2, got ", min_tail);
  x.erase(
      std::remove_if(x.begin(), x.end(), [](double v) { return !(v > 0.0) || !std::isfinite(v); }),
      x.end());
  std::sort(x.begin(), x.end());
  PowerLawFit best;
  const int64_t n = static_cast<int64_t>(x.size());
  // Σ ln x over the tail from the back, so each candidate xmin costs O(tail).
  for (int64_t start = 0; start + min_tail <= n; ++start) {
    const double xmin = x[start];
    if (start > 0 && x[start - 1] == xmin) continue;  // ties: the first of them starts the tail
    double log_sum = 0.0;
    for (int64_t i = start; i < n; ++i) log_sum += std::log(x[i] / xmin);
    if (!(log_sum > 0.0)) continue;
    const double count = static_cast<double>(n - start);
    const double alpha = 1.0 + count / log_sum;
    const std::vector<double> tail(x.begin() + start, x.end());
    const double d = ks_distance(tail, xmin, alpha);
    if (best.n_tail == 0 || d < best.ks_distance) {
      best.alpha = alpha;
      best.xmin = xmin;
      best.ks_distance = d;
      best.n_tail = n - start;
    }
  }
  if (best.n_tail > 0) compare_with_exponential(x, best);
  return best;
}

void compare_with_exponential(const std::vector<double>& x, PowerLawFit& fit) {
  std::vector<double> tail;
  for (double v : x)
    if (v >= fit.xmin && std::isfinite(v)) tail.push_back(v);
  const double n = static_cast<double>(tail.size());
  fit.lr_exponential = 0.0;
  fit.lr_z = 0.0;
  fit.lr_p = 1.0;
  if (tail.size() < 2 || !(fit.alpha > 1.0) || !(fit.xmin > 0.0)) return;
  double excess = 0.0;
  for (double v : tail) excess += v - fit.xmin;
  if (!(excess > 0.0)) return;
  const double lambda = n / excess;
  std::vector<double> l;  // per-point log-likelihood ratios
  double sum = 0.0;
  for (double v : tail) {
    const double log_pl =
        std::log((fit.alpha - 1.0) / fit.xmin) - fit.alpha * std::log(v / fit.xmin);
    const double log_exp = std::log(lambda) - lambda * (v - fit.xmin);
    l.push_back(log_pl - log_exp);
    sum += l.back();
  }
  double var = 0.0;
  for (double v : l) var += (v - sum / n) * (v - sum / n);
  var /= n;
  fit.lr_exponential = sum;
  if (!(var > 0.0)) return;
  fit.lr_z = sum / std::sqrt(var * n);
  fit.lr_p = std::erfc(std::abs(fit.lr_z) / std::sqrt(2.0));
}

SpectrumStats spectrum_stats(const at::Tensor& W) {
  TORCH_CHECK(W.defined() && W.dim() == 2, "spectrum_stats: expects a matrix (m, n), got ",
              W.defined() ? W.sizes() : at::IntArrayRef{});
  TORCH_CHECK(at::isfinite(W).all().item<bool>(),
              "spectrum_stats: the matrix has NaN or Inf entries");
  const at::Tensor s = at::linalg_svdvals(W.to(at::kDouble)).contiguous();
  SpectrumStats r;
  r.singular_values.assign(s.data_ptr<double>(), s.data_ptr<double>() + s.numel());
  if (r.singular_values.empty()) return r;
  r.sigma_max = r.singular_values.front();
  r.sigma_min = r.singular_values.back();
  double sum_sq = 0.0, sum = 0.0;
  for (double v : r.singular_values) {
    sum_sq += v * v;
    sum += v;
  }
  if (r.sigma_max > 0.0) {
    r.stable_rank = sum_sq / (r.sigma_max * r.sigma_max);
    double entropy = 0.0;
    for (double v : r.singular_values)
      if (v > 0.0) entropy -= (v / sum) * std::log(v / sum);
    r.effective_rank = std::exp(entropy);
    // σ below max(m, n)·ε(W's dtype)·σ_max is rounding, not signal (the
    // numerical-rank rule of numpy's matrix_rank): the matrix is singular.
    const double eps = W.scalar_type() == at::kDouble ? std::numeric_limits<double>::epsilon()
                                                      : std::numeric_limits<float>::epsilon();
    const double floor = static_cast<double>(std::max(W.size(0), W.size(1))) * eps * r.sigma_max;
    r.condition_number =
        r.sigma_min > floor ? r.sigma_max / r.sigma_min : std::numeric_limits<double>::infinity();
  }
  std::vector<double> eigenvalues;
  for (double v : r.singular_values) eigenvalues.push_back(v * v);
  r.alpha = fit_power_law(eigenvalues);
  return r;
}

std::vector<double> quantiles(std::vector<double> values, const std::vector<double>& q) {
  TORCH_CHECK(!values.empty(), "quantiles: no values");
  std::sort(values.begin(), values.end());
  std::vector<double> out;
  for (double p : q) {
    TORCH_CHECK(p >= 0.0 && p <= 1.0, "quantiles: q must be in [0, 1], got ", p);
    const double pos = p * static_cast<double>(values.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, values.size() - 1);
    out.push_back(values[lo] + (pos - static_cast<double>(lo)) * (values[hi] - values[lo]));
  }
  return out;
}

}  // namespace steepest
