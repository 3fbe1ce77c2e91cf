// Every file the bench and `steepest spectrum` read back is validated key by
// key (issue #25, item 2): a crafted spectra.jsonl or summary.json is refused
// with our own message — the file, the line (jsonl) or key path, what it must
// be, a hint — never a crash or nlohmann's "[json.exception…]" text. One test
// per crafted input of the probe, then the same through the CLI.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "apps/cli_runner.h"
#include "bench/spectra_report.h"
#include "data/data_test_util.h"
#include "io/json_fields.h"
#include "steepest/bench/report.h"
#include "steepest/bench/results.h"
#include "steepest/bench/scales.h"
#include "steepest/train/layer_spectra.h"

namespace steepest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

// The error fn throws (std::invalid_argument), or "(no error)".
template <typename F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

void expect_our_message(const std::string& msg, const std::vector<std::string>& phrases) {
  for (const auto& p : phrases)
    EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' in\n" << msg;
  EXPECT_EQ(msg.find("json.exception"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("[json"), std::string::npos) << msg;
}

// --- spectra.jsonl -----------------------------------------------------------

// A record as the recorder writes it: a 48×48 q matrix (its statistics keep
// top, bottom and quantiles) with a band.
json spectra_record(int64_t step = 10) {
  at::manual_seed(3);
  const auto stats = spectrum_json(spectrum_stats(at::randn({48, 48})));
  return {{"step", step},         {"name", "blocks.0.attn.q.weight"},
          {"shape", {48, 48}},    {"weight", stats},
          {"momentum", nullptr},  {"update", stats},
          {"alignment", nullptr}, {"msign_band", {0.7, 1.1}}};
}

struct SpectraCase {
  const char* name;
  std::string line2;                 // the second line of the file (line 1 is valid)
  std::vector<std::string> phrases;  // besides the file:line and the hint
};

std::vector<SpectraCase> spectra_cases() {
  auto edit = [](auto f) {
    json j = spectra_record(20);
    f(j);
    return j.dump();
  };
  return {
      {"band_empty",
       edit([](json& j) { j["msign_band"] = json::array(); }),
       {"key 'msign_band' must be null or [sigma_min, sigma_max] (2 numbers", "got []"}},
      {"shape_empty",
       edit([](json& j) { j["shape"] = json::array(); }),
       {"key 'shape' must be a list of 2 to 8 sizes", "got []"}},
      {"shape_one_entry",
       edit([](json& j) { j["shape"] = {32}; }),
       {"key 'shape' must be a list of 2 to 8 sizes", "got [32]"}},
      {"band_one_number",
       edit([](json& j) { j["msign_band"] = {1.0}; }),
       {"key 'msign_band' must be null or [sigma_min, sigma_max]", "got [1.0]"}},
      {"band_strings",
       edit([](json& j) {
         j["msign_band"] = {"a", "b"};
       }),
       {"key 'msign_band[0]' must be a finite number (or null), got \"a\""}},
      {"no_step",
       edit([](json& j) { j.erase("step"); }),
       {"key 'step' is missing; it must be a whole number >= 0"}},
      {"step_string",
       edit([](json& j) { j["step"] = "5"; }),
       {"key 'step' must be a whole number in [0, ", "got \"5\""}},
      {"name_number", edit([](json& j) { j["name"] = 7; }), {"key 'name' must be a string, got 7"}},
      {"no_weight",
       edit([](json& j) { j.erase("weight"); }),
       {"key 'weight' is missing; it must be an object of statistics"}},
      {"no_weight_alpha",
       edit([](json& j) { j["weight"].erase("alpha"); }),
       {"key 'weight.alpha' is missing; it must be an object {\"alpha\": x"}},
      {"line_array", "[1,2,3]", {"a spectra record must be a JSON object", "got [1,2,3]"}},
      {"line_number", "42", {"a spectra record must be a JSON object", "got 42"}},
      {"line_empty_object", "{}", {"key 'step' is missing"}},
      {"line_100000_deep",
       std::string(100000, '[') + std::string(100000, ']'),
       {"nests arrays or objects deeper than 64 levels"}},
      // Beyond the probe: sizes checked against the matrix's rank, values and order.
      {"sigma_longer_than_rank",
       edit([](json& j) {
         j["shape"] = {4, 48};
         j["weight"]["sigma_top"] = std::vector<double>(5, 1.0);
       }),
       {"key 'weight.sigma_top' must be a list of numbers (with \"sigma_bottom\": at most 4"}},
      {"six_quantiles",
       edit([](json& j) { j["weight"]["sigma_quantiles"] = std::vector<double>(6, 1.0); }),
       {"key 'weight.sigma_quantiles' must be a list of 7 numbers"}},
      {"band_reversed",
       edit([](json& j) {
         j["msign_band"] = {1.2, 0.5};
       }),
       {"key 'msign_band' must be null or [sigma_min, sigma_max]", "sigma_min <= sigma_max",
        "got [1.2,0.5]"}},
      {"shape_zero",
       edit([](json& j) {
         j["shape"] = {0, 4};
       }),
       {"key 'shape[0]' must be a whole number in [1, "}},
      {"shape_huge",
       edit([](json& j) {
         j["shape"] = {1e30, 4};
       }),
       {"key 'shape[0]' must be a whole number in [1, ", "got 1e+30"}},
      {"alpha_text",
       edit([](json& j) { j["weight"]["alpha"]["alpha"] = "big"; }),
       {"key 'weight.alpha.alpha' must be a finite number (or null), got \"big\""}},
      {"momentum_text",
       edit([](json& j) { j["momentum"] = "none"; }),
       {"key 'momentum' must be an object of singular-value statistics", "got \"none\""}},
      {"not_json", "{\"step\": 3,", {"is not valid JSON: parse error at line 1"}},
  };
}

void PrintTo(const SpectraCase& c, std::ostream* os) {
  *os << c.name;
}

class SpectraJsonl : public ::testing::TestWithParam<SpectraCase> {};

TEST_P(SpectraJsonl, RefusedWithFileLineKeyAndHint) {
  const auto& c = GetParam();
  const std::string text = spectra_record(10).dump() + "\n" + c.line2 + "\n";
  const std::string msg =
      error_of([&] { detail::parse_spectra_jsonl(text, "runs/a/spectra.jsonl"); });
  std::vector<std::string> phrases = c.phrases;
  phrases.push_back("runs/a/spectra.jsonl:2");
  phrases.push_back("edited or damaged");
  phrases.push_back("--spectra-every");
  expect_our_message(msg, phrases);
  EXPECT_EQ(msg.rfind("runs/a/spectra.jsonl:2", 0), 0u) << msg;  // the file and line come first
}

INSTANTIATE_TEST_SUITE_P(Crafted, SpectraJsonl, ::testing::ValuesIn(spectra_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

// What the recorder writes reads back; nulls (NaN statistics, no momentum,
// no band) are accepted; a half-written last line (a killed run) is skipped,
// a damaged line before the last is not.
TEST(SpectraJsonl, ReadsWhatTheRecorderWrites) {
  json small = spectra_record(20);
  small["shape"] = {8, 12};
  small["weight"] = small["update"] = spectrum_json(spectrum_stats(at::randn({8, 12})));
  small["weight"]["alpha"]["alpha"] = nullptr;
  small["msign_band"] = nullptr;
  const std::string text = spectra_record(10).dump() + "\n\n" + small.dump() + "\n{\"step\": 3";
  const auto records = detail::parse_spectra_jsonl(text, "s.jsonl");
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0].step, 10);
  EXPECT_EQ(records[0].line, 1);
  EXPECT_EQ(records[0].rank, 48);
  EXPECT_EQ(records[0].weight.sigma_top.size(), 16u);
  EXPECT_EQ(records[0].weight.sigma_quantiles.size(), 7u);
  ASSERT_TRUE(records[0].msign_band.has_value());
  EXPECT_DOUBLE_EQ((*records[0].msign_band)[1], 1.1);
  EXPECT_FALSE(records[0].momentum.has_value());
  EXPECT_TRUE(std::isnan(records[0].alignment));
  EXPECT_EQ(records[1].line, 3);
  EXPECT_EQ(records[1].rank, 8);
  EXPECT_EQ(records[1].weight.sigma.size(), 8u);
  EXPECT_TRUE(std::isnan(records[1].weight.alpha));
  EXPECT_FALSE(records[1].msign_band.has_value());
  EXPECT_EQ(records[1].json, small);
  // The same damage with its newline is a line the writer finished: refused.
  const std::string msg = error_of([&] { detail::parse_spectra_jsonl(text + "\n", "s.jsonl"); });
  expect_our_message(msg, {"s.jsonl:4", "is not valid JSON", "edited or damaged"});
}

// A 4-D weight is a (rows, everything else) matrix: its rank is min(2, 3·4·5).
TEST(SpectraJsonl, RankOfAnNdShapeIsThatOfItsMatrix) {
  json j = spectra_record();
  j["shape"] = {2, 3, 4, 5};
  j["weight"]["sigma"] = {2.0, 1.0};  // kept instead of top, bottom and quantiles
  j["update"] = j["weight"];
  EXPECT_EQ(detail::parse_spectra_jsonl(j.dump(), "s").at(0).rank, 2);
  j["shape"] = {1099511627776, 1099511627776, 1099511627776};  // no overflow
  EXPECT_EQ(detail::parse_spectra_jsonl(j.dump(), "s").at(0).rank, 1099511627776);
}

// --- summary.json ------------------------------------------------------------

json summary(double loss = 1.5) {
  return {{"final_val_loss", loss},
          {"best_val_loss", loss},
          {"ms_per_step", 10.0},
          {"optimizer_gemms_per_step", 12},
          {"val_curve",
           {{{"step", 20}, {"val_loss", loss + 0.5}}, {{"step", 40}, {"val_loss", loss}}}}};
}

struct SummaryCase {
  const char* name;
  std::string text;
  std::vector<std::string> phrases;
};

std::vector<SummaryCase> summary_cases() {
  auto edit = [](auto f) {
    json j = summary();
    f(j);
    return j.dump();
  };
  return {
      {"no_best_val_loss",
       edit([](json& j) { j.erase("best_val_loss"); }),
       {"key 'best_val_loss' is missing; it must be a finite number"}},
      {"val_curve_object",
       edit([](json& j) {
         j["val_curve"] = {{"step", 20}};
       }),
       {"key 'val_curve' must be a list of {\"step\": N, \"val_loss\": x}", "got {\"step\":20}"}},
      {"val_curve_step_text",
       edit([](json& j) { j["val_curve"][1]["step"] = "ten"; }),
       {"key 'val_curve[1].step' must be a whole number in [0, ", "got \"ten\""}},
      {"ms_per_step_text",
       edit([](json& j) { j["ms_per_step"] = "fast"; }),
       {"key 'ms_per_step' must be a finite number, got \"fast\""}},
      {"no_val_curve",
       edit([](json& j) { j.erase("val_curve"); }),
       {"key 'val_curve' is missing; it must be a list of"}},
      // Beyond the probe.
      {"final_val_loss_null",
       edit([](json& j) { j["final_val_loss"] = nullptr; }),
       {"key 'final_val_loss' must be a finite number, got null"}},
      {"gemms_fraction",
       edit([](json& j) { j["optimizer_gemms_per_step"] = 2.5; }),
       {"key 'optimizer_gemms_per_step' must be a whole number in [0, ", "got 2.5"}},
      {"negative_ms",
       edit([](json& j) { j["ms_per_step"] = -3; }),
       {"key 'ms_per_step' must be a number >= 0"}},
      {"val_curve_entry_number",
       edit([](json& j) { j["val_curve"][0] = 3; }),
       {"key 'val_curve[0]' must be an object", "got 3"}},
      {"top_level_array", "[1, 2]", {"a run summary must be a JSON object, got [1,2]"}},
      {"not_json", "{\"final_val_loss\": ", {"is not valid JSON: parse error"}},
      {"deep", std::string(100000, '{'), {"nests arrays or objects deeper than 64 levels"}},
      {"number_too_large",
       R"({"final_val_loss": 1e999})",
       {"is not valid JSON: number overflow", "1e999"}},
  };
}

void PrintTo(const SummaryCase& c, std::ostream* os) {
  *os << c.name;
}

class RunSummaryFile : public ::testing::TestWithParam<SummaryCase> {};

TEST_P(RunSummaryFile, RefusedWithFileKeyAndExpectation) {
  const auto& c = GetParam();
  const std::string msg = error_of([&] { parse_run_summary(c.text, "r/runs/x/summary.json"); });
  auto phrases = c.phrases;
  phrases.push_back("'r/runs/x/summary.json'");
  expect_our_message(msg, phrases);
  EXPECT_EQ(msg.rfind("'r/runs/x/summary.json'", 0), 0u) << msg;
}

INSTANTIATE_TEST_SUITE_P(Crafted, RunSummaryFile, ::testing::ValuesIn(summary_cases()),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(RunSummaryFile, ReadsWhatTheTrainerWrites) {
  const auto s = parse_run_summary(summary(1.25).dump(2), "s.json");
  EXPECT_DOUBLE_EQ(s.final_val_loss, 1.25);
  EXPECT_DOUBLE_EQ(s.ms_per_step, 10.0);
  EXPECT_EQ(s.optimizer_gemms_per_step, 12);
  EXPECT_EQ(s.tokens_per_s, 0.0);  // absent: not measured
  ASSERT_EQ(s.val_curve.size(), 2u);
  EXPECT_EQ(s.val_curve[1].first, 40);
}

// --- results directories -------------------------------------------------------

// A bench results directory: adamw and muon, one LR and one seed each, both
// finished with the given final losses.
std::vector<BenchRun> write_bench_results(const fs::path& dir, double adamw = 2.0,
                                          double muon = 1.5) {
  const json suite = {
      {"name", "t"},
      {"train", {{"steps", 40}, {"n_layer", 1}, {"n_embd", 32}, {"n_head", 2}, {"ctx", 16}}},
      {"optimizers", {{{"optimizer", "adamw"}}, {{"optimizer", "muon"}}}},
      {"lr_grid", {{"points", 1}, {"factor", 2.0}}},
      {"seeds", {1}},
      {"target_val_loss", 2.5}};
  fs::create_directories(dir);
  std::ofstream(dir / "suite.json") << suite.dump(2);
  const auto runs = tuning_runs(suite_from_json(suite), dir.string());
  for (size_t i = 0; i < runs.size(); ++i) {
    fs::create_directories(runs[i].config.out);
    std::ofstream(fs::path(runs[i].config.out) / "summary.json")
        << summary(i == 0 ? adamw : muon).dump(2);
  }
  return runs;
}

// A summary that parses but lacks a key is a damaged record, reported per run
// (report.html's run table, report.md and the printed summary), not an error
// of the whole report.
TEST(ResultsValidation, DamagedSummaryIsReportedPerRun) {
  const fs::path dir = testing::scratch_dir();
  const auto runs = write_bench_results(dir);
  const fs::path damaged = fs::path(runs[1].config.out) / "summary.json";
  json j = summary();
  j.erase("best_val_loss");
  std::ofstream(damaged) << j.dump();
  const RunResult r = read_run(runs[1], 2.5);
  EXPECT_EQ(r.status, RunStatus::Failed);
  EXPECT_TRUE(r.damaged_record);
  expect_our_message(r.error, {"damaged summary.json", damaged.string(), "'best_val_loss'",
                               "`steepest bench` with the same suite and --out runs it again"});
  const auto results = load_bench_results(dir.string());
  const std::string md = summary_markdown(results);
  expect_our_message(md, {"Damaged run records", runs[1].id + ": damaged summary.json"});
  EXPECT_NE(report_html(results).find("failed: damaged summary.json"), std::string::npos);
  // A damaged failure record too.
  std::ofstream(runs[0].config.out + ".failed.json") << "[[[";
  const RunResult f = read_run(runs[0], 2.5);
  EXPECT_TRUE(f.damaged_record);
  expect_our_message(f.error, {"its record is damaged", ".failed.json", "is not valid JSON"});
}

TEST(ResultsValidation, SweepDirectoryIsNamedAsSuch) {
  const fs::path dir = testing::scratch_dir();
  std::ofstream(dir / "suite.json") << R"({"name": "s", "train": {}, "vary": {"key": "n_embd",
      "values": [16, 32]}, "optimizers": [{"optimizer": "adamw"}], "seeds": [1]})";
  const std::string msg = error_of([&] { load_bench_results(dir.string()); });
  expect_our_message(msg,
                     {"'" + dir.string() + "' holds `steepest sweep` results",
                      "`steepest report " + dir.string() + "` reports a sweep", "compare-scales",
                      "one `steepest bench SUITE.json --out DIR` per scale"});
  EXPECT_EQ(msg.find("unknown key"), std::string::npos) << msg;
}

