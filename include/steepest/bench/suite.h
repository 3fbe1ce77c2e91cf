// A benchmark suite: one model/data config, a step budget, a list of
// optimizers, the learning-rate grid rule, the seeds and a target val loss —
// and the runs that make the comparison fair: every optimizer gets the same
// number of LR trials around its own default, then its best LR on every seed.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "steepest/train/config.h"

namespace steepest {

struct BenchOptimizer {
  std::string label;      // unique in the suite; names runs and chart series
  std::string optimizer;  // a `steepest optimizers` name
  nlohmann::json opt = nlohmann::json::object();  // its hyperparameters
  double center_lr = 0;  // the grid's center: "lr" in the suite, else the optimizer's default
};

struct BenchSuite {
  std::string name, description;
  TrainConfig train;  // everything but optimizer, opt, lr, seed, out
  std::vector<BenchOptimizer> optimizers;
  int lr_points = 5;       // LR trials per optimizer (the tuning budget)
  double lr_factor = 2.0;  // neighbouring grid points differ by this factor
  // "lr_search": {"trials": N, "factor": F}: an adaptive search of N trials per
  // optimizer (bench/lr_search.h: a ×F bracket, extension past an edge,
  // refinement) instead of the grid above; 0 = the grid.
  int lr_search_trials = 0;
  double lr_search_factor = 4.0;
  std::vector<int64_t> seeds = {1, 2, 3};  // the best LR runs on each; seeds[0] also tunes
  double target_val_loss = 0;
  nlohmann::json source;  // the suite file as read
};

// Reads and checks a suite file. Errors (std::invalid_argument) name the file,
// the key's path, what it must be and the value found, e.g.
// suite 'x.json': key 'optimizers[2].lr' must be a finite number, got "abc";
// unknown keys (also inside optimizers entries and lr_grid) are named.
BenchSuite load_suite(const std::string& path);
BenchSuite suite_from_json(const nlohmann::json& j, const std::string& where = "suite");

// The learning rates tried for one optimizer: center·factor^(k − (points−1)/2).
std::vector<double> lr_grid(const BenchSuite& suite, const BenchOptimizer& o);

enum class BenchPhase { Tune, Seed };

struct BenchRun {
  std::string id;  // "<label>_lr<lr>_s<seed>", a directory name
  std::string label;
  double lr = 0;
  int64_t seed = 0;
  BenchPhase phase = BenchPhase::Tune;
  TrainConfig config;  // out = <results>/runs/<id>
};

// A learning rate as run ids and tables write it ("%.4g").
std::string lr_text(double lr);

// The most runs a suite or a sweep may plan: more is a typo (a 10^7-run plan
// would not fit in memory), and a bench that size would take months.
constexpr int64_t kMaxPlannedRuns = 10000;

// One run of optimizer `o` at (lr, seed): the suite's train config with the
// optimizer, lr and seed set, out = <results_dir>/runs/<id>, id
// "<label>[_<tag>]_lr<lr>_s<seed>" (a sweep tags its size, e.g. "n_embd64").
BenchRun make_run(const BenchSuite& suite, const BenchOptimizer& o, double lr, int64_t seed,
                  BenchPhase phase, const std::string& results_dir, const std::string& tag = "");

// Phase 1 of a grid suite: every optimizer × every grid LR, with seeds[0]
// (adaptive suites: tuning_plan in bench/results.h; this throws for them).
std::vector<BenchRun> tuning_runs(const BenchSuite& suite, const std::string& results_dir);
// Phase 2: each optimizer's best LR on seeds[1..]; seeds[0] is its tuning run.
std::vector<BenchRun> seed_runs(const BenchSuite& suite, const std::string& results_dir,
                                const std::vector<double>& best_lr);  // one per optimizer

}  // namespace steepest
