#include "steepest/bench/results.h"

#include "steepest/bench/lr_search.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <stdexcept>

#include "steepest/bench/stats.h"
#include "steepest/train/config.h"

namespace fs = std::filesystem;

namespace steepest {

RunResult read_run(const BenchRun& run, double target) {
  RunResult r;
  r.run = run;
  const fs::path dir = run.config.out;
  const fs::path failed = dir.string() + ".failed.json";
  if (fs::exists(failed)) {
    r.status = RunStatus::Failed;
    try {
      const auto j = read_json_file(failed.string());
      r.error = j.is_object() && j.contains("error") && j["error"].is_string()
                    ? j["error"].get<std::string>()
                    : "failed";
    } catch (const std::exception& e) {
      r.error = std::string("failed (its record is damaged: ") + e.what() + ")";
    }
    r.final_val_loss = r.best_val_loss = std::numeric_limits<double>::infinity();
    return r;
  }
  if (!fs::exists(dir / "summary.json")) return r;
  nlohmann::json s;
  try {
    s = read_json_file((dir / "summary.json").string());
    s.at("final_val_loss").get<double>();
  } catch (const std::exception& e) {
    // A summary damaged outside the trainer (which writes it atomically).
    r.status = RunStatus::Failed;
    r.error =
        std::string("damaged summary.json (") + e.what() + "); rerun the bench to redo this run";
    r.final_val_loss = r.best_val_loss = std::numeric_limits<double>::infinity();
    return r;
  }
  r.status = RunStatus::Done;
  r.final_val_loss = s.at("final_val_loss").get<double>();
  r.best_val_loss = s.at("best_val_loss").get<double>();
  r.ms_per_step = s.value("ms_per_step", 0.0);
  r.optimizer_ms_per_step = s.value("optimizer_ms_per_step", 0.0);
  r.tokens_per_s = s.value("tokens_per_s", 0.0);
  r.optimizer_gemms_per_step = s.value("optimizer_gemms_per_step", int64_t{0});
  r.optimizer_state_bytes = s.value("optimizer_state_bytes", int64_t{0});
  r.optimizer_flops_per_step = s.value("optimizer_flops_per_step", 0.0);
  for (const auto& p : s.at("val_curve")) {
    const int64_t step = p.at("step").get<int64_t>();
    const double v = p.at("val_loss").get<double>();
    r.val_curve.emplace_back(step, v);
    if (!r.steps_to_target && v <= target) r.steps_to_target = step;
  }
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
  BenchResults res;
  res.dir = dir;
  res.suite = suite_from_json(read_json_file(suite_path.string()), suite_path.string());
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
