// Fault trials (issue #12): the trainer is killed with SIGKILL at random
// moments of a run that keeps a checkpoint every 2 steps, then resumed until
// it finishes. Every trial must end bit-identical to an uninterrupted run
// (weights, optimizer-visible losses), with every kept checkpoint present and
// loadable, and no temporary file ever read. docs/RELIABILITY.md reports it.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "apps/cli_runner.h"
#include "steepest/train/metrics.h"
#include "train/fresh_checkpoint.h"
#include "train/tiny_corpus.h"

extern char** environ;

namespace steepest {
namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr int kSteps = 30;

pid_t start_cli(const std::vector<std::string>& args) {
  std::vector<std::string> all = {STEEPEST_CLI};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, STEEPEST_CLI, &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  return rc == 0 ? pid : -1;
}

using testing::wait_exit;

std::vector<std::string> train_args(const fs::path& data, const fs::path& out) {
  return {"train",
          "--train",
          (data / "train_*.bin").string(),
          "--val",
          (data / "val_*.bin").string(),
          "--n-layer",
          "1",
          "--n-head",
          "2",
          "--n-embd",
          "32",
          "--ctx",
          "16",
          "--batch",
          "4",
          "--steps",
          std::to_string(kSteps),
          "--eval-every",
          "10",
          "--eval-batches",
          "2",
          "--log-every",
          "1",
          "--checkpoint-every",
          "2",
          "--threads",
          "1",
          "--optimizer",
          "muon",
          "--out",
          out.string()};
}

std::vector<at::Tensor> weights(const fs::path& checkpoint) {
  return testing::load_fresh(checkpoint.string()).parameters;
}

TEST(KillResume, TwentyRandomKillsEachResumeBitIdentical) {
  if (!testing::cli_built()) GTEST_SKIP() << "CLI not built";
  const fs::path dir = fs::path(::testing::TempDir()) / "steepest_kill_resume";
  fs::remove_all(dir);
  testing::write_tiny_corpus(dir);
  const fs::path data = dir / "data";

  const auto t0 = Clock::now();
  ASSERT_EQ(wait_exit(start_cli(train_args(data, dir / "reference"))), 0);
  const double run_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const auto reference = weights(dir / "reference" / "checkpoint.pt");
  std::map<int64_t, double> reference_losses;
  for (const auto& m : read_metrics((dir / "reference" / "metrics.jsonl").string()))
    reference_losses[m["step"].get<int64_t>()] = m["train_loss"].get<double>();

  std::mt19937 rng(20261130);
  int kills_landed = 0;
  for (int trial = 0; trial < 20; ++trial) {
    const fs::path out = dir / ("trial" + std::to_string(trial));
    // Within the first 3/4 of the reference run's time: on a loaded machine
    // (ctest -j2) a trial can run faster than the reference did, and a kill
    // after its end tests nothing.
    const double at_ms = std::uniform_real_distribution<double>(0.0, 0.75 * run_ms)(rng);
    const pid_t pid = start_cli(train_args(data, out));
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(at_ms * 1000)));
    kills_landed += ::kill(pid, SIGKILL) == 0 && wait_exit(pid) == 128 + SIGKILL;
    // Resume from the latest complete checkpoint (or start again when none was written).
    for (int attempt = 0; attempt < 3; ++attempt) {
      if (fs::exists(out / "summary.json")) break;
      std::vector<std::string> args = train_args(data, out);
      if (fs::exists(out / "checkpoint.pt"))
        args = {"train", "--resume", out.string()};
      else
        args.push_back("--overwrite");
      ASSERT_EQ(wait_exit(start_cli(args)), 0) << "trial " << trial << ": " << args[1];
    }
    ASSERT_TRUE(fs::exists(out / "summary.json")) << "trial " << trial;
    const auto w = weights(out / "checkpoint.pt");
    ASSERT_EQ(w.size(), reference.size());
    for (size_t i = 0; i < w.size(); ++i)
      EXPECT_TRUE(at::equal(w[i], reference[i])) << "trial " << trial << " parameter " << i;
    for (const auto& m : read_metrics((out / "metrics.jsonl").string()))
      EXPECT_EQ(m["train_loss"].get<double>(), reference_losses.at(m["step"].get<int64_t>()))
          << "trial " << trial << " step " << m["step"];
    EXPECT_EQ(read_metrics((out / "metrics.jsonl").string()).size(), reference_losses.size());
    for (int step = 2; step <= kSteps; step += 2) {  // every kept checkpoint, complete
      const fs::path kept = out / ("ckpt-" + std::to_string(step) + ".pt");
      ASSERT_TRUE(fs::exists(kept)) << "trial " << trial << ": " << kept;
      EXPECT_EQ(weights(kept).size(), reference.size());
    }
    for (const auto& e : fs::directory_iterator(out))
      EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  }
  EXPECT_GE(kills_landed, 15) << "most kills should land while the trainer runs";
}

