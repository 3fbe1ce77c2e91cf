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
};

struct BenchCounts {
  int ran = 0, cached = 0, failed = 0;
  int cached_failed = 0;  // of `cached`: diverged runs recorded earlier
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
BenchCounts run_bench(const BenchSuite& suite, const BenchOptions& options);

// Runs a planned list of runs the same way (cached, resumable, `jobs` at a
// time), writing `suite_source` as the directory's suite.json; `phase` names
// the batch in the progress lines. For sweeps (steepest/bench/sweep.h).
BenchCounts run_planned(const std::vector<BenchRun>& runs, const nlohmann::json& suite_source,
                        const BenchOptions& options, const std::string& phase);

}  // namespace steepest