TEST(ResultsValidation, CompareScalesRefusesOneDirectoryTwice) {
  const fs::path dir = testing::scratch_dir();
  write_bench_results(dir / "a");
  write_bench_results(dir / "b", 1.8, 1.6);
  const auto a = load_bench_results((dir / "a").string());
  const auto b = load_bench_results((dir / "b").string());
  EXPECT_NO_THROW(compare_scales({a, b}, 10, ""));
  auto a2 = load_bench_results((dir / "a" / ".").string());  // the same, spelled differently
  const std::string msg = error_of([&] { compare_scales({a, b, a2}, 10, ""); });
  expect_our_message(msg, {"are the same results directory", "(directories 1 and 3)",
                           "one `steepest bench` results directory per model size"});
}

// --- the shared reader ---------------------------------------------------------

TEST(JsonFields, ParseErrorsCarryNoLibraryTag) {
  const std::string msg = error_of([] { detail::parse_json("{\"a\": [1, 2", "'x.json'"); });
  expect_our_message(msg, {"'x.json' is not valid JSON: parse error at line 1"});
  EXPECT_EQ(detail::parse_json(std::string(64, '[') + std::string(64, ']'), "x").size(), 1u);
  expect_our_message(
      error_of([] { detail::parse_json(std::string(65, '[') + std::string(65, ']'), "'x'"); }),
      {"'x' nests arrays or objects deeper than 64 levels"});
  // The token nlohmann echoes is cut: an unterminated string would copy the
  // whole file (regress_echoed_tag_in_parse_error: its echo held our marker).
  const std::string echo =
      error_of([] { detail::parse_json("{\"" + std::string(5000, 'a'), "'x.json'"); });
  expect_our_message(echo, {"'x.json' is not valid JSON: parse error", "last read: '\"aaa", "..."});
  EXPECT_LT(echo.size(), 300u) << echo;
  // Brackets inside strings do not count.
  EXPECT_EQ(detail::parse_json("[\"" + std::string(100, '[') + "\\\"\"]", "x").size(), 1u);
  const detail::JsonFields f("'f.json'");
  expect_our_message(error_of([&] { f.whole(json(9.3e18), "n", 0, INT64_MAX); }),
                     {"'f.json': key 'n' must be a whole number in [0, 9223372036854775807]"});
  EXPECT_EQ(f.whole(json(-3.0), "n", -5, 5), -3);
  expect_our_message(error_of([&] { f.whole(json(7u), "n", -5, 5); }), {"got 7"});
}

