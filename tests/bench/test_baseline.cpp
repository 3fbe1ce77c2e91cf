// Every optimizer against a baseline (bench/baseline.h): per-seed paired
// differences with hand-worked t intervals and p-values, pairing by seed when
// runs are missing, speed-ups in steps, and a named error for a bad baseline.
#include <gtest/gtest.h>

#include <cmath>

#include "steepest/bench/baseline.h"

namespace steepest {
namespace {

// An optimizer whose seed runs (seeds 1, 2, …) ended at `losses` and reached
// the target at `steps` (0: not reached); NaN loss: that seed never finished;
// infinite loss: it failed (diverged), stored as the results loader does.
OptimizerResult result(const std::string& label, const std::vector<double>& losses,
                       const std::vector<int64_t>& steps) {
  OptimizerResult o;
  o.optimizer.label = label;
  for (size_t i = 0; i < losses.size(); ++i) {
    RunResult r;
    r.run.seed = static_cast<int64_t>(i + 1);
    if (std::isnan(losses[i])) {
      o.seeds.push_back(r);  // Missing
      continue;
    }
    r.status = std::isinf(losses[i]) ? RunStatus::Failed : RunStatus::Done;
    r.final_val_loss = losses[i];
    if (steps[i] > 0) {
      r.steps_to_target = steps[i];
      o.steps_to_target.push_back(steps[i]);
    }
    o.final_losses.push_back(losses[i]);
    o.seeds.push_back(r);
  }
  o.reached = static_cast<int>(o.steps_to_target.size());
  return o;
}

BenchResults suite_of(std::vector<OptimizerResult> opts) {
  BenchResults r;
  r.dir = "results/x";
  r.optimizers = std::move(opts);
  return r;
}

TEST(AgainstBaseline, PairedDifferenceIntervalAndPValue) {
  // Differences 0.02, 0.01, 0.03: mean 0.02, s 0.01; t(0.975, 2) = 4.302653,
  // half-width 4.302653·0.01/√3; t = 0.02/(0.01/√3) = 2√3 and, for 2 degrees of
  // freedom, P(T > t) = (1 − t/√(2 + t²))/2, so p = 1 − 2√3/√14.
  const auto r = suite_of({result("muon", {1.50, 1.60, 1.55}, {200, 200, 200}),
                           result("x", {1.52, 1.61, 1.58}, {160, 160, 160})});
  const auto rows = compare_to_baseline(r, "muon");
  ASSERT_EQ(rows.size(), 1u);
  const auto& x = rows[0];
  EXPECT_EQ(x.label, "x");
  EXPECT_EQ(x.paired_seeds, 3);
  EXPECT_NEAR(x.loss_difference.value, 0.02, 1e-12);
  const double h = 4.302652729911275 * 0.01 / std::sqrt(3.0);
  EXPECT_NEAR(x.loss_difference.lo, 0.02 - h, 1e-9);
  EXPECT_NEAR(x.loss_difference.hi, 0.02 + h, 1e-9);
  EXPECT_NEAR(x.p_two_sided, 1.0 - 2.0 * std::sqrt(3.0) / std::sqrt(14.0), 1e-9);
  EXPECT_DOUBLE_EQ(x.speedup.value, 1.25);  // 200 / 160, no spread over seeds
  EXPECT_DOUBLE_EQ(x.speedup.lo, 1.25);
  EXPECT_TRUE(x.speedup_note.empty());
}

TEST(AgainstBaseline, PairsBySeedAndExplainsAMissingSpeedUp) {
  // x's seed 2 never finished and its seed 3 missed the target: two pairs
  // (seeds 1 and 3: differences −0.1 and −0.3), no speed-up, and the reason.
  const auto r = suite_of({result("x", {1.4, NAN, 1.2}, {100, 0, 0}),
                           result("muon", {1.5, 1.6, 1.5}, {200, 200, 200})});
  const auto rows = compare_to_baseline(r, "muon");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].paired_seeds, 2);
  EXPECT_NEAR(rows[0].loss_difference.value, -0.2, 1e-12);
  EXPECT_TRUE(std::isnan(rows[0].speedup.value));
  EXPECT_NE(rows[0].speedup_note.find("x on 1/2"), std::string::npos) << rows[0].speedup_note;
  const std::string md = baseline_markdown(rows, "muon");
  EXPECT_NE(md.find("## Against muon"), std::string::npos);
  EXPECT_NE(md.find("| x | -0.2000 ("), std::string::npos) << md;
}

