#include "steepest/bench/results.h"

#include "steepest/bench/lr_search.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include "io/json_fields.h"
#include "steepest/bench/stats.h"
#include "steepest/bench/sweep.h"
#include "steepest/train/config.h"

namespace fs = std::filesystem;

namespace steepest {

namespace {

// A step count or a byte count: far below this in any real run.
constexpr int64_t kMaxCount = int64_t{1} << 53;

}  // namespace

RunSummary parse_run_summary(const std::string& text, const std::string& path) {
  const std::string where = "'" + path + "'";
  const nlohmann::json j = detail::parse_json(text, where);
  const detail::JsonFields f(where);
  if (!j.is_object()) f.fail("a run summary must be a JSON object, got " + detail::shown(j));
  RunSummary s;
  const std::string loss = "a finite number (a validation loss)";
  s.final_val_loss = f.number(f.need(j, "", "final_val_loss", loss), "final_val_loss");
  s.best_val_loss = f.number(f.need(j, "", "best_val_loss", loss), "best_val_loss");
  // Optional figures: older summaries lack some; 0 means "not measured".
  auto figure = [&](const char* key) {
    const auto it = j.find(key);
    if (it == j.end()) return 0.0;
    const double v = f.number(*it, key);
    if (v < 0) f.wrong(key, "a number >= 0", *it);
    return v;
  };
  auto count = [&](const char* key) {
    const auto it = j.find(key);
    return it == j.end() ? int64_t{0} : f.whole(*it, key, 0, kMaxCount);
  };
  s.ms_per_step = figure("ms_per_step");
  s.optimizer_ms_per_step = figure("optimizer_ms_per_step");
  s.tokens_per_s = figure("tokens_per_s");
  s.optimizer_flops_per_step = figure("optimizer_flops_per_step");
  s.optimizer_gemms_per_step = count("optimizer_gemms_per_step");
  s.optimizer_state_bytes = count("optimizer_state_bytes");
  const std::string curve_form = "a list of {\"step\": N, \"val_loss\": x}";
  const auto& curve = f.array(f.need(j, "", "val_curve", curve_form), "val_curve", curve_form, 0);
  for (size_t i = 0; i < curve.size(); ++i) {
    const std::string at = "val_curve[" + std::to_string(i) + "]";
    const auto& p = f.object(curve[i], at, "an object {\"step\": N, \"val_loss\": x}");
    const int64_t step =
        f.whole(f.need(p, at + ".", "step", "a whole number >= 0"), at + ".step", 0, kMaxCount);
    const double v = f.number(f.need(p, at + ".", "val_loss", loss), at + ".val_loss");
    s.val_curve.emplace_back(step, v);
  }
  return s;
}

RunSummary read_run_summary(const std::string& path) {
  return parse_run_summary(detail::read_text_file(path, "'" + path + "'"), path);
}

RunResult read_run(const BenchRun& run, double target) {
  RunResult r;
  r.run = run;
  const fs::path dir = run.config.out;
  const fs::path failed = dir.string() + ".failed.json";
  if (fs::exists(failed)) {
    r.status = RunStatus::Failed;
    try {
      const auto j = detail::read_json(failed.string());
      r.error = j.is_object() && j.contains("error") && j["error"].is_string()
                    ? j["error"].get<std::string>()
                    : "failed";
    } catch (const std::invalid_argument& e) {
      r.damaged_record = true;
      r.error = std::string("failed (its record is damaged: ") + e.what() + ")";
    }
    r.final_val_loss = r.best_val_loss = std::numeric_limits<double>::infinity();
    return r;
  }
  if (!fs::exists(dir / "summary.json")) return r;
  RunSummary s;
  try {
    s = read_run_summary((dir / "summary.json").string());
  } catch (const std::invalid_argument& e) {
    // A summary damaged outside the trainer (which writes it atomically).
    r.status = RunStatus::Failed;
    r.damaged_record = true;
    r.error = std::string("damaged summary.json: ") + e.what() +
              "; `steepest bench` with the same suite and --out runs it again";
    r.final_val_loss = r.best_val_loss = std::numeric_limits<double>::infinity();
    return r;
  }
  r.status = RunStatus::Done;
  r.final_val_loss = s.final_val_loss;
  r.best_val_loss = s.best_val_loss;
  r.ms_per_step = s.ms_per_step;
  r.optimizer_ms_per_step = s.optimizer_ms_per_step;
  r.tokens_per_s = s.tokens_per_s;
  r.optimizer_gemms_per_step = s.optimizer_gemms_per_step;
  r.optimizer_state_bytes = s.optimizer_state_bytes;
  r.optimizer_flops_per_step = s.optimizer_flops_per_step;
  r.val_curve = s.val_curve;
  for (const auto& [step, v] : r.val_curve)
    if (!r.steps_to_target && v <= target) r.steps_to_target = step;
  return r;
}

int best_trial(const std::vector<RunResult>& trials) {
  int best = -1;
  for (size_t i = 0; i < trials.size(); ++i) {
    const auto& t = trials[i];
    if (t.status != RunStatus::Done || !std::isfinite(t.final_val_loss)) continue;
    if (best < 0 || t.final_val_loss < trials[static_cast<size_t>(best)].final_val_loss)
      best = static_cast<int>(i);
  }
  return best;
}

namespace {

std::vector<LrTrial> as_lr_trials(const std::vector<RunResult>& runs) {
  std::vector<LrTrial> out;
  for (const auto& r : runs) {
    LrTrial t{r.run.lr, std::nullopt};
    if (r.status == RunStatus::Done && std::isfinite(r.final_val_loss)) t.loss = r.final_val_loss;
    out.push_back(t);
  }
  return out;
}

}  // namespace

TuningPlan tuning_plan(const BenchSuite& s, size_t index, const std::string& dir) {
  const BenchOptimizer& o = s.optimizers.at(index);
  TuningPlan plan;
  auto add = [&](double lr) {
    const BenchRun run = make_run(s, o, lr, s.seeds.front(), BenchPhase::Tune, dir);
    plan.trials.push_back(read_run(run, s.target_val_loss));
    if (plan.trials.back().status == RunStatus::Missing) plan.pending.push_back(run);
  };
  if (s.lr_search_trials == 0) {
    for (double lr : lr_grid(s, o)) add(lr);
    plan.complete = plan.pending.empty();
  } else {
    const LrSearchRule rule{s.lr_search_trials, s.lr_search_factor};
    for (;;) {
      const auto next = next_lr_trials(as_lr_trials(plan.trials), o.center_lr, rule);
      if (next.empty()) {
        plan.complete = true;
        break;
      }
      for (double lr : next) add(lr);
      if (!plan.pending.empty()) break;  // the search cannot go on before these finish
    }
  }
  std::stable_sort(plan.trials.begin(), plan.trials.end(),
                   [](const RunResult& a, const RunResult& b) { return a.run.lr < b.run.lr; });
  return plan;
}

BenchResults load_bench_results(const std::string& dir, std::optional<double> target_val_loss) {
  const fs::path suite_path = fs::path(dir) / "suite.json";
  if (!fs::exists(suite_path))
    throw std::invalid_argument("'" + dir +
                                "' is not a bench results directory (no suite.json); run "
                                "`steepest bench SUITE.json --out " +
                                dir + "` first");
  const nlohmann::json suite = detail::read_json(suite_path.string(), suite_path.string());
  if (is_sweep_suite(suite))
    throw std::invalid_argument(
        "'" + dir +
        "' holds `steepest sweep` results (its suite.json has \"vary\"), not `steepest bench` "
        "results: `steepest report " +
        dir +
        "` reports a sweep; compare-scales and `report --baseline/--target` take bench results "
        "directories (one `steepest bench SUITE.json --out DIR` per scale)");
  BenchResults res;
  res.dir = dir;
  res.suite = suite_from_json(suite, suite_path.string());
  if (target_val_loss) {
    if (!std::isfinite(*target_val_loss) || *target_val_loss <= 0) {
      char got[64];
      std::snprintf(got, sizeof(got), "%g", *target_val_loss);
      throw std::invalid_argument(std::string("--target must be a positive val loss, got ") + got +
                                  " (e.g. --target 1.6)");
    }
    res.suite.target_val_loss = *target_val_loss;
  }
  const auto& s = res.suite;
  std::vector<bool> tuned;
  for (size_t i = 0; i < s.optimizers.size(); ++i) {
    OptimizerResult out;
    out.optimizer = s.optimizers[i];
    const TuningPlan plan = tuning_plan(s, i, dir);
    out.trials = plan.trials;
    const int budget = s.lr_search_trials > 0 ? s.lr_search_trials : s.lr_points;
    res.total_runs += plan.complete ? static_cast<int>(plan.trials.size()) : budget;
    for (const auto& t : out.trials) res.finished_runs += t.status != RunStatus::Missing;
    res.total_runs += static_cast<int>(s.seeds.size()) - 1;
    tuned.push_back(plan.complete);
    res.optimizers.push_back(out);
  }
  for (size_t i = 0; i < res.optimizers.size(); ++i) {
    auto& out = res.optimizers[i];
    const int best = best_trial(out.trials);
    if (!tuned[i] || best < 0) continue;
    out.best_lr = out.trials[static_cast<size_t>(best)].run.lr;
    out.best_lr_at_edge = best_lr_on_edge(as_lr_trials(out.trials));
    out.seeds.push_back(out.trials[static_cast<size_t>(best)]);
    BenchSuite one = s;
    one.optimizers = {s.optimizers[i]};
    for (const auto& r : seed_runs(one, dir, {out.best_lr})) {
      out.seeds.push_back(read_run(r, s.target_val_loss));
      res.finished_runs += out.seeds.back().status != RunStatus::Missing;
    }
    std::vector<double> steps, ms, oms, tps;
    for (const auto& r : out.seeds) {
      if (r.status == RunStatus::Missing) continue;
      out.final_losses.push_back(r.final_val_loss);
      if (r.steps_to_target) {
        out.steps_to_target.push_back(*r.steps_to_target);
        steps.push_back(static_cast<double>(*r.steps_to_target));
      }
      if (r.status == RunStatus::Done) {
        ms.push_back(r.ms_per_step);
        oms.push_back(r.optimizer_ms_per_step);
        tps.push_back(r.tokens_per_s);
        out.optimizer_gemms_per_step = r.optimizer_gemms_per_step;
        out.optimizer_flops_per_step = r.optimizer_flops_per_step;
        out.optimizer_state_bytes = r.optimizer_state_bytes;
      }
    }
    out.final_mean = mean(out.final_losses);
    out.final_ci95 = ci95_half_width(out.final_losses);
    out.reached = static_cast<int>(steps.size());
    out.steps_mean = mean(steps);
    out.steps_ci95 = ci95_half_width(steps);
    out.p_below_target = one_sided_p_below(out.final_losses, s.target_val_loss);
    out.ms_per_step = mean(ms);
    out.optimizer_ms_per_step = mean(oms);
    out.tokens_per_s = mean(tps);
  }
  return res;
}

}  // namespace steepest
