// Rankings across scales (issue #16): the same optimizers benchmarked at two
// or more model sizes (one bench results directory each), compared by rank
// agreement (Kendall τ with a seed-resampling range) and by each
// optimizer's speed-up over AdamW (or another baseline) in steps to the
// target, per scale.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "steepest/bench/results.h"
#include "steepest/bench/stats.h"

namespace steepest {

// Kendall's τ-b between two score vectors of the same items (ties handled as
// τ-b does); NaN with fewer than 2 items or when either side is all ties.
double kendall_tau(const std::vector<double>& a, const std::vector<double>& b);

struct ScalePair {
  size_t a = 0, b = 0;  // indices into the scales
  Interval tau;         // of the optimizers' mean final val losses; lo/hi: seed-resampling range
};

struct SpeedUp {
  std::string label;
  std::vector<Interval>
      by_scale;  // the baseline's mean steps to target / this one's; NaN: not both reached
  std::vector<std::string> note;  // per scale: "" or why there is no figure
};

struct ScaleComparison {
  std::vector<std::string> scales;  // a name per results directory
  std::vector<std::string> labels;  // optimizers present at every scale, in the first's order
  std::vector<std::vector<double>> mean_loss;  // [scale][optimizer]
  std::vector<ScalePair> pairs;
  std::string baseline;           // the speed-ups' reference optimizer
  std::vector<SpeedUp> speedups;  // empty without a baseline
};

// Compares results directories (each a bench suite of the same optimizers at
// one scale). τ's range: the expanded percentile bootstrap over seeds (each
// optimizer's seed runs resampled with replacement, `resamples` times, fixed
// RNG seed; expanded for the fewest seeds behind a mean), which says how much
// the ranking depends on the seeds; its coverage of the true τ is measured,
// not nominal (docs/BENCH.md). Speed-ups: Fieller's interval (steps_speedup).
// Speed-ups are over `baseline` (a label; AdamW by default; "" for none),
// which must be among the optimizers finished at every scale.
// Throws std::invalid_argument when fewer than two scales or optimizers are shared.
ScaleComparison compare_scales(const std::vector<BenchResults>& scales, int resamples = 10000,
                               const std::string& baseline = "adamw");

// Markdown: losses by scale with each scale's ranks, τ per pair of scales,
// and the speed-up table.
std::string scales_markdown(const ScaleComparison& c);

// Writes scales_markdown(c) to `path` (a temporary file, then renamed).
void write_scales_markdown(const ScaleComparison& c, const std::string& path);

}  // namespace steepest
