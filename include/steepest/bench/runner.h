// `steepest bench`: runs a suite's trials as separate `steepest train`
// processes, caching every finished run in the results directory.
#pragma once

#include <string>

#include "steepest/bench/suite.h"

namespace steepest {

struct BenchOptions {
  std::string out;          // results directory
  int jobs = 1;             // runs at once
  int threads_per_run = 0;  // OpenBLAS threads of each run; 0 = max(1, cores / jobs)
  std::string exe;          // the steepest executable ("" = this process's own)
  bool report = true;       // write report.html / report.md at the end
  // Run into a directory whose suite.json is another suite's (its runs whose
  // configs differ are then run again and replaced).
  bool force = false;
};

struct BenchCounts {
  int ran = 0, cached = 0, failed = 0;
  int cached_failed = 0;  // of `cached`: diverged runs recorded earlier
  // Of `failed`: runs that failed for another reason than divergence (a full
  // disk, missing data): the environment's fault, not the optimizer's.
  int failed_environment = 0;
  std::string first_environment_failure;  // "<run id>: <its last error line>"
  // Runs that ended with a summary, now or in an earlier sitting.
  int succeeded() const { return ran + cached - cached_failed; }
};

// Phase 1 (LR trials), then phase 2 (best LR × remaining seeds), then the
// report. A run whose directory holds a summary.json (or that diverged) for
// the same config is never run again, so a killed bench picks up where it
// stopped; a run killed mid-way, or one that failed for any other reason than
// divergence (disk full, missing data, a signal), is started again from
// scratch. SIGINT/SIGTERM stop the running trainers before the bench exits,
// and one results directory takes one bench at a time (a lock file).
// A cached run must match on its planned config (configs/<id>.json) and on
// its own config.json (a run replaced by hand is run again), compared without
// the output path and thread count. Throws (after the report) when a run
// failed for another reason than divergence; phase 2 does not start then,
// since the best LR would be chosen among the survivors only. Refuses a
// directory whose suite.json is another suite's unless options.force.
BenchCounts run_bench(const BenchSuite& suite, const BenchOptions& options);

// Runs a planned list of runs the same way (cached, resumable, `jobs` at a
// time), writing `suite_source` as the directory's suite.json; `phase` names
// the batch in the progress lines. For sweeps (steepest/bench/sweep.h).
BenchCounts run_planned(const std::vector<BenchRun>& runs, const nlohmann::json& suite_source,
                        const BenchOptions& options, const std::string& phase);

}  // namespace steepest
