#include <gtest/gtest.h>

#include <cmath>
#include <set>
#include <stdexcept>

#include "steepest/bench/sweep.h"
#include "test_util.h"

namespace steepest {
namespace {

nlohmann::json sweep_json() {
  return {{"name", "t"},
          {"train", {{"n_layer", 2}, {"n_head", 2}, {"steps", 5}}},
          {"vary", {{"key", "n_embd"}, {"values", {16, 32, 64}}}},
          {"optimizers", {{{"optimizer", "adamw"}}, {{"optimizer", "modular"}}}},
          {"lr_grid", {{"points", 4}, {"factor", 2.0}}},
          {"seeds", {1, 2}}};
}

TEST(Sweep, PlansEveryOptimizerValueLrAndSeedOnOneGrid) {
  const auto s = sweep_from_json(sweep_json());
  EXPECT_EQ(s.vary, "n_embd");
  const auto runs = sweep_runs(s, "/tmp/x");
  ASSERT_EQ(runs.size(), 2u * 3 * 4 * 2);
  std::set<std::string> ids;
  for (const auto& r : runs) {
    ids.insert(r.id);
    EXPECT_EQ(r.config.lr, r.lr);
    EXPECT_EQ(r.config.seed, r.seed);
    EXPECT_EQ(r.config.n_layer, 2);
  }
  EXPECT_EQ(ids.size(), runs.size());
  // The same LRs at every width, centred on the optimizer's default.
  std::set<double> adamw_lrs;
  for (const auto& r : runs)
    if (r.label == "adamw" && r.config.n_embd == 64) adamw_lrs.insert(r.lr);
  const auto grid = lr_grid(s.base, s.base.optimizers[0]);
  EXPECT_EQ(adamw_lrs, std::set<double>(grid.begin(), grid.end()));
  EXPECT_EQ(runs.front().id, "adamw_n_embd16_lr" + std::string("0.001061") + "_s1");
}

TEST(Sweep, BadSuitesNameTheKey) {
  auto j = sweep_json();
  j["vary"]["key"] = "ctx";
  testing::expect_invalid_argument([&] { sweep_from_json(j, "f.json"); }, "vary.key");
  j = sweep_json();
  j["vary"]["values"] = {64, 32};
  testing::expect_invalid_argument([&] { sweep_from_json(j, "f.json"); }, "increasing");
  j = sweep_json();
  j["train"]["n_embd"] = 8;
  testing::expect_invalid_argument([&] { sweep_from_json(j, "f.json"); }, "must not set 'n_embd'");
  j = sweep_json();
  j.erase("vary");
  testing::expect_invalid_argument([&] { sweep_from_json(j, "f.json"); }, "needs \"vary\"");
  EXPECT_FALSE(is_sweep_suite(j));
  // Issue #25: every size must make a valid model, and the plan must be bounded.
  j = sweep_json();
  j["vary"]["values"] = {16, 30};
  testing::expect_invalid_argument([&] { sweep_from_json(j, "f.json"); },
                                   "vary.values[1] = 30 makes an invalid model");
  j = sweep_json();
  j["vary"]["values"] = {16, 100000};  // above n_embd's 65536
  testing::expect_invalid_argument([&] { sweep_from_json(j, "f.json"); },
                                   "vary.values[1] = 100000 makes an invalid model");
  j = sweep_json();
  j["vary"]["values"] = nlohmann::json::array();
  for (int v = 1; v <= 1000; ++v) j["vary"]["values"].push_back(2 * v);
  j["lr_grid"] = {{"points", 1000}, {"factor", 1.05}};
  testing::expect_invalid_argument([&] { sweep_from_json(j, "f.json"); }, "more than 10000");
}

// Best LR per width from synthetic results: mean over seeds, a diverged run
// never wins, the edge is marked, the shift is in grid steps.
TEST(Sweep, BestLrPerValueEdgeAndShift) {
  auto j = sweep_json();
  j["optimizers"] = {{{"optimizer", "adamw"}}};
  SweepResults r;
  r.suite = sweep_from_json(j);
  std::vector<RunResult> results;
  // Loss minimum at grid index 1 for width 16, 2 for 32, 3 (the edge) for 64.
  const std::map<int64_t, int> best = {{16, 1}, {32, 2}, {64, 3}};
  for (const auto& run : sweep_runs(r.suite, "/tmp/x")) {
    RunResult rr;
    rr.run = run;
    rr.status = RunStatus::Done;
    const auto grid = lr_grid(r.suite.base, r.suite.base.optimizers[0]);
    const int k = static_cast<int>(std::round(std::log2(run.lr / grid[0])));
    rr.final_val_loss = 2.0 + std::abs(k - best.at(run.config.n_embd)) + 0.01 * run.seed;
    // Seed 2 diverges at width 16's largest LR.
    if (run.config.n_embd == 16 && k == 3 && run.seed == 2) rr.status = RunStatus::Failed;
    results.push_back(rr);
  }
  r.curves = sweep_curves(r.suite, results);
  ASSERT_EQ(r.curves.size(), 3u);
  EXPECT_EQ(r.curves[0].best, 1);
  EXPECT_FALSE(r.curves[0].best_at_edge);
  EXPECT_TRUE(std::isinf(r.curves[0].mean_loss[3]));
  EXPECT_NEAR(r.curves[0].mean_loss[1], 2.015, 1e-12);  // mean over the two seeds
  EXPECT_EQ(r.curves[1].best, 2);
  EXPECT_EQ(r.curves[2].best, 3);
  EXPECT_TRUE(r.curves[2].best_at_edge);
  EXPECT_EQ(best_lr_shift(r, "adamw"), 2);
  const std::string md = sweep_markdown(r);
  EXPECT_NE(md.find("(edge)"), std::string::npos) << md;
  EXPECT_NE(md.find("| adamw |"), std::string::npos) << md;
}

}  // namespace
}  // namespace steepest
