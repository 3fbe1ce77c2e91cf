#include "steepest/bench/lr_search.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

#include "steepest/bench/suite.h"
#include "util/parse_number.h"

namespace steepest {
namespace {

// As run ids write a learning rate (lr_text), so that a replayed search finds its runs.
double rounded(double lr) {
  return detail::parse_double(lr_text(lr)).value_or(lr);
}

bool tried_already(const std::vector<LrTrial>& tried, double lr) {
  return std::any_of(tried.begin(), tried.end(),
                     [&](const LrTrial& t) { return std::abs(t.lr - lr) <= 1e-9 * lr; });
}

double loss_or_inf(const LrTrial& t) {
  return t.loss && std::isfinite(*t.loss) ? *t.loss : INFINITY;
}

}  // namespace

int best_lr_trial(const std::vector<LrTrial>& tried) {
  int best = -1;
  for (size_t i = 0; i < tried.size(); ++i) {
    if (!std::isfinite(loss_or_inf(tried[i]))) continue;
    const auto b = static_cast<size_t>(best);
    if (best < 0 || loss_or_inf(tried[i]) < loss_or_inf(tried[b]) ||
        (loss_or_inf(tried[i]) == loss_or_inf(tried[b]) && tried[i].lr < tried[b].lr))
      best = static_cast<int>(i);
  }
  return best;
}

bool best_lr_on_edge(const std::vector<LrTrial>& tried) {
  const int best = best_lr_trial(tried);
  if (best < 0 || tried.size() < 2) return false;
  const double lr = tried[static_cast<size_t>(best)].lr;
  const auto [lo, hi] = std::minmax_element(
      tried.begin(), tried.end(), [](const LrTrial& a, const LrTrial& b) { return a.lr < b.lr; });
  return lr == lo->lr || lr == hi->lr;
}

std::vector<double> next_lr_trials(const std::vector<LrTrial>& tried, double center,
                                   const LrSearchRule& rule) {
  if (rule.trials < 3) throw std::invalid_argument("lr_search: trials must be >= 3");
  if (!(rule.factor > 1.0)) throw std::invalid_argument("lr_search: factor must be > 1");
  if (!(center > 0.0)) throw std::invalid_argument("lr_search: the center LR must be > 0");
  if (tried.empty())
    return {rounded(center / rule.factor), rounded(center), rounded(center * rule.factor)};
  if (static_cast<int>(tried.size()) >= rule.trials) return {};
  std::vector<LrTrial> sorted = tried;
  std::sort(sorted.begin(), sorted.end(),
            [](const LrTrial& a, const LrTrial& b) { return a.lr < b.lr; });
  const int best = best_lr_trial(sorted);
  // Every trial failed: the LRs are too large; go below the smallest.
  if (best < 0) return {rounded(sorted.front().lr / rule.factor)};
  const auto b = static_cast<size_t>(best);
  const double lr = sorted[b].lr;
  if (b == 0) return {rounded(lr / rule.factor)};
  if (b + 1 == sorted.size()) return {rounded(lr * rule.factor)};
  // Interior: halve (in log space) the gap towards the better neighbour first.
  const LrTrial& lo = sorted[b - 1];
  const LrTrial& hi = sorted[b + 1];
  const bool lower_first = loss_or_inf(lo) <= loss_or_inf(hi);
  for (const LrTrial* n : lower_first ? std::vector<const LrTrial*>{&lo, &hi}
                                      : std::vector<const LrTrial*>{&hi, &lo}) {
    // LRs rounded to 4 digits put a √2 gap anywhere within ±8.2e-4 of √2
    // (0.02/0.01414 = 1.41443): the tolerance must exceed that rounding.
    if (std::max(n->lr, lr) / std::min(n->lr, lr) < std::sqrt(2.0) * (1 + 1e-3)) continue;
    const double mid = rounded(std::sqrt(n->lr * lr));
    if (!tried_already(sorted, mid)) return {mid};
  }
  return {};  // resolved to within √2 on both sides: nothing left worth a run
}

}  // namespace steepest
