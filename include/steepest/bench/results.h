// What a benchmark results directory holds, read back and aggregated: per run
// (final/best val loss, steps to target, speed, optimizer cost) and per
// optimizer (best LR, mean and 95% CI over seeds, the one-sided test).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "steepest/bench/suite.h"

namespace steepest {

enum class RunStatus { Done, Failed, Missing };

struct RunResult {
  BenchRun run;
  RunStatus status = RunStatus::Missing;
  std::string error;  // Failed: the reason (e.g. "non-finite loss at step 37")
  double final_val_loss = 0, best_val_loss = 0;
  std::optional<int64_t> steps_to_target;  // first eval step with val loss <= target
  double ms_per_step = 0, optimizer_ms_per_step = 0, tokens_per_s = 0;
  int64_t optimizer_gemms_per_step = 0, optimizer_state_bytes = 0;
  double optimizer_flops_per_step = 0;
  std::vector<std::pair<int64_t, double>> val_curve;
};

struct OptimizerResult {
  BenchOptimizer optimizer;
  std::vector<RunResult> trials;  // the LR trials (tuning seed), by LR
  double best_lr = 0;
  bool best_lr_at_edge = false;           // the best LR is the smallest or largest tried
  std::vector<RunResult> seeds;           // best LR on every seed (seeds[0] = its tuning run)
  std::vector<double> final_losses;       // over finished seed runs
  double final_mean = 0, final_ci95 = 0;  // NaN CI with < 2 seeds
  std::vector<int64_t> steps_to_target;   // over seeds that reached it
  double steps_mean = 0, steps_ci95 = 0;  // over those
  int reached = 0;                        // seeds that reached the target
  double p_below_target = 0;              // one-sided t-test of final val loss < target
  double ms_per_step = 0, optimizer_ms_per_step = 0, tokens_per_s = 0;  // mean over seeds
  int64_t optimizer_gemms_per_step = 0, optimizer_state_bytes = 0;
  double optimizer_flops_per_step = 0;
};

struct BenchResults {
  BenchSuite suite;
  std::string dir;
  std::vector<OptimizerResult> optimizers;  // in suite order
  int finished_runs = 0, total_runs = 0;
};

// Reads one run's directory (summary.json, or failed.json written by the bench).
RunResult read_run(const BenchRun& run, double target_val_loss);

// The best LR of a tuning row: lowest final val loss (failed runs never win);
// ties go to the smaller LR. Returns the index, or -1 if every trial failed.
int best_trial(const std::vector<RunResult>& trials);

// Optimizer `index`'s tuning so far. Grid suites: every grid run. Adaptive
// suites ("lr_search"): the search replayed from the finished runs under dir,
// i.e. the trials it has chosen so far, the unfinished ones last. `pending`:
// chosen and not finished (run them, then ask again); `complete`: the budget
// is spent (or the search resolved) and every trial has finished.
struct TuningPlan {
  std::vector<RunResult> trials;  // sorted by LR
  std::vector<BenchRun> pending;
  bool complete = false;
};
TuningPlan tuning_plan(const BenchSuite& suite, size_t index, const std::string& dir);

// Reads <dir>/suite.json and every run the suite plans. Seed runs of an
// optimizer whose tuning is unfinished are left out. `target_val_loss`, when
// given, replaces the suite's target for steps to target (the tuning does not
// depend on it, so the same runs answer "how fast to another loss?").
BenchResults load_bench_results(const std::string& dir,
                                std::optional<double> target_val_loss = std::nullopt);

}  // namespace steepest