TEST(AgainstBaseline, OneSeedHasNoIntervalAndBadBaselinesAreNamed) {
  const auto r = suite_of({result("muon", {1.5}, {200}), result("x", {1.4}, {100})});
  const auto rows = compare_to_baseline(r, "muon");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_TRUE(std::isnan(rows[0].loss_difference.lo));
  EXPECT_TRUE(std::isnan(rows[0].p_two_sided));
  try {
    compare_to_baseline(r, "adamw");
    FAIL() << "an unknown baseline was accepted";
  } catch (const std::invalid_argument& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'adamw'"), std::string::npos) << what;
    EXPECT_NE(what.find("labels: muon, x"), std::string::npos) << what;
  }
  // A baseline whose runs all failed or never finished cannot be compared with.
  for (double loss : {NAN, INFINITY}) {
    const auto broken = suite_of({result("muon", {loss}, {0}), result("x", {1.4}, {100})});
    try {
      compare_to_baseline(broken, "muon");
      FAIL() << "a baseline without a finished run was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("no finished seed runs"), std::string::npos) << e.what();
    }
  }
}

TEST(AgainstBaseline, FailedSeedsAreCountedNotPaired) {
  // x diverged on seed 2: paired on seeds 1 and 3 only, the failure shown.
  const auto r = suite_of({result("muon", {1.5, 1.6, 1.5}, {200, 200, 200}),
                           result("x", {1.4, INFINITY, 1.3}, {100, 0, 100})});
  const auto rows = compare_to_baseline(r, "muon");
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].paired_seeds, 2);
  EXPECT_EQ(rows[0].failed_seeds, 1);
  EXPECT_NEAR(rows[0].loss_difference.value, -0.15, 1e-12);
  EXPECT_TRUE(std::isnan(rows[0].speedup.value));  // a failed seed never reached the target
  EXPECT_EQ(baseline_rows(rows)[0][2], "2 (1 failed)");
}

TEST(AgainstBaseline, SpeedUpIntervalSpansTheSeedSpread) {
  // Steps 100/200/300 against 100/100/100: the ratio is 2. Fieller's interval
  // with 3 seeds (t at 2 df, 4.30) reaches well past the observed 1 … 3, where
  // a percentile bootstrap stopped: with so few seeds the ratio is barely bounded.
  const auto r = suite_of({result("base", {1.6, 1.6, 1.6}, {100, 200, 300}),
                           result("x", {1.5, 1.5, 1.5}, {100, 100, 100})});
  const auto rows = compare_to_baseline(r, "base");
  ASSERT_EQ(rows.size(), 1u);
  const auto& v = rows[0].speedup;
  EXPECT_DOUBLE_EQ(v.value, 2.0);
  // (ā − ρb̄)² = t²·va with b̄ fixed: ρ = 2 ± t·√(10000/3)/100 = 2 ± 2.48, the
  // part below 0 cut off (a ratio of step counts is positive).
  const double half = student_t_quantile(0.975, 2.0) * std::sqrt(10000.0 / 3.0) / 100.0;
  EXPECT_EQ(v.lo, 0.0);
  EXPECT_NEAR(v.hi, 2.0 + half, 1e-9);
  EXPECT_NE(baseline_rows(rows)[0][4].find("2.00× (0.00 … 4.48)"), std::string::npos)
      << baseline_rows(rows)[0][4];
  // The same difference (−0.1) on every seed: no spread, so the test rejects 0.
  EXPECT_NEAR(rows[0].loss_difference.value, -0.1, 1e-12);
  EXPECT_LT(rows[0].p_two_sided, 1e-6);
}

}  // namespace
}  // namespace steepest
