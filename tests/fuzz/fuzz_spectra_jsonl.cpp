// libFuzzer target: a run's spectra.jsonl of arbitrary bytes through the
// reader `steepest spectrum` and `steepest report` share (read_spectra_jsonl),
// then, when accepted, through the report's spectra section (the charts).
#include "bench/spectra_report.h"
#include "fuzz/fuzz_util.h"

using namespace steepest;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = fuzz::scratch_dir("fuzz_spectra_jsonl");
  static const std::string path = dir + "/spectra.jsonl";
  fuzz::write_input(path, data, size);
  std::vector<steepest::detail::SpectraRecord> records;
  bool ok = false;
  fuzz::expect_clean_refusal(path, [&] {
    records = steepest::detail::read_spectra_jsonl(path);
    ok = true;
  });
  if (!ok) return 0;
  for (const auto& r : records) {
    // What the reader promises its users (sigma_by_rank indexes by these).
    const auto& w = r.weight;
    if (r.rank < 1 || r.shape.size() < 2 || r.step < 0 || r.name.empty())
      fuzz::finding("an accepted record with a bad rank, shape, step or name");
    if (w.sigma.size() > static_cast<size_t>(r.rank) ||
        w.sigma_top.size() + w.sigma_bottom.size() > static_cast<size_t>(r.rank) ||
        (!w.sigma_quantiles.empty() && w.sigma_quantiles.size() != 7))
      fuzz::finding("an accepted record whose singular values do not fit its rank");
    if (r.msign_band && (*r.msign_band)[0] > (*r.msign_band)[1])
      fuzz::finding("an accepted band with sigma_min > sigma_max");
  }
  // The report draws from a finished run's file.
  BenchResults results;
  OptimizerResult o;
  o.optimizer.label = "fuzz";
  RunResult run;
  run.status = RunStatus::Done;
  run.run.config.out = dir;
  o.seeds.push_back(run);
  results.optimizers.push_back(o);
  std::string html;
  fuzz::expect_clean_refusal(path, [&] { html = steepest::detail::spectra_section_html(results); });
  if (!records.empty() && html.empty()) fuzz::finding("records read, but no spectra section");
  return 0;
}
