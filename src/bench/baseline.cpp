#include "steepest/bench/baseline.h"

#include "bench/table_text.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace steepest {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

using detail::number_text;

// "(lo … hi)"; "(unbounded)" where Fieller's set is not an interval, and
// nothing where there is no interval (fewer than 2 seeds on a side).
std::string ratio_interval_text(const Interval& v) {
  if (std::isnan(v.lo)) return "";
  if (std::isinf(v.lo)) return "(unbounded)";
  return "(" + number_text("%.2f", v.lo) + " … " + number_text("%.2f", v.hi) + ")";
}

std::vector<double> as_doubles(const std::vector<int64_t>& v) {
  return std::vector<double>(v.begin(), v.end());
}

const RunResult* seed_run(const OptimizerResult& o, int64_t seed) {
  for (const auto& r : o.seeds)
    if (r.run.seed == seed && r.status == RunStatus::Done) return &r;
  return nullptr;
}

}  // namespace

const OptimizerResult* find_optimizer(const BenchResults& r, const std::string& label) {
  for (const auto& o : r.optimizers)
    if (o.optimizer.label == label) return &o;
  return nullptr;
}

Interval steps_speedup(const OptimizerResult& base, const OptimizerResult& o, std::string* why) {
  const size_t nb = base.final_losses.size(), no = o.final_losses.size();
  if (nb == 0 || no == 0 || base.steps_to_target.size() < nb || o.steps_to_target.size() < no) {
    if (why)
      *why = "target reached by " + base.optimizer.label + " on " + std::to_string(base.reached) +
             "/" + std::to_string(nb) + " seeds, by " + o.optimizer.label + " on " +
             std::to_string(o.reached) + "/" + std::to_string(no);
    return {kNaN, kNaN, kNaN};
  }
  Interval v =
      fieller_ratio_interval(as_doubles(base.steps_to_target), as_doubles(o.steps_to_target));
  // Steps are positive, so is their ratio: the interval's part below 0 is empty.
  if (std::isfinite(v.lo)) v.lo = std::max(v.lo, 0.0);
  if (why) why->clear();
  return v;
}

std::vector<AgainstBaseline> compare_to_baseline(const BenchResults& r,
                                                 const std::string& baseline) {
  const auto* base = find_optimizer(r, baseline);
  auto finished = [](const OptimizerResult& o) {
    for (const auto& run : o.seeds)
      if (run.status == RunStatus::Done) return true;
    return false;
  };
  if (base == nullptr || !finished(*base)) {
    std::string labels;
    for (const auto& o : r.optimizers) labels += (labels.empty() ? "" : ", ") + o.optimizer.label;
    throw std::invalid_argument("--baseline '" + baseline + "': " +
                                (base == nullptr
                                     ? "no optimizer of that label in '" + r.dir + "'"
                                     : "it has no finished seed runs in '" + r.dir + "' yet") +
                                " (labels: " + labels + ")");
  }
  std::vector<AgainstBaseline> out;
  for (const auto& o : r.optimizers) {
    if (o.optimizer.label == baseline || o.final_losses.empty()) continue;
    AgainstBaseline a;
    a.label = o.optimizer.label;
    for (const auto& run : o.seeds) a.failed_seeds += run.status == RunStatus::Failed;
    std::vector<double> diffs;
    for (const auto& b : base->seeds) {
      if (b.status != RunStatus::Done) continue;
      if (const auto* mine = seed_run(o, b.run.seed))
        diffs.push_back(mine->final_val_loss - b.final_val_loss);
    }
    a.paired_seeds = static_cast<int>(diffs.size());
    const double h = ci95_half_width(diffs);
    a.loss_difference = {mean(diffs), mean(diffs) - h, mean(diffs) + h};
    a.p_two_sided = two_sided_p_zero_mean(diffs);
    a.speedup = steps_speedup(*base, o, &a.speedup_note);
    out.push_back(a);
  }
  return out;
}

std::vector<std::string> baseline_header(const std::string& baseline) {
  return {"optimizer", "Δ final val loss vs " + baseline + " (mean, 95% CI)", "seeds",
          "p (paired t)", "speed-up in steps to target (95% CI)"};
}

std::vector<std::vector<std::string>> baseline_rows(const std::vector<AgainstBaseline>& rows) {
  std::vector<std::vector<std::string>> out;
  for (const auto& a : rows) {
    const auto& d = a.loss_difference;
    std::string diff = number_text("%+.4f", d.value);
    if (std::isfinite(d.lo))
      diff += " (" + number_text("%+.4f", d.lo) + " … " + number_text("%+.4f", d.hi) + ")";
    std::string speed = a.speedup_note;
    if (std::isfinite(a.speedup.value))
      speed = number_text("%.2f", a.speedup.value) + "×" +
              (std::isnan(a.speedup.lo) ? "" : " " + ratio_interval_text(a.speedup));
    std::string seeds = std::to_string(a.paired_seeds);
    if (a.failed_seeds > 0) seeds += " (" + std::to_string(a.failed_seeds) + " failed)";
    out.push_back({a.label, diff, seeds, number_text("%.3g", a.p_two_sided), speed});
  }
  return out;
}

std::string baseline_note(const std::string& baseline) {
  return "Δ < 0: lower loss than " + baseline +
         ". Differences are paired by seed (same initialization and batches) over the seeds "
         "both finished; failed runs are counted, not paired. CI: Student t, 95%; p: two-sided "
         "paired t-test. Speed-up: " +
         baseline +
         "'s mean steps to the target over the optimizer's (> 1: fewer steps), over every seed "
         "each finished, Fieller's 95% interval for a ratio of two means (t at Welch's df); "
         "\"(unbounded)\" where the steps vary too much to bound the ratio.";
}

std::string baseline_markdown(const std::vector<AgainstBaseline>& rows,
                              const std::string& baseline) {
  return "## Against " + baseline + "\n\n" +
         detail::markdown_table(baseline_header(baseline), baseline_rows(rows)) + "\n" +
         baseline_note(baseline) + "\n";
}

}  // namespace steepest