// --- through the CLI -----------------------------------------------------------

struct Cli {
  int rc;
  std::string out;
};
Cli cli(const std::string& args) {
  const auto r = testing::run_cli(args);
  return {r.exit_code, r.output};
}

void expect_refused(const Cli& r, const std::vector<std::string>& phrases) {
  EXPECT_EQ(r.rc, 1) << r.out;  // our error, not a signal (139 was the probe's SEGV)
  expect_our_message(r.out, phrases);
  EXPECT_EQ(r.out.find("unexpected libtorch error"), std::string::npos)
      << r.out;  // main()'s fallback
}

TEST(ResultsValidationCli, SpectrumRefusesCraftedRecordsAndUnrecordedSteps) {
  if (!testing::cli_built()) GTEST_SKIP() << "CLI not built";
  const fs::path run = testing::scratch_dir();
  const fs::path file = run / "spectra.jsonl";
  auto write = [&](const std::string& line2) {
    std::ofstream(file) << spectra_record(10).dump() << "\n" << line2 << "\n";
  };
  for (const auto& c : spectra_cases()) {
    write(c.line2);
    SCOPED_TRACE(c.name);
    auto phrases = c.phrases;
    phrases.push_back(file.string() + ":2");
    expect_refused(cli("spectrum --run " + run.string()), phrases);
  }
  write(spectra_record(20).dump());
  const Cli ok = cli("spectrum --run " + run.string() + " --step 20");
  EXPECT_EQ(ok.rc, 0) << ok.out;
  EXPECT_NE(ok.out.find("step 20: 1 hidden matrices"), std::string::npos) << ok.out;
  EXPECT_NE(ok.out.find("[0.700, 1.100]"), std::string::npos) << ok.out;
  // -5 once showed the last step (20) without a word.
  expect_refused(
      cli("spectrum --run " + run.string() + " --step -5"),
      {"--step -5 is not recorded in '" + file.string() + "'", "recorded steps: 10, 20"});
  expect_refused(cli("spectrum --run " + run.string() + " --step 15"),
                 {"--step 15 is not recorded", "recorded steps: 10, 20"});
  std::ofstream out(file);
  for (int s = 10; s <= 300; s += 10) out << spectra_record(s).dump() << "\n";
  out.close();
  expect_refused(cli("spectrum --run " + run.string() + " --step 7"),
                 {"recorded steps: 10, 20, 30, …, 290, 300 (30 steps from 10 to 300)"});
}

