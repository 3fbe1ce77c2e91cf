// Rankings across scales (bench/scales.h): Kendall's τ-b against hand-worked
// values (scipy.stats.kendalltau gives the same), and a synthetic pair of
// scales whose ranking and speed-ups are known.
#include <gtest/gtest.h>

#include <cmath>

#include "steepest/bench/scales.h"

namespace steepest {
namespace {

TEST(KendallTau, MatchesHandWorkedValues) {
  EXPECT_DOUBLE_EQ(kendall_tau({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(kendall_tau({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  EXPECT_NEAR(kendall_tau({1, 2, 3}, {1, 3, 2}), 1.0 / 3.0, 1e-15);  // C 2, D 1
  // τ-b with a tie in a: C 2, D 0, pairs 3, one tied pair: 2/√(2·3).
  EXPECT_NEAR(kendall_tau({1, 1, 2}, {1, 2, 3}), 2.0 / std::sqrt(6.0), 1e-15);
  EXPECT_TRUE(std::isnan(kendall_tau({1}, {1})));
  EXPECT_TRUE(std::isnan(kendall_tau({1, 1}, {1, 2})));
  EXPECT_THROW(kendall_tau({1, 2}, {1}), std::invalid_argument);
}

OptimizerResult result(const std::string& label, std::vector<double> losses,
                       std::vector<int64_t> steps) {
  OptimizerResult o;
  o.optimizer.label = label;
  o.final_losses = std::move(losses);
  o.steps_to_target = std::move(steps);
  o.reached = static_cast<int>(o.steps_to_target.size());
  return o;
}

BenchResults scale(const std::string& name, std::vector<OptimizerResult> opts) {
  BenchResults r;
  r.suite.name = name;
  r.optimizers = std::move(opts);
  return r;
}

// Small: muon < lion < adamw; large: muon < adamw < lion (one swap: τ = 1/3).
// Muon's speed-up over AdamW: 300/100 = 3 at the small scale, 400/200 = 2 at
// the large one; Lion never reaches the target at the large one.
TEST(CompareScales, RanksSpeedUpsAndTheirIntervals) {
  const auto small = scale("small", {result("adamw", {2.0, 2.1, 2.2}, {300, 300, 300}),
                                     result("muon", {1.5, 1.6, 1.55}, {100, 100, 100}),
                                     result("lion", {1.9, 1.95, 1.92}, {200, 250, 220})});
  const auto large = scale("large", {result("adamw", {1.8, 1.85, 1.9}, {400, 400, 400}),
                                     result("muon", {1.4, 1.45, 1.42}, {200, 200, 200}),
                                     result("lion", {2.5, 2.6, 2.4}, {})});
  const auto c = compare_scales({small, large}, 500);
  ASSERT_EQ(c.labels, (std::vector<std::string>{"adamw", "muon", "lion"}));
  ASSERT_EQ(c.pairs.size(), 1u);
  EXPECT_NEAR(c.pairs[0].tau.value, 1.0 / 3.0, 1e-12);
  // The seeds never reorder muon and adamw, nor lion and adamw at either scale
  // (their ranges do not overlap), so the interval is the point.
  EXPECT_NEAR(c.pairs[0].tau.lo, 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(c.pairs[0].tau.hi, 1.0 / 3.0, 1e-12);
  ASSERT_EQ(c.speedups.size(), 2u);
  const auto& muon = c.speedups[0];
  EXPECT_EQ(muon.label, "muon");
  EXPECT_DOUBLE_EQ(muon.by_scale[0].value, 3.0);
  EXPECT_DOUBLE_EQ(muon.by_scale[1].value, 2.0);
  EXPECT_DOUBLE_EQ(muon.by_scale[1].lo, 2.0);  // no spread in either's steps
  const auto& lion = c.speedups[1];
  EXPECT_GT(lion.by_scale[0].hi, lion.by_scale[0].lo);  // its steps vary over seeds
  EXPECT_TRUE(std::isnan(lion.by_scale[1].value));
  EXPECT_NE(lion.note[1].find("lion on 0/3"), std::string::npos);
  const std::string md = scales_markdown(c);
  EXPECT_NE(md.find("| muon | 1.5500 (1) | 1.4233 (1) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 0.33 | 0.33 … 0.33 |"), std::string::npos) << md;
  EXPECT_NE(md.find("3.00× (3.00 … 3.00)"), std::string::npos) << md;
}

// Speed-ups over another optimizer: lion over muon, 100/200 = 0.5 at the small
// scale; a baseline missing from the scales is named with the labels there.
TEST(CompareScales, SpeedUpsOverAnotherBaseline) {
  const auto small = scale(
      "small", {result("adamw", {2.0, 2.1}, {300, 300}), result("muon", {1.5, 1.6}, {100, 100}),
                result("lion", {1.9, 1.95}, {200, 200})});
  const auto large = scale(
      "large", {result("adamw", {1.8, 1.85}, {400, 400}), result("muon", {1.4, 1.45}, {200, 200}),
                result("lion", {1.7, 1.75}, {300, 300})});
  const auto c = compare_scales({small, large}, 100, "muon");
  EXPECT_EQ(c.baseline, "muon");
  ASSERT_EQ(c.speedups.size(), 2u);
  EXPECT_EQ(c.speedups[1].label, "lion");
  EXPECT_DOUBLE_EQ(c.speedups[1].by_scale[0].value, 0.5);
  EXPECT_NE(scales_markdown(c).find("Speed-up over muon"), std::string::npos);
  EXPECT_TRUE(compare_scales({small, large}, 100, "").speedups.empty());
  try {
    compare_scales({small, large}, 100, "nadam");
    FAIL() << "a missing baseline was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("adamw, muon, lion"), std::string::npos) << e.what();
  }
}

TEST(CompareScales, NeedsTwoScalesAndSharedOptimizers) {
  const auto one = scale("a", {result("adamw", {2.0}, {}), result("muon", {1.5}, {})});
  EXPECT_THROW(compare_scales({one}), std::invalid_argument);
  const auto other = scale("b", {result("lion", {2.0}, {}), result("muon", {1.5}, {})});
  EXPECT_THROW(compare_scales({one, other}), std::invalid_argument);
}

}  // namespace
}  // namespace steepest
