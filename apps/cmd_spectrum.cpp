// `steepest spectrum --run DIR`: a per-layer table of the singular-value
// statistics of a run's weights (stable and effective rank, condition number,
// the heavy-tail exponent α of WᵀW's spectrum), from its checkpoint.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "commands.h"
#include "run_loader.h"
#include "steepest/train/layer_spectra.h"

namespace steepest::app {

void add_spectrum_command(CLI::App& app) {
  struct Args {
    std::string run;
    bool json = false;
    int64_t keep = 16;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "spectrum",
      "Per-layer singular-value statistics of a run's weights (from its checkpoint): stable and "
      "effective rank, condition number, heavy-tail exponent alpha of W^T W");
  cmd->add_option("--run", a->run, "run directory or checkpoint file")->required();
  cmd->add_flag("--json", a->json, "one JSON record per matrix instead of the table");
  cmd->add_option("--keep", a->keep,
                  "--json: all singular values up to 2*KEEP, else the top and bottom KEEP and "
                  "quantiles")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->callback([a] {
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