// Without --checkpoint-every (the default), checkpoint.pt is still written
// every --checkpoint-minutes: a run killed midway resumes instead of losing
// everything (issue #25: 6,875 steps were lost at the old default). A tiny
// interval stands in for the default 10 minutes.
TEST(KillResume, TheDefaultCadenceLeavesACheckpointToResume) {
  if (!testing::cli_built()) GTEST_SKIP() << "CLI not built";
  const fs::path dir = fs::path(::testing::TempDir()) / "steepest_kill_default";
  fs::remove_all(dir);
  testing::write_tiny_corpus(dir);
  const fs::path data = dir / "data";
  auto args_without_kept = [&](const fs::path& out) {
    std::vector<std::string> a = train_args(data, out);
    for (size_t i = 0; i + 1 < a.size(); ++i)
      if (a[i] == "--checkpoint-every") a.erase(a.begin() + i, a.begin() + i + 2);
    a.insert(a.end(), {"--checkpoint-minutes", "0.0002"});
    return a;
  };
  const auto t0 = Clock::now();
  ASSERT_EQ(wait_exit(start_cli(args_without_kept(dir / "reference"))), 0);
  const double run_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  const auto reference = weights(dir / "reference" / "checkpoint.pt");
  int resumed = 0;
  for (int trial = 0; trial < 3; ++trial) {
    const fs::path out = dir / ("trial" + std::to_string(trial));
    const pid_t pid = start_cli(args_without_kept(out));
    ASSERT_GT(pid, 0);
    // Kill once training is well under way (step 10 of 30 logged, which takes
    // far longer than the 12 ms interval), whatever the start-up took.
    const auto deadline =
        Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(run_ms * 5));
    bool under_way = false;
    while (!under_way && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      try {
        const auto lines = read_metrics((out / "metrics.jsonl").string());
        under_way = !lines.empty() && lines.back().value("step", 0) >= 10;
      } catch (const std::exception&) {
      }
    }
    const bool killed = ::kill(pid, SIGKILL) == 0 && wait_exit(pid) == 128 + SIGKILL;
    if (!killed || fs::exists(out / "summary.json")) continue;  // it finished first
    ASSERT_TRUE(under_way) << "trial " << trial << ": training never reached step 10";
    ASSERT_TRUE(fs::exists(out / "checkpoint.pt")) << "trial " << trial << ": killed after "
                                                   << "step 10 with no checkpoint to resume";
    ASSERT_EQ(wait_exit(start_cli({"train", "--resume", out.string()})), 0) << "trial " << trial;
    ++resumed;
    const auto w = weights(out / "checkpoint.pt");
    ASSERT_EQ(w.size(), reference.size());
    for (size_t i = 0; i < w.size(); ++i)
      EXPECT_TRUE(at::equal(w[i], reference[i])) << "trial " << trial << " parameter " << i;
    for (const auto& e : fs::directory_iterator(out))
      EXPECT_NE(e.path().filename().string().rfind("ckpt-", 0), 0u) << e.path();
  }
  EXPECT_GE(resumed, 1) << "no kill landed while the trainer ran";
}

}  // namespace
}  // namespace steepest
