// `steepest bench SUITE --out DIR` and `steepest report DIR`.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

#include "commands.h"
#include "steepest/bench/baseline.h"
#include "steepest/bench/report.h"
#include "steepest/bench/runner.h"
#include "steepest/bench/scales.h"
#include "steepest/bench/sweep.h"
#include "steepest/train/config.h"

namespace steepest::app {
namespace {

// --target when given (load_bench_results checks the value), else the suite's own.
std::optional<double> target_override(const CLI::Option* flag, double target) {
  return flag->count() > 0 ? std::optional<double>(target) : std::nullopt;
}

// The options `bench` and `sweep` share: the suite, where results go, how many
// runs at once and with how many threads, a dry run, and the report switch.
void add_runner_options(CLI::App* cmd, const std::shared_ptr<BenchOptions>& o,
                        const std::shared_ptr<std::string>& suite, const std::shared_ptr<bool>& dry,
                        const std::string& suite_help, const std::string& dry_help) {
  cmd->add_option("suite", *suite, suite_help)->required();
  cmd->add_option("--out", o->out, "results directory (finished runs there are never rerun)")
      ->required();
  cmd->add_option("--jobs", o->jobs, "runs at once (default 1)");
  cmd->add_option("--threads-per-run", o->threads_per_run,
                  "OpenBLAS threads of each run (0 = cores / jobs)");
  cmd->add_flag("--dry-run", *dry, dry_help);
  cmd->add_flag("!--no-report", o->report, "skip writing report.html / report.md at the end");
  cmd->add_flag("--force", o->force,
                "run into a results directory that holds another suite's results (its runs "
                "whose configs differ are run again and replaced)");
}

}  // namespace

namespace {
// A bench in which no run finished has no result: say so with a failing exit.
void require_a_success(const BenchCounts& c, const std::string& out) {
  if (c.succeeded() == 0 && c.ran + c.cached + c.failed > 0)
    throw std::runtime_error("every run failed, so there is no result; the first lines of " + out +
                             "/logs/*.log say why (a data path, the optimizer, or lrs too high)");
}
}  // namespace

void add_bench_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto suite = std::make_shared<std::string>();
  auto dry = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "bench",
      "Run a fair optimizer comparison: equal LR-tuning budget, several seeds, cost; resumable");
  add_runner_options(cmd, o, suite, dry, "suite JSON (e.g. benchmarks/suites/default.json)",
                     "print the planned LR trials and exit");
  cmd->callback([o, suite, dry] {
    const BenchSuite s = load_suite(*suite);
    if (*dry && s.lr_search_trials > 0) {
      for (size_t i = 0; i < s.optimizers.size(); ++i) {
        const auto plan = tuning_plan(s, i, o->out);
        std::printf("%s: adaptive LR search, %d trials (x%g bracket around %g); next:",
                    s.optimizers[i].label.c_str(), s.lr_search_trials, s.lr_search_factor,
                    s.optimizers[i].center_lr);
        for (const auto& r : plan.pending) std::printf(" lr=%g", r.lr);
        std::printf("%s\n", plan.complete ? " (none: tuned)" : "");
      }
      std::printf("then each optimizer's best LR on %zu more seeds\n", s.seeds.size() - 1);
      return;
    }
    if (*dry) {
      for (const auto& r : tuning_runs(s, o->out))
        std::printf("%-44s %s lr=%g seed=%lld\n", r.id.c_str(), r.config.optimizer.c_str(), r.lr,
                    static_cast<long long>(r.seed));
      std::printf("then each optimizer's best LR on seeds");
      for (size_t i = 1; i < s.seeds.size(); ++i)
        std::printf(" %lld", static_cast<long long>(s.seeds[i]));
      std::printf("\n");
      return;
    }
    const auto c = run_bench(s, *o);
    std::printf("bench done: %d runs ran, %d cached, %d failed; results in %s\n", c.ran, c.cached,
                c.failed, o->out.c_str());
    require_a_success(c, o->out);
  });
}

