// libFuzzer target: a run's summary.json of arbitrary bytes through the
// results reader `steepest report` and `steepest bench` use (read_run, and
// parse_run_summary under it). read_run never throws on a damaged summary: it
// reports the run as failed with a damaged record, naming the file.
#include <cmath>
#include <filesystem>

#include "fuzz/fuzz_util.h"
#include "steepest/bench/results.h"

using namespace steepest;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = fuzz::scratch_dir("fuzz_results_summary");
  static const std::string run_dir = [] {
    const std::string d = dir + "/runs/fuzz_lr0.01_s1";
    std::filesystem::create_directories(d);
    return d;
  }();
  static const std::string path = run_dir + "/summary.json";
  fuzz::write_input(path, data, size);
  BenchRun run;
  run.id = "fuzz_lr0.01_s1";
  run.config.out = run_dir;
  RunResult r;
  try {
    r = read_run(run, 2.0);
  } catch (const std::exception& e) {
    fuzz::finding(std::string("read_run threw instead of reporting a damaged summary: ") +
                  e.what());
  }
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (r.status == RunStatus::Failed) {
    // (The parser echoes a little of the input, which may itself hold the tag.)
    if (!r.damaged_record || r.error.find(path) == std::string::npos ||
        (r.error.find("[json.exception") != std::string::npos &&
         text.find("json.exception") == std::string::npos))
      fuzz::finding("a damaged summary reported without its file, or with library text: " +
                    r.error);
    // The same refusal from the pure parser.
    fuzz::expect_clean_refusal(path, [&] { parse_run_summary(text, path); });
    return 0;
  }
  if (r.status != RunStatus::Done) fuzz::finding("a summary.json read as missing");
  if (!std::isfinite(r.final_val_loss) || !std::isfinite(r.best_val_loss) || r.ms_per_step < 0 ||
      r.optimizer_gemms_per_step < 0 || r.optimizer_state_bytes < 0)
    fuzz::finding("an accepted summary with a non-finite loss or a negative figure");
  const RunSummary s = parse_run_summary(text, path);
  if (s.val_curve != r.val_curve) fuzz::finding("read_run and parse_run_summary disagree");
  for (const auto& [step, v] : r.val_curve)
    if (step < 0 || !std::isfinite(v)) fuzz::finding("an accepted val curve point out of range");
  if (r.steps_to_target) {
    bool found = false;
    for (const auto& [step, v] : r.val_curve) found |= step == *r.steps_to_target && v <= 2.0;
    if (!found) fuzz::finding("steps to target not on the val curve");
  }
  return 0;
}