TEST(ResultsValidationCli, ReportAndCompareScales) {
  if (!testing::cli_built()) GTEST_SKIP() << "CLI not built";
  const fs::path dir = testing::scratch_dir();
  const auto runs = write_bench_results(dir / "a");
  write_bench_results(dir / "b", 1.8, 1.6);
  const std::string a = (dir / "a").string(), b = (dir / "b").string();
  // A damaged summary: the report is written, the run reported as damaged.
  const fs::path summary_path = fs::path(runs[1].config.out) / "summary.json";
  json j = summary();
  j["val_curve"] = {{"step", 1}};
  std::ofstream(summary_path) << j.dump();
  const Cli report = cli("report " + a);
  EXPECT_EQ(report.rc, 0) << report.out;
  expect_our_message(report.out, {"Damaged run records", summary_path.string(),
                                  "key 'val_curve' must be a list of"});
  std::ofstream(summary_path) << summary().dump();
  // A damaged spectra.jsonl of a finished run: the report names its line.
  const fs::path spectra = fs::path(runs[1].config.out) / "spectra.jsonl";
  std::ofstream(spectra) << spectra_record(10).dump() << "\n{\"step\": 10, \"msign_band\": []}\n";
  expect_refused(cli("report " + a), {spectra.string() + ":2", "key 'name' is missing"});
  fs::remove(spectra);
  const Cli ok = cli("compare-scales " + a + " " + b);
  EXPECT_EQ(ok.rc, 0) << ok.out;
  expect_refused(
      cli("compare-scales " + a + " " + a),
      {"'" + a + "' and '" + a + "' (directories 1 and 2) are the same results directory"});
  const fs::path sweep = dir / "sweep";
  fs::create_directories(sweep);
  std::ofstream(sweep / "suite.json") << R"({"name": "s", "train": {}, "vary": {"key": "n_embd",
      "values": [16, 32]}, "optimizers": [{"optimizer": "adamw"}], "seeds": [1]})";
  expect_refused(
      cli("compare-scales " + a + " " + sweep.string()),
      {"'" + sweep.string() + "' holds `steepest sweep` results",
       "compare-scales and `report --baseline/--target` take bench results directories"});
}

}  // namespace
}  // namespace steepest
