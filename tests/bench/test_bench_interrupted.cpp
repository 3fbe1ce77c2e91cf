// Fault trials for `steepest bench` (issue #12): a bench stopped mid-suite
// (SIGTERM, or kill -9) leaves no trainer running, and the rerun of the same
// command gives the same results as an uninterrupted bench.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

#include "apps/cli_runner.h"
#include "steepest/train/config.h"
#include "train/tiny_corpus.h"

namespace steepest {
namespace {
namespace fs = std::filesystem;

pid_t start_bench(const fs::path& suite, const fs::path& out) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(null, STDERR_FILENO);
    ::execl(STEEPEST_CLI, STEEPEST_CLI, "bench", suite.c_str(), "--out", out.c_str(), "--jobs", "2",
            "--threads-per-run", "1", "--no-report", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  return pid;
}

using testing::wait_exit;

// run id → final val loss, from each finished run's summary.json.
std::map<std::string, double> results(const fs::path& out) {
  std::map<std::string, double> r;
  for (const auto& e : fs::directory_iterator(out / "runs"))
    if (fs::exists(e.path() / "summary.json"))
      r[e.path().filename().string()] =
          read_json_file((e.path() / "summary.json").string())["final_val_loss"].get<double>();
  return r;
}

// True when no process holds any run directory's trainer lock.
bool no_trainer_left(const fs::path& out) {
  for (const auto& e : fs::directory_iterator(out / "runs")) {
    const fs::path lock = e.path() / ".steepest.lock";
    if (!fs::exists(lock)) continue;
    const int fd = ::open(lock.c_str(), O_RDWR);
    const bool free = fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) == 0;
    if (fd >= 0) ::close(fd);
    if (!free) return false;
  }
  return true;
}

TEST(BenchInterrupted, StoppedOrKilledMidSuiteThenRerunGivesTheSameResults) {
  if (!testing::cli_built()) GTEST_SKIP() << "CLI not built";
  const fs::path dir = fs::path(::testing::TempDir()) / "steepest_bench_interrupted";
  fs::remove_all(dir);
  testing::write_tiny_corpus(dir);
  const fs::path suite = dir / "suite.json";
  std::ofstream(suite) << R"({
    "name": "interrupted",
    "train": {"train": ")"
                       << (dir / "data" / "train_*.bin").string() << R"(", "val": ")"
                       << (dir / "data" / "val_*.bin").string() << R"(",
              "n_layer": 1, "n_head": 2, "n_embd": 32, "ctx": 16, "batch": 4, "steps": 40,
              "eval_every": 20, "eval_batches": 2, "log_every": 10},
    "optimizers": [{"optimizer": "adamw"}, {"optimizer": "muon"}],
    "lr_grid": {"points": 2, "factor": 3.0},
    "seeds": [1, 2],
    "target_val_loss": 3.5
  })";

  ASSERT_EQ(wait_exit(start_bench(suite, dir / "reference")), 0);
  const auto reference = results(dir / "reference");
  ASSERT_EQ(reference.size(), 6u);  // 2 optimizers × 2 LRs, then 2 × 1 more seed

  for (const int sig : {SIGTERM, SIGKILL}) {
    SCOPED_TRACE(sig == SIGTERM ? "SIGTERM" : "SIGKILL");
    const fs::path out = dir / (sig == SIGTERM ? "term" : "kill");
    const pid_t pid = start_bench(suite, out);
    // Stop it once the first run has finished, while others are running.
    for (int i = 0; i < 600 && (!fs::exists(out / "runs") || results(out).empty()); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ::kill(pid, sig);
    EXPECT_NE(wait_exit(pid), 0);
    // The trainers stop with the bench (forwarded SIGTERM, or the parent-death
    // signal after kill -9): within a few seconds no run directory is locked.
    bool clean = false;
    for (int i = 0; i < 100 && !clean; ++i) {
      clean = no_trainer_left(out);
      if (!clean) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(clean) << "a trainer outlived its bench";
    EXPECT_LT(results(out).size(), reference.size()) << "stopped too late to test anything";
    ASSERT_EQ(wait_exit(start_bench(suite, out)), 0);
    EXPECT_EQ(results(out), reference);
  }
}

}  // namespace
}  // namespace steepest
