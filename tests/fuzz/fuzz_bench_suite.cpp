// libFuzzer target: a bench suite file of arbitrary bytes through load_suite,
// then the run lists `steepest bench` builds from an accepted suite.
#include "fuzz/fuzz_util.h"
#include "steepest/bench/lr_search.h"
#include "steepest/bench/suite.h"

using namespace steepest;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = fuzz::scratch_dir("fuzz_bench_suite");
  static const std::string path = dir + "/suite.json";
  fuzz::write_input(path, data, size);
  BenchSuite s;
  bool ok = false;
  fuzz::expect_clean_refusal(path, [&] {
    s = load_suite(path);
    ok = true;
  });
  if (!ok) return 0;
  if (s.lr_search_trials > 0) {  // adaptive: the first round is a 3-point bracket
    for (const auto& o : s.optimizers)
      if (next_lr_trials({}, o.center_lr, {s.lr_search_trials, s.lr_search_factor}).size() != 3)
        fuzz::finding("an adaptive search that does not start with 3 trials");
    return 0;
  }
  std::vector<double> best;
  for (const auto& o : s.optimizers) best.push_back(lr_grid(s, o).back());
  const auto tune = tuning_runs(s, "/results");
  const auto seeds = seed_runs(s, "/results", best);
  if (tune.size() != s.optimizers.size() * static_cast<size_t>(s.lr_points) ||
      seeds.size() != s.optimizers.size() * (s.seeds.size() - 1))
    fuzz::finding("run lists of the wrong length");
  return 0;
}
