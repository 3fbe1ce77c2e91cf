// Every optimizer of one bench suite against a chosen baseline optimizer of
// the same suite (issue #16's claims table: "X is better than Muon", "Y needs
// N% fewer steps"): the per-seed difference in final val loss and the
// speed-up in steps to the target, each with a 95% interval over seeds.
#pragma once

#include <string>
#include <vector>

#include "steepest/bench/results.h"
#include "steepest/bench/stats.h"

namespace steepest {

// The optimizer labelled `label`, or nullptr.
const OptimizerResult* find_optimizer(const BenchResults& r, const std::string& label);

// `base`'s mean steps to target over `o`'s (> 1: `o` is faster), with
// Fieller's 95% interval (fieller_ratio_interval; the percentile bootstrap
// it replaced covered ~88% at 5 seeds). NaN value, and the reason in `why`,
// unless every finished seed of both reached the target; lo clipped at 0
// (steps are positive); ±inf lo/hi where the interval is unbounded, NaN where
// a side has one seed.
Interval steps_speedup(const OptimizerResult& base, const OptimizerResult& o, std::string* why);

struct AgainstBaseline {
  std::string label;
  int paired_seeds = 0;      // seeds on which both finished
  int failed_seeds = 0;      // this optimizer's seed runs that diverged or failed
  Interval loss_difference;  // mean of (this − baseline) final val loss over those
                             // seeds, Student-t 95% interval (paired by seed)
  double p_two_sided = 0;    // paired t-test of a zero mean difference
  Interval speedup;          // steps_speedup(baseline, this)
  std::string speedup_note;  // why there is no speed-up figure, or ""
};

// Every other optimizer with seed runs against `baseline` (one with only
// failed runs gets a row of dashes and its failure count); throws
// std::invalid_argument naming the labels when `baseline` is not in the suite
// or none of its seed runs finished.
std::vector<AgainstBaseline> compare_to_baseline(const BenchResults& r,
                                                 const std::string& baseline);

// The table's header and rows, for Markdown and HTML alike.
std::vector<std::string> baseline_header(const std::string& baseline);
std::vector<std::vector<std::string>> baseline_rows(const std::vector<AgainstBaseline>& rows);

// How to read the table (plain text, one paragraph).
std::string baseline_note(const std::string& baseline);

// A Markdown section: a heading line, the table and how to read it.
std::string baseline_markdown(const std::vector<AgainstBaseline>& rows,
                              const std::string& baseline);

}  // namespace steepest
