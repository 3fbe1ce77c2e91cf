// The bench's cache (issue #25): keyed on the run's config without the output
// path, checked against the run's own config.json, refusing another suite's
// results directory, never following a symlinked log, and failing the
// command when a run failed for another reason than divergence.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "apps/cli_runner.h"
#include "train/tiny_corpus.h"

namespace steepest {
namespace {
namespace fs = std::filesystem;
using testing::run_cli;

class BenchCache : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::cli_built()) return;
    // One directory per process: ctest runs each test in its own, in parallel.
    dir_ = fs::path(::testing::TempDir()) / ("steepest_bench_cache_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    testing::write_tiny_corpus(dir_);
    write_suite("tiny.json", "tiny", 6);
    write_suite("other.json", "other", 8);
    const auto r = bench("tiny.json", dir_ / "b");
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override {
    if (!testing::cli_built()) GTEST_SKIP() << "CLI not built";
  }
  static void write_suite(const std::string& file, const std::string& name, int steps) {
    std::ofstream(dir_ / file) << R"({"name": ")" << name << R"(",
      "train": {"train": ")" << (dir_ / "data" / "train_*.bin").string()
                               << R"(", "val": ")" << (dir_ / "data" / "val_*.bin").string()
                               << R"(",
                "n_layer": 1, "n_head": 2, "n_embd": 32, "ctx": 16, "batch": 4, "steps": )"
                               << steps << R"(,
                "eval_every": 3, "eval_batches": 2, "log_every": 3},
      "optimizers": [{"optimizer": "adamw", "lr": 0.003}],
      "lr_grid": {"points": 2, "factor": 2.0}, "seeds": [1], "target_val_loss": 5.0})";
  }
  static testing::CliResult bench(const std::string& suite, const fs::path& out,
                                  const std::string& extra = "") {
    return run_cli("bench " + (dir_ / suite).string() + " --out " + out.string() +
                   " --threads-per-run 1 --no-report " + extra);
  }
  static fs::path copy_results(const std::string& name) {
    const fs::path to = dir_ / name;
    fs::remove_all(to);
    fs::copy(dir_ / "b", to, fs::copy_options::recursive);
    fs::remove(to / ".bench.lock");
    return to;
  }
  static fs::path dir_;
};
fs::path BenchCache::dir_;

TEST_F(BenchCache, AnotherSpellingOfOutReusesEveryRun) {
  const fs::path b = copy_results("spelled");
  for (const std::string& out : {"./" + fs::relative(b).string(), b.string() + "/"}) {
    const auto r = bench("tiny.json", out);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("0 runs ran"), std::string::npos) << out << "\n" << r.output;
  }
}

// A run replaced by hand (another optimizer, same directory) is not counted
// as the suite's: its own config.json differs, so it is run again.
TEST_F(BenchCache, ARunReplacedByHandIsRunAgain) {
  const fs::path b = copy_results("replaced");
  fs::path victim;
  for (const auto& e : fs::directory_iterator(b / "runs"))
    if (fs::is_directory(e.path())) victim = e.path();
  ASSERT_FALSE(victim.empty());
  const fs::path d = dir_ / "data";
  const auto t = run_cli("train --train '" + (d / "train_*.bin").string() + "' --val '" +
                         (d / "val_*.bin").string() +
                         "' --n-layer 1 --n-head 2 --n-embd 32 --ctx 16 --batch 4 --threads 1 "
                         "--steps 3 --eval-batches 2 --optimizer sgd --lr 0.0001 --out " +
                         victim.string() + " --overwrite");
  ASSERT_EQ(t.exit_code, 0) << t.output;
  const auto r = bench("tiny.json", b);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("1 runs ran"), std::string::npos) << r.output;
}

TEST_F(BenchCache, AnotherSuiteInTheSameDirectoryNeedsForce) {
  const fs::path b = copy_results("other_suite");
  const std::string before = [&] {
    std::ifstream in(b / "suite.json");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }();
  const auto r = bench("other.json", b);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("holds the results of another suite"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--force"), std::string::npos) << r.output;
  std::ifstream in(b / "suite.json");
  std::stringstream now;
  now << in.rdbuf();
  EXPECT_EQ(now.str(), before) << "the first suite's suite.json was replaced";
  const auto forced = bench("other.json", b, "--force");
  EXPECT_EQ(forced.exit_code, 0) << forced.output;
}

TEST_F(BenchCache, ASymlinkedLogIsNeverFollowed) {
  const fs::path out = dir_ / "sym_log";
  fs::remove_all(out);
  fs::create_directories(out / "logs");
  fs::create_directories(dir_ / "victim");
  const fs::path v = dir_ / "victim" / "c.txt";
  std::ofstream(v) << "keep me";
  // The first trial's id: adamw at the grid's lower point.
  for (const char* id : {"adamw_lr0.002121_s1", "adamw_lr0.003_s1", "adamw_lr0.004243_s1"})
    fs::create_symlink(v, out / "logs" / (std::string(id) + ".log"));
  const auto r = bench("tiny.json", out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(v);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_EQ(ss.str(), "keep me");
}

// Missing data is the environment's fault, not the optimizer's: the command
// fails with the reason instead of picking an LR from the survivors.
TEST_F(BenchCache, RunsFailingForTheEnvironmentFailTheCommand) {
  std::ofstream(dir_ / "nodata.json") << R"({"name": "nodata",
    "train": {"train": ")" << (dir_ / "no_such" / "train_*.bin").string()
                                      << R"(", "val": ")"
                                      << (dir_ / "no_such" / "val_*.bin").string() << R"(",
              "n_layer": 1, "n_head": 2, "n_embd": 32, "ctx": 16, "batch": 4, "steps": 4},
    "optimizers": [{"optimizer": "adamw", "lr": 0.003}],
    "lr_grid": {"points": 2, "factor": 2.0}, "seeds": [1], "target_val_loss": 5.0})";
  const auto r = bench("nodata.json", dir_ / "nodata");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("failed for another reason than divergence"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("phase 2 did not start"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace steepest
