#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "bench/spectra_report.h"
#include "data/data_test_util.h"
#include "steepest/train/layer_spectra.h"

namespace steepest {
namespace {

// Two recorded steps of two q matrices in one run: the section draws α over
// training, the q spectrum and the msign band; without records it is empty.
TEST(SpectraReport, DrawsTheSectionFromRecordedRunsOnly) {
  const std::filesystem::path dir = testing::scratch_dir();
  BenchResults results;
  OptimizerResult o;
  o.optimizer.label = "muon";
  RunResult run;
  run.status = RunStatus::Done;
  run.run.config.out = dir.string();
  o.seeds.push_back(run);
  results.optimizers.push_back(o);
  EXPECT_EQ(detail::spectra_section_html(results), "");

  at::manual_seed(5);
  std::ofstream out(dir / "spectra.jsonl");
  for (int step : {10, 20})
    for (const char* name : {"blocks.0.attn.q.weight", "blocks.1.attn.q.weight"}) {
      const auto stats = spectrum_json(spectrum_stats(at::randn({48, 48})));
      nlohmann::json line = {
          {"step", step},      {"name", name},    {"shape", {48, 48}}, {"weight", stats},
          {"momentum", stats}, {"update", stats}, {"alignment", -0.3}, {"msign_band", {0.7, 1.1}}};
      out << line.dump() << "\n";
    }
  out.close();
  const std::string html = detail::spectra_section_html(results);
  EXPECT_NE(html.find("<h2>Spectra</h2>"), std::string::npos);
  for (const char* id : {"chart-spectra-alpha", "chart-spectra-q", "chart-spectra-band"})
    EXPECT_NE(html.find(id), std::string::npos) << id;
}

}  // namespace
}  // namespace steepest
