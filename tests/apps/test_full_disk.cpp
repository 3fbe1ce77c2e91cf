// Full-disk trials (issue #12) on a small tmpfs that the test mounts: it runs
// only as root (skipped otherwise, or where mounting is not allowed). The disk
// is filled so that exactly one write fails; the trainer must stop with a
// clear message and every file it had written must stay intact and loadable.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "apps/cli_runner.h"
#include "steepest/train/config.h"
#include "train/fresh_checkpoint.h"
#include "train/tiny_corpus.h"

namespace steepest {
namespace {
namespace fs = std::filesystem;

constexpr uintmax_t kPage = 4096;
uintmax_t pages(uintmax_t bytes) {
  return (bytes + kPage - 1) / kPage;
}

using testing::run_cli;
using Result = testing::CliResult;

uintmax_t available(const fs::path& dir) {
  struct statvfs s {};
  ::statvfs(dir.c_str(), &s);
  return static_cast<uintmax_t>(s.f_bavail) * s.f_bsize;
}

// Fills `dir`'s file system until exactly `leave` bytes (whole pages) are free.
void fill_leaving(const fs::path& dir, uintmax_t leave, const std::string& name) {
  const uintmax_t avail = available(dir);
  ASSERT_GE(avail, leave);
  std::ofstream(dir / name, std::ios::binary) << std::string(avail - leave, '\0');
  ASSERT_EQ(available(dir), leave);
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

int64_t loadable_step(const fs::path& checkpoint) {
  return testing::load_fresh(checkpoint.string()).step;
}

class FullDisk : public ::testing::Test {
 protected:
  fs::path dir, mnt;
  bool mounted = false;

  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root to mount a tmpfs";
    if (!testing::cli_built()) GTEST_SKIP() << "CLI not built";
    dir = fs::path(::testing::TempDir()) /
          ("steepest_full_disk_" +
           std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    mnt = dir / "mnt";
    fs::remove_all(dir);
    testing::write_tiny_corpus(dir);
    fs::create_directories(mnt);
    if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=8m") != 0)
      GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
    mounted = true;
  }
  void TearDown() override {
    if (mounted) ::umount2(mnt.c_str(), MNT_DETACH);
  }
  std::string train_args(const fs::path& out, int steps, int keep_every) const {
    return "train --train '" + (dir / "data" / "train_*.bin").string() + "' --val '" +
           (dir / "data" / "val_*.bin").string() +
           "' --n-layer 1 --n-head 2 --n-embd 32 --ctx 16 --batch 2 --eval-batches 1 "
           "--eval-every 2 --threads 1 --steps " +
           std::to_string(steps) + " --checkpoint-every " + std::to_string(keep_every) + " --out " +
           out.string();
  }
  // The size of this config's checkpoint, measured off the tmpfs.
  uintmax_t checkpoint_bytes() {
    const fs::path probe = dir / "probe";
    EXPECT_EQ(run_cli(train_args(probe, 2, 0)).exit_code, 0);
    return fs::file_size(probe / "checkpoint.pt");
  }
};

// The kept copy ckpt-2.pt meets a full disk: a clear message, checkpoint.pt
// intact; then --resume on the still-full disk leaves config.json and
// metrics.jsonl as they were (it used to truncate config.json to 0 bytes).
TEST_F(FullDisk, CheckpointCopyAndResumeOnAFullDiskLoseNothing) {
  const uintmax_t ckpt = checkpoint_bytes();
  const fs::path out = mnt / "run";
  // config.json + metrics.jsonl + checkpoint.pt fit; its copy does not.
  fill_leaving(mnt, (1 + 1 + pages(ckpt) + 1) * kPage, "filler");
  const Result r = run_cli(train_args(out, 4, 2));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("No space left on device"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("disk full?"), std::string::npos) << r.output;
  EXPECT_EQ(loadable_step(out / "checkpoint.pt"), 2);
  for (const auto& e : fs::directory_iterator(out)) {
    EXPECT_NE(e.path().extension(), ".tmp") << e.path();
    if (e.path().filename() != ".steepest.lock") {
      EXPECT_GT(fs::file_size(e.path()), 0u) << e.path();
    }
  }
  const std::string config = read_text(out / "config.json"),
                    metrics = read_text(out / "metrics.jsonl");
  fill_leaving(mnt, 0, "filler2");
  const Result resumed = run_cli("train --resume " + out.string());
  EXPECT_EQ(resumed.exit_code, 1) << resumed.output;
  EXPECT_NE(resumed.output.find("No space left on device"), std::string::npos) << resumed.output;
  EXPECT_EQ(read_text(out / "config.json"), config);
  EXPECT_EQ(read_text(out / "metrics.jsonl"), metrics);
  EXPECT_EQ(loadable_step(out / "checkpoint.pt"), 2);
  // Space again: the same command finishes the run.
  fs::remove(mnt / "filler");
  fs::remove(mnt / "filler2");
  const Result done = run_cli("train --resume " + out.string());
  EXPECT_EQ(done.exit_code, 0) << done.output;
  EXPECT_EQ(loadable_step(out / "checkpoint.pt"), 4);
  EXPECT_EQ(loadable_step(out / "ckpt-2.pt"), 2);
}

// The last write, summary.json, meets a full disk: exit 1 naming it, and no
// 0-byte summary.json that `report` and `bench` would then stop on.
TEST_F(FullDisk, SummaryOnAFullDiskFailsClearlyAndLeavesNoEmptyFile) {
  const uintmax_t ckpt = checkpoint_bytes();
  const fs::path out = mnt / "run";
  fill_leaving(mnt, (1 + 1 + pages(ckpt)) * kPage, "filler");
  const Result r = run_cli(train_args(out, 2, 0));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("summary.json"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("No space left on device"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out / "summary.json"));
  EXPECT_EQ(loadable_step(out / "checkpoint.pt"), 2);
  // With space again, --resume writes the missing summary.
  fs::remove(mnt / "filler");
  const Result done = run_cli("train --resume " + out.string());
  EXPECT_EQ(done.exit_code, 0) << done.output;
  EXPECT_GT(fs::file_size(out / "summary.json"), 0u);
}

// write_npy (through `export`) meets a full disk: exit 1 naming the .npy file
// and the reason, and no temporary file left behind (issue #25: the message
// was "write_npy: failed writing" with neither).
TEST_F(FullDisk, NpyExportOnAFullDiskSaysWhyAndLeavesNoTemporaryFile) {
  const fs::path run = dir / "probe";
  ASSERT_EQ(run_cli(train_args(run, 2, 0)).exit_code, 0);
  const fs::path out = mnt / "export";
  fs::create_directories(out);
  fill_leaving(mnt, 2 * kPage, "filler");  // gpt.json and the first small .npy fit
  const Result r = run_cli("export --run " + run.string() + " --out " + out.string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("write_npy"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(".npy"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("No space left on device"), std::string::npos) << r.output;
  for (const auto& e : fs::directory_iterator(out))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  // With space again, the same command writes every file.
  fs::remove(mnt / "filler");
  const Result done = run_cli("export --run " + run.string() + " --out " + out.string());
  EXPECT_EQ(done.exit_code, 0) << done.output;
  EXPECT_TRUE(fs::exists(out / "gpt.json"));
}

}  // namespace
}  // namespace steepest
