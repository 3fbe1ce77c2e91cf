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
  // Failed because its summary.json or failure record does not read back
  // (edited or damaged outside the trainer); `steepest bench` runs it again.
  bool damaged_record = false;
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

// What the bench reads back from a run's summary.json (TrainSummary::to_json
// in train/trainer.cpp writes it):
//   "final_val_loss", "best_val_loss": finite numbers (required);
//   "val_curve": [{"step": whole number >= 0, "val_loss": finite number}, ...]
//     (required, possibly empty);
//   "ms_per_step", "optimizer_ms_per_step", "tokens_per_s",
//   "optimizer_flops_per_step": finite numbers >= 0, "optimizer_gemms_per_step",
//   "optimizer_state_bytes": whole numbers >= 0 (optional: 0 when absent).
// Other keys are not read. Errors (std::invalid_argument) start with 'path'
// and name the key's path (e.g. 'val_curve[3].step'), what it must be and
// the value found; no nlohmann text, and no crash on any bytes.
struct RunSummary {
  double final_val_loss = 0, best_val_loss = 0;
  double ms_per_step = 0, optimizer_ms_per_step = 0, tokens_per_s = 0;
  double optimizer_flops_per_step = 0;
  int64_t optimizer_gemms_per_step = 0, optimizer_state_bytes = 0;
  std::vector<std::pair<int64_t, double>> val_curve;  // (step, val loss), in the file's order
};
RunSummary parse_run_summary(const std::string& text, const std::string& path);
RunSummary read_run_summary(const std::string& path);

// Reads one run's directory (summary.json, or failed.json written by the
// bench). A summary that does not read back (read_run_summary's error) makes
// the run Failed with damaged_record set and that error in `error`.
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
