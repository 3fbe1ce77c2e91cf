// `steepest spectrum --run DIR [--step S]`: a per-layer table of singular-value
// statistics. From the run's spectra.jsonl (train --spectra-every) when it has
// one: weight, momentum and update per hidden matrix at step S (default: the
// last recorded); otherwise from its checkpoint's weights (stable and
// effective rank, condition number, the heavy-tail exponent α of WᵀW).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bench/spectra_report.h"
#include "commands.h"
#include "run_loader.h"
#include "steepest/train/layer_spectra.h"

namespace steepest::app {
namespace {

// "10, 20, 30" or, for many, "10, 20, 30, …, 1390, 1400 (140 steps from 10 to 1400)".
std::string steps_text(const std::vector<int64_t>& steps) {
  auto join = [](auto first, auto last) {
    std::string s;
    for (auto it = first; it != last; ++it) s += (s.empty() ? "" : ", ") + std::to_string(*it);
    return s;
  };
  if (steps.size() <= 10) return join(steps.begin(), steps.end());
  return join(steps.begin(), steps.begin() + 3) + ", …, " + join(steps.end() - 2, steps.end()) +
         " (" + std::to_string(steps.size()) + " steps from " + std::to_string(steps.front()) +
         " to " + std::to_string(steps.back()) + ")";
}

// The records of one step of a spectra.jsonl as a table (or as they are);
// the last recorded step without `step`.
void print_recorded(const std::string& path, std::optional<int64_t> step, bool json) {
  const auto records = detail::read_spectra_jsonl(path);
  if (records.empty())
    throw std::invalid_argument("'" + path +
                                "' holds no records yet; wait for the first "
                                "--spectra-every step, or pass --from-checkpoint");
  const int64_t shown = step.value_or(records.back().step);
  std::vector<const detail::SpectraRecord*> rows;
  std::vector<int64_t> steps;  // distinct, in file order
  for (const auto& r : records) {
    if (r.step == shown) rows.push_back(&r);
    if (std::find(steps.begin(), steps.end(), r.step) == steps.end()) steps.push_back(r.step);
  }
  if (rows.empty())
    throw std::invalid_argument("--step " + std::to_string(shown) + " is not recorded in '" + path +
                                "'; recorded steps: " + steps_text(steps) +
                                " (leave --step out for the last)");
  if (json) {
    for (const auto* r : rows) std::cout << r->json.dump() << "\n";
    return;
  }
  std::printf(
      "%s, step %lld: %zu hidden matrices (alpha: Clauset MLE fit to the eigenvalues of "
      "X^T X; band: the msign output's [sigma_min, sigma_max]; align: <G, dW>/(|G||dW|))\n",
      path.c_str(), static_cast<long long>(shown), rows.size());
  std::printf("%-28s %9s %8s %7s %7s %9s %8s %7s %15s %7s\n", "matrix", "W s_max", "W st.rk",
              "W alpha", "M alpha", "dW s_max", "dW st.rk", "dW alph", "band", "align");
  for (const auto* r : rows) {
    const auto& w = r->weight;
    const auto& u = r->update;
    char band[40] = "-";
    if (r->msign_band)
      std::snprintf(band, sizeof(band), "[%.3f, %.3f]", (*r->msign_band)[0], (*r->msign_band)[1]);
    std::printf("%-28s %9.4g %8.2f %7.2f %7.2f %9.3g %8.2f %7.2f %15s %7.3f\n", r->name.c_str(),
                w.sigma_max, w.stable_rank, w.alpha,
                r->momentum ? r->momentum->alpha : std::nan(""), u.sigma_max, u.stable_rank,
                u.alpha, band, r->alignment);
  }
}

}  // namespace

void add_spectrum_command(CLI::App& app) {
  struct Args {
    std::string run;
    bool json = false, from_checkpoint = false;
    int64_t keep = 16, step = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "spectrum",
      "Per-layer singular-value statistics: of weight, momentum and update from the run's "
      "spectra.jsonl (train --spectra-every K), else of its checkpoint's weights (stable and "
      "effective rank, condition number, heavy-tail exponent alpha of W^T W)");
  cmd->add_option("--run", a->run, "run directory or checkpoint file")->required();
  cmd->add_flag("--json", a->json, "one JSON record per matrix instead of the table");
  cmd->add_option("--keep", a->keep,
                  "--json: all singular values up to 2*KEEP, else the top and bottom KEEP and "
                  "quantiles")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  auto* step_flag = cmd->add_option(
      "--step", a->step, "spectra.jsonl: the recorded step to show (default: the last one)");
  cmd->add_flag("--from-checkpoint", a->from_checkpoint,
                "read the checkpoint's weights even when spectra.jsonl exists");
  cmd->callback([a, step_flag] {
    const std::filesystem::path recorded = std::filesystem::path(a->run) / "spectra.jsonl";
    std::error_code ec;
    const std::optional<int64_t> step =
        step_flag->count() > 0 ? std::optional<int64_t>(a->step) : std::nullopt;
    if (!a->from_checkpoint && std::filesystem::is_regular_file(recorded, ec)) {
      print_recorded(recorded.string(), step, a->json);
      return;
    }
    if (step)
      throw std::invalid_argument("--step " + std::to_string(a->step) + ": '" + a->run +
                                  "' has no spectra.jsonl (train it with --spectra-every K); "
                                  "without --step the checkpoint's weights are shown");
    auto r = load_run(a->run);
    const auto layers = layer_spectra(*r.model);
    if (a->json) {
      for (const auto& layer : layers) {
        auto j = to_json(layer, a->keep);
        j["step"] = r.step;
        std::cout << j.dump() << "\n";
      }
      return;
    }
    std::printf(
        "%s, step %lld: %zu matrices (alpha: Clauset MLE fit to the eigenvalues of W^T W; "
        "KS = its Kolmogorov-Smirnov distance, tail = eigenvalues fitted)\n",
        a->run.c_str(), static_cast<long long>(r.step), layers.size());
    std::printf("%-34s %-9s %-10s %9s %9s %8s %8s %10s %6s %6s %5s\n", "matrix", "role", "shape",
                "sigma_max", "sigma_min", "st.rank", "eff.rank", "cond", "alpha", "KS", "tail");
    for (const auto& l : layers) {
      const auto& s = l.stats;
      std::string shape;
      for (size_t i = 0; i < l.shape.size(); ++i)
        shape += (i ? "x" : "") + std::to_string(l.shape[i]);
      std::printf("%-34s %-9s %-10s %9.4g %9.3g %8.2f %8.2f %10.3g %6.2f %6.3f %5lld\n",
                  l.name.c_str(), l.role.c_str(), shape.c_str(), s.sigma_max, s.sigma_min,
                  s.stable_rank, s.effective_rank, s.condition_number, s.alpha.alpha,
                  s.alpha.ks_distance, static_cast<long long>(s.alpha.n_tail));
    }
  });
}

}  // namespace steepest::app
