#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "steepest/bench/results.h"
#include "steepest/bench/suite.h"

namespace steepest {
namespace {

nlohmann::json suite_json() {
  return {{"name", "t"},
          {"train", {{"steps", 40}, {"n_layer", 1}, {"n_embd", 32}, {"n_head", 2}, {"ctx", 16}}},
          {"optimizers",
           {{{"optimizer", "adamw"}},
            {{"optimizer", "muon"}},
            {{"label", "muon-pe"},
             {"optimizer", "muon"},
             {"opt", {{"orthogonalizer", "polar-express"}}}}}},
          {"lr_grid", {{"points", 3}, {"factor", 2.0}}},
          {"seeds", {7, 8, 9}},
          {"target_val_loss", 2.0}};
}

std::string error_of(const nlohmann::json& j) {
  try {
    suite_from_json(j);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(BenchSuite, EqualBudgetGridAroundEachDefault) {
  const auto s = suite_from_json(suite_json());
  ASSERT_EQ(s.optimizers.size(), 3u);
  const auto grid = lr_grid(s, s.optimizers[1]);
  ASSERT_EQ(grid.size(), 3u);
  EXPECT_DOUBLE_EQ(grid[0], 0.01);
  EXPECT_DOUBLE_EQ(grid[1], 0.02);  // muon's default in the middle
  EXPECT_DOUBLE_EQ(grid[2], 0.04);
  const auto tune = tuning_runs(s, "/r");
  std::map<std::string, int> per_label;
  for (const auto& r : tune) {
    ++per_label[r.label];
    EXPECT_EQ(r.seed, 7);  // tuning uses seeds[0]: the same data order for everyone
    EXPECT_EQ(r.config.out, "/r/runs/" + r.id);
    EXPECT_DOUBLE_EQ(r.config.lr, r.lr);
  }
  for (const auto& [label, n] : per_label) EXPECT_EQ(n, 3) << label;  // the same budget
  EXPECT_EQ(tune[6].config.opt.at("orthogonalizer"), "polar-express");
  const auto seeds = seed_runs(s, "/r", {0.003, 0.02, 0.04});
  ASSERT_EQ(seeds.size(), 6u);  // seeds 8 and 9 for each; 7 is the tuning run
  EXPECT_EQ(seeds[0].seed, 8);
  EXPECT_EQ(seeds[1].seed, 9);
  EXPECT_DOUBLE_EQ(seeds[5].lr, 0.04);
}

TEST(BenchSuite, BadSuitesAreNamed) {
  auto j = suite_json();
  j.erase("target_val_loss");
  EXPECT_NE(error_of(j).find("target_val_loss"), std::string::npos);
  j = suite_json();
  j["optimizers"].push_back({{"optimizer", "adamw"}});
  EXPECT_NE(error_of(j).find("appears twice"), std::string::npos);
  j = suite_json();
  j["train"]["lr"] = 0.1;
  EXPECT_NE(error_of(j).find("'lr'"), std::string::npos);
  j = suite_json();
  j["optimizers"][0]["optimizer"] = "adamx";
  EXPECT_NE(error_of(j).find("adamx"), std::string::npos);
  j = suite_json();
  j["optimizers"][1]["opt"] = {{"nope", 1}};
  EXPECT_NE(error_of(j).find("nope"), std::string::npos);
  j = suite_json();
  j["lr_grid"]["factor"] = 1.0;
  EXPECT_NE(error_of(j).find("factor"), std::string::npos);
  j = suite_json();
  j["seeds"] = {1, 1};
  EXPECT_NE(error_of(j).find("distinct"), std::string::npos);
  j = suite_json();
  j["colour"] = "red";
  EXPECT_NE(error_of(j).find("colour"), std::string::npos);
  // The adaptive search: its own keys and bounds, and never beside a grid.
  j = suite_json();
  j["lr_search"] = {{"trials", 5}};
  EXPECT_NE(error_of(j).find("either \"lr_grid\""), std::string::npos);
  j.erase("lr_grid");
  EXPECT_EQ(suite_from_json(j).lr_search_trials, 5);
  EXPECT_EQ(suite_from_json(j).lr_search_factor, 4.0);
  j["lr_search"]["trials"] = 2;
  EXPECT_NE(error_of(j).find("lr_search.trials"), std::string::npos);
  j["lr_search"] = {{"trials", 5}, {"factor", 1.0}};
  EXPECT_NE(error_of(j).find("lr_search.factor must be >= 1.01"), std::string::npos);
  j["lr_search"] = {{"trails", 5}};
  EXPECT_NE(error_of(j).find("trails"), std::string::npos);
}

// A wrongly typed value names its key's path, what it must be and what it is;
// never nlohmann's bare "type must be number, but is string".
// Issue #25: plans that cannot be meant are refused when the suite is read,
// not after running (or allocating) them.
TEST(BenchSuite, PlansBeyondTheBoundsAreRefused) {
  auto j = suite_json();
  j["lr_grid"]["factor"] = 1.00001;  // ids "lr0.003" for all three LRs
  EXPECT_NE(error_of(j).find("lr_grid.factor must be >= 1.01"), std::string::npos) << error_of(j);
  j = suite_json();
  j.erase("lr_grid");
  j["lr_search"] = {{"trials", 3}, {"factor", 1.0001}};
  EXPECT_NE(error_of(j).find("lr_search.factor must be >= 1.01"), std::string::npos);
  j = suite_json();
  j.erase("lr_grid");
  j["lr_search"] = {{"trials", 5}, {"factor", 1e10}};
  j["optimizers"] = {{{"optimizer", "adamw"}, {"lr", 1e300}}};
  EXPECT_NE(error_of(j).find("beyond [1e-30, 3.4e38]"), std::string::npos) << error_of(j);
  j = suite_json();
  j["optimizers"] = nlohmann::json::array();
  for (int i = 0; i < 20; ++i)
    j["optimizers"].push_back({{"label", "a" + std::to_string(i)}, {"optimizer", "adamw"}});
  j["lr_grid"] = {{"points", 1000}, {"factor", 1.05}};
  EXPECT_NE(error_of(j).find("more than 10000"), std::string::npos) << error_of(j);
}

TEST(BenchSuite, WrongTypesNameTheKeyPath) {
  const std::vector<std::pair<std::function<void(nlohmann::json&)>, std::string>> cases = {
      {[](auto& j) { j["optimizers"][2]["lr"] = "abc"; },
       "suite: key 'optimizers[2].lr' must be a finite number, got \"abc\""},
      {[](auto& j) { j["optimizers"][0]["label"] = 5; },
       "key 'optimizers[0].label' must be a string, got 5"},
      {[](auto& j) { j["optimizers"][1]["optimizer"] = true; },
       "key 'optimizers[1].optimizer' must be a string, got true"},
      {[](auto& j) {
         j["optimizers"][1]["opt"] = {1, 2};
       },
       "key 'optimizers[1].opt' must be an object"},
      {[](auto& j) { j["lr_grid"]["points"] = 2.5; },
       "key 'lr_grid.points' must be a whole number in [1, 1000], got 2.5"},
      {[](auto& j) { j["lr_grid"]["points"] = 1e30; }, "key 'lr_grid.points'"},
      {[](auto& j) { j["lr_grid"]["points"] = 0; }, "key 'lr_grid.points'"},
      {[](auto& j) { j["lr_grid"]["factor"] = "2"; },
       "key 'lr_grid.factor' must be a finite number, got \"2\""},
      {[](auto& j) {
         j["lr_grid"] = {1, 2};
       },
       "key 'lr_grid' must be an object"},
      {[](auto& j) { j["seeds"] = 3; }, "key 'seeds' must be a list"},
      {[](auto& j) {
         j["seeds"] = {1, "a"};
       },
       "key 'seeds[1]' must be a whole number"},
      {[](auto& j) {
         j["seeds"] = {1, 1e30};
       },
       "key 'seeds[1]' must be a whole number"},
      {[](auto& j) {
         j["seeds"] = {1, -2};
       },
       "key 'seeds[1]' must be a whole number"},
      {[](auto& j) { j["name"] = 5; }, "key 'name' must be a string"},
      {[](auto& j) { j["description"] = nullptr; }, "key 'description' must be a string"},
      {[](auto& j) { j["target_val_loss"] = "low"; }, "key 'target_val_loss' must be a finite"},
      {[](auto& j) { j["optimizers"][0]["lrr"] = 0.1; },
       "unknown key 'optimizers[0].lrr'; valid: optimizer, label, opt, lr"},
      {[](auto& j) { j["lr_grid"]["pionts"] = 3; }, "unknown key 'lr_grid.pionts'"},
      {[](auto& j) { j["optimizers"][0]["optimizer"] = "adamx"; },
       "suite: optimizers[0]: unknown optimizer 'adamx'"},
      {[](auto& j) {
         j["optimizers"][2]["opt"] = {{"nope", 1}};
       },
       "suite: optimizers[2]: "},
      {[](auto& j) { j["optimizers"][1]["label"] = "a\tb"; }, "control characters"},
      {[](auto& j) { j["optimizers"][1]["label"] = ""; }, "must not be empty"},
      {[](auto& j) { j["optimizers"][1]["lr"] = -1; }, "'optimizers[1].lr'"},
      {[](auto& j) { j["train"]["n_layer"] = "two"; }, "suite: train: "},
  };
  for (const auto& [edit, fragment] : cases) {
    auto j = suite_json();
    edit(j);
    const std::string error = error_of(j);
    EXPECT_NE(error.find(fragment), std::string::npos) << error;
    EXPECT_EQ(error.rfind("suite: ", 0), 0u) << error;  // the file (here "suite") comes first
  }
}

// Found by fuzz_bench_suite: parsed JSON keeps 0 as an unsigned number, which
// skipped the lower bound, so "points": 0 passed and made an empty LR grid.
TEST(BenchSuite, ParsedZeroPointsIsRefused) {
  auto j = suite_json();
  j["lr_grid"] = nlohmann::json::parse(R"({"points": 0, "factor": 3.0})");
  EXPECT_NE(error_of(j).find("key 'lr_grid.points' must be a whole number in [1, 1000], got 0"),
            std::string::npos)
      << error_of(j);
  j["lr_grid"] = nlohmann::json::parse(R"({"points": 1})");
  EXPECT_EQ(error_of(j), "(no error)");
}

// From a file: every error starts with the file's name, including JSON that
// does not parse and numbers too large for a double.
TEST(BenchSuite, FileErrorsNameTheFile) {
  const std::string path = ::testing::TempDir() + "/steepest_suite_x.json";
  auto error_of_file = [&](const std::string& text) {
    std::ofstream(path) << text;
    try {
      load_suite(path);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  auto j = suite_json();
  j["optimizers"][2]["lr"] = "abc";
  EXPECT_EQ(error_of_file(j.dump()).rfind("suite '" + path + "': key 'optimizers[2].lr'", 0), 0u);
  EXPECT_NE(error_of_file("{\"name\": ").find(path), std::string::npos);
  const std::string big = error_of_file(R"({"target_val_loss": 1e999})");
  EXPECT_NE(big.find(path), std::string::npos) << big;
  std::ofstream(path) << suite_json().dump();
  EXPECT_EQ(load_suite(path).optimizers.size(), 3u);
  std::remove(path.c_str());
}

// A results directory written by hand: the aggregation picks the best LR
// (failed trials never win), reuses the tuning run as the first seed, and
// computes steps-to-target, means and intervals.
TEST(BenchResults, AggregatesFakeRuns) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(::testing::TempDir()) / "steepest_bench_results";
  fs::remove_all(dir);
  fs::create_directories(dir / "runs");
  auto j = suite_json();
  j["optimizers"] = {{{"optimizer", "muon"}}};
  { std::ofstream(dir / "suite.json") << j.dump(); }
  const auto s = suite_from_json(j);
  auto write_run = [&](const BenchRun& r, std::vector<std::pair<int, double>> curve) {
    fs::create_directories(r.config.out);
    nlohmann::json c = nlohmann::json::array();
    for (auto [st, v] : curve) c.push_back({{"step", st}, {"val_loss", v}});
    nlohmann::json sum = {{"final_val_loss", curve.back().second},
                          {"best_val_loss", curve.back().second},
                          {"ms_per_step", 10.0},
                          {"optimizer_ms_per_step", 2.0},
                          {"tokens_per_s", 100.0},
                          {"optimizer_gemms_per_step", 90},
                          {"optimizer_flops_per_step", 1e6},
                          {"optimizer_state_bytes", 4096},
                          {"val_curve", c}};
    std::ofstream(fs::path(r.config.out) / "summary.json") << sum.dump();
  };
  const auto tune = tuning_runs(s, dir.string());  // lr 0.01, 0.02, 0.04
  write_run(tune[0], {{10, 2.5}, {20, 2.1}});
  write_run(tune[1], {{10, 2.2}, {20, 1.9}});  // best
  std::ofstream(tune[2].config.out + ".failed.json") << R"({"error": "non-finite loss at step 3"})";
  auto res = load_bench_results(dir.string());
  ASSERT_EQ(res.optimizers.size(), 1u);
  auto o = res.optimizers[0];
  EXPECT_EQ(o.trials[2].status, RunStatus::Failed);
  EXPECT_TRUE(std::isinf(o.trials[2].final_val_loss));
  EXPECT_DOUBLE_EQ(o.best_lr, 0.02);
  EXPECT_FALSE(o.best_lr_at_edge);
  EXPECT_EQ(o.final_losses.size(), 1u);  // seed runs not there yet
  EXPECT_EQ(res.finished_runs, 3);
  EXPECT_EQ(res.total_runs, 5);
  const auto more = seed_runs(s, dir.string(), {0.02});
  write_run(more[0], {{10, 2.1}, {20, 1.8}});
  write_run(more[1], {{10, 1.95}, {20, 1.7}});
  res = load_bench_results(dir.string());
  o = res.optimizers[0];
  ASSERT_EQ(o.final_losses.size(), 3u);
  EXPECT_NEAR(o.final_mean, 1.8, 1e-12);
  EXPECT_NEAR(o.final_ci95, 4.3027 * 0.1 / std::sqrt(3.0), 1e-4);
  EXPECT_EQ(o.reached, 3);  // target 2.0: steps 20, 20, 10
  EXPECT_NEAR(o.steps_mean, 50.0 / 3.0, 1e-12);
  EXPECT_LT(o.p_below_target, 0.05);
  EXPECT_EQ(o.optimizer_gemms_per_step, 90);
  EXPECT_EQ(best_trial({}), -1);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace steepest