void add_report_command(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("report",
                                 "Write report.html (inline SVG charts) and report.md from a bench "
                                 "or sweep results directory");
  auto baseline = std::make_shared<std::string>();
  auto target = std::make_shared<double>(0.0);
  cmd->add_option("dir", *dir, "results directory of `steepest bench` or `steepest sweep`")
      ->required();
  auto* baseline_flag = cmd->add_option(
      "--baseline", *baseline,
      "bench: also compare every optimizer with this one (a label): per-seed "
      "difference in final val loss and speed-up in steps to target, 95% intervals");
  auto* target_flag = cmd->add_option(
      "--target", *target, "bench: steps to this val loss instead of the suite's target_val_loss");
  cmd->callback([dir, baseline, target, baseline_flag, target_flag] {
    const std::string suite = *dir + "/suite.json";
    if (std::ifstream(suite).good() && is_sweep_suite(read_json_file(suite))) {
      if (baseline_flag->count() + target_flag->count() > 0)
        throw std::invalid_argument("--baseline and --target apply to `steepest bench` results; '" +
                                    *dir + "' holds a sweep (its report compares sizes)");
      const auto results = load_sweep_results(*dir);
      for (const auto& f : write_sweep_report(results)) std::printf("wrote %s\n", f.c_str());
      std::cout << sweep_markdown(results);
      return;
    }
    const auto results = load_bench_results(*dir, target_override(target_flag, *target));
    const auto against = baseline->empty() ? std::vector<AgainstBaseline>{}
                                           : compare_to_baseline(results, *baseline);
    for (const auto& f : write_report(results, *baseline, against))
      std::printf("wrote %s\n", f.c_str());
    std::cout << summary_markdown(results);
    if (!baseline->empty()) std::cout << "\n" << baseline_markdown(against, *baseline);
  });
}

void add_compare_scales_command(CLI::App& app) {
  auto dirs = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand(
      "compare-scales",
      "Rank agreement (Kendall tau) and speed-ups over AdamW across bench results of the same "
      "optimizers at different model sizes");
  cmd->add_option("dirs", *dirs, "two or more `steepest bench` results directories, one per scale")
      ->required()
      ->expected(2, 1000);
  auto baseline = std::make_shared<std::string>("adamw");
  auto target = std::make_shared<double>(0.0);
  cmd->add_option("--out", *out, "also write the tables to this markdown file");
  auto* baseline_flag = cmd->add_option("--baseline", *baseline,
                                        "speed-ups over this optimizer (a label; default adamw "
                                        "when every scale has it)");
  auto* target_flag =
      cmd->add_option("--target", *target,
                      "steps to this val loss at every scale instead of each suite's own target");
  cmd->callback([dirs, out, baseline, target, baseline_flag, target_flag] {
    std::vector<BenchResults> scales;
    for (const auto& d : *dirs)
      scales.push_back(load_bench_results(d, target_override(target_flag, *target)));
    std::string base = *baseline;
    if (baseline_flag->count() == 0)  // the default: no speed-up table when a scale lacks adamw
      for (const auto& s : scales) {
        const auto* b = find_optimizer(s, base);
        if (b == nullptr || b->final_losses.empty()) base.clear();  // compare_scales' "finished"
      }
    const auto c = compare_scales(scales, 10000, base);
    std::cout << scales_markdown(c);
    if (!out->empty()) {
      write_scales_markdown(c, *out);
      std::printf("wrote %s\n", out->c_str());
    }
  });
}

void add_sweep_command(CLI::App& app) {
  auto o = std::make_shared<BenchOptions>();
  auto suite = std::make_shared<std::string>();
  auto dry = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "sweep",
      "Learning-rate transfer: every optimizer x width (or depth) x LR grid x seed; resumable");
  add_runner_options(cmd, o, suite, dry,
                     "sweep suite JSON (e.g. benchmarks/suites/transfer-width.json)",
                     "print the planned runs and exit");
  cmd->callback([o, suite, dry] {
    const SweepSuite s = load_sweep(*suite);
    const auto runs = sweep_runs(s, o->out);
    if (*dry) {
      for (const auto& r : runs)
        std::printf("%-48s %s lr=%g seed=%lld\n", r.id.c_str(), r.config.optimizer.c_str(), r.lr,
                    static_cast<long long>(r.seed));
      std::printf("%zu runs\n", runs.size());
      return;
    }
    const auto c = run_planned(runs, s.source, *o, "sweep");
    if (o->report) {
      const auto results = load_sweep_results(o->out);
      for (const auto& f : write_sweep_report(results)) std::printf("wrote %s\n", f.c_str());
      std::cout << sweep_markdown(results);
    }
    std::printf("sweep done: %d runs ran, %d cached, %d failed; results in %s\n", c.ran, c.cached,
                c.failed, o->out.c_str());
    require_a_success(c, o->out);
  });
}

}  // namespace steepest::app
