// The adaptive LR search (bench/lr_search.h): it brackets, extends past an
// edge, refines, never exceeds its budget, and ends with an interior optimum
// whenever the budget allows one.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "steepest/bench/lr_search.h"

namespace steepest {
namespace {

// Runs the whole search against a loss curve; nullopt losses are failures.
std::vector<LrTrial> search(double center, const LrSearchRule& rule,
                            const std::function<std::optional<double>(double)>& loss) {
  std::vector<LrTrial> tried;
  for (int round = 0; round < 100; ++round) {
    const auto next = next_lr_trials(tried, center, rule);
    if (next.empty()) break;
    for (double lr : next) tried.push_back({lr, loss(lr)});
  }
  return tried;
}

// A basin in log LR with its minimum at `opt`.
std::function<std::optional<double>(double)> basin(double opt) {
  return [opt](double lr) { return std::optional<double>(std::pow(std::log(lr / opt), 2)); };
}

TEST(LrSearch, StartsWithACoarseBracketAroundTheCenter) {
  const auto first = next_lr_trials({}, 0.02, {7, 4.0});
  ASSERT_EQ(first.size(), 3u);
  EXPECT_DOUBLE_EQ(first[0], 0.005);
  EXPECT_DOUBLE_EQ(first[1], 0.02);
  EXPECT_DOUBLE_EQ(first[2], 0.08);
}

// An optimum 16× above the default (past the coarse bracket's top) and one
// 20× below: the search walks out, and with 7 trials ends interior and within
// a factor √2·… of the true optimum, i.e. at most one refined grid step away.
TEST(LrSearch, WalksPastEitherEdgeAndEndsInterior) {
  for (const double opt : {0.32, 0.001}) {
    const auto tried = search(0.02, {7, 4.0}, basin(opt));
    EXPECT_LE(tried.size(), 7u);
    EXPECT_FALSE(best_lr_on_edge(tried)) << "optimum " << opt;
    const double best = tried[static_cast<size_t>(best_lr_trial(tried))].lr;
    EXPECT_LT(std::abs(std::log(best / opt)), std::log(2.0))
        << "optimum " << opt << " best " << best;
  }
}

// An optimum inside the bracket: no extension, refinement towards it.
TEST(LrSearch, RefinesAnInteriorOptimum) {
  const auto tried = search(0.02, {5, 4.0}, basin(0.03));
  ASSERT_EQ(tried.size(), 5u);
  EXPECT_FALSE(best_lr_on_edge(tried));
  const double best = tried[static_cast<size_t>(best_lr_trial(tried))].lr;
  EXPECT_LT(std::abs(std::log(best / 0.03)), std::log(std::sqrt(2.0)) + 1e-9) << best;
}

// Runs above 0.05 diverge; the best usable LR is the largest that does not.
TEST(LrSearch, FailuresCountAsWorstAndEverythingFailingGoesLower) {
  const auto loss = [](double lr) -> std::optional<double> {
    if (lr > 0.05) return std::nullopt;
    return 1.0 / lr;  // would keep improving with LR
  };
  const auto tried = search(0.02, {7, 4.0}, loss);
  EXPECT_EQ(tried.size(), 7u);
  const double best = tried[static_cast<size_t>(best_lr_trial(tried))].lr;
  EXPECT_GT(best, 0.02);
  EXPECT_LE(best, 0.05);
  EXPECT_FALSE(best_lr_on_edge(tried));  // a failed larger LR bounds it
  // All three first trials failed: the next goes below the smallest.
  const std::vector<LrTrial> failed = {{0.005, {}}, {0.02, {}}, {0.08, {}}};
  EXPECT_EQ(next_lr_trials(failed, 0.02, {7, 4.0}), std::vector<double>{0.00125});
  EXPECT_EQ(best_lr_trial(failed), -1);
}

TEST(LrSearch, NeverExceedsTheBudgetAndStopsWhenResolved) {
  for (int budget : {3, 4, 9})
    EXPECT_LE(search(0.02, {budget, 4.0}, basin(0.1)).size(), size_t(budget));
  // Resolved to within √2 on both sides of the best: nothing left to try.
  const std::vector<LrTrial> fine = {{0.01, 2.0}, {0.013, 1.0}, {0.017, 2.0}};
  EXPECT_TRUE(next_lr_trials(fine, 0.013, {9, 4.0}).empty());
}

// The search's own midpoints are rounded to 4 digits, so √2 apart reads as
// 0.02/0.01414 = 1.41443 > √2: still resolved, no trial spent on 0.01682.
TEST(LrSearch, RoundedSqrt2GapsCountAsResolved) {
  const std::vector<LrTrial> tried = {
      {0.005, 3.0}, {0.01414, 1.5}, {0.02, 1.0}, {0.02828, 1.2}, {0.08, 3.0}};
  EXPECT_GT(0.02 / 0.01414, std::sqrt(2.0));
  EXPECT_TRUE(next_lr_trials(tried, 0.02, {9, 4.0}).empty());
  // A wider gap is still refined.
  const std::vector<LrTrial> coarse = {{0.005, 3.0}, {0.013, 1.5}, {0.02, 1.0}, {0.02828, 1.2}};
  EXPECT_EQ(next_lr_trials(coarse, 0.02, {9, 4.0}), std::vector<double>{0.01612});
}

TEST(LrSearch, RefusesABadRule) {
  EXPECT_THROW(next_lr_trials({}, 0.02, {2, 4.0}), std::invalid_argument);
  EXPECT_THROW(next_lr_trials({}, 0.02, {5, 1.0}), std::invalid_argument);
  EXPECT_THROW(next_lr_trials({}, 0.0, {5, 4.0}), std::invalid_argument);
}

}  // namespace
}  // namespace steepest
