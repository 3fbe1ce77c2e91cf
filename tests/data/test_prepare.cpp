#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <optional>

#include "data/data_test_util.h"
#include "steepest/data/byte_tokenizer.h"
#include "steepest/data/prepare.h"
#include "steepest/data/shard.h"

namespace steepest {
namespace {

namespace fs = std::filesystem;
using testing::expect_error;
using testing::scratch_dir;
using testing::to_vector;
using testing::write_bytes;

std::string decode_shard(const std::string& path) {
  return byte_decode(to_vector(read_shard(path)));
}

// Sets PATH for the lifetime of the object, then restores it.
class ScopedPath {
 public:
  explicit ScopedPath(const std::string& value) {
    if (const char* old = std::getenv("PATH")) old_ = old;
    ::setenv("PATH", value.c_str(), 1);
  }
  ~ScopedPath() {
    if (old_)
      ::setenv("PATH", old_->c_str(), 1);
    else
      ::unsetenv("PATH");
  }

 private:
  std::optional<std::string> old_;
};

bool bible_installed() {
  return std::system("command -v bible > /dev/null 2>&1") == 0;
}

TEST(Prepare, SplitsAtTheFractionAndDecodesBack) {
  const std::string dir = scratch_dir();
  std::string a, b;
  for (int i = 0; i < 40; ++i) a += "line " + std::to_string(i) + ": naïve café 🙂\n";
  for (int i = 0; i < 25; ++i) b += "Ἐν ἀρχῇ ἦν ὁ λόγος " + std::to_string(i) + "\n";
  write_bytes(dir + "/a.txt", a);
  write_bytes(dir + "/b.txt", b);
  const std::string text = a + b;  // files are concatenated in the given order
  const double fraction = 0.3;

  const std::string out = dir + "/nested/out";  // created on demand
  const PreparedDataset p = prepare_text_dataset({dir + "/a.txt", dir + "/b.txt"}, out, fraction);
  EXPECT_EQ(p.train_path, out + "/train_000000.bin");
  EXPECT_EQ(p.val_path, out + "/val_000000.bin");
  const auto total = static_cast<int64_t>(text.size());
  EXPECT_EQ(p.train_tokens + p.val_tokens, total);
  EXPECT_LE(std::abs(static_cast<double>(p.val_tokens) - fraction * total), 1.0);
  EXPECT_EQ(read_shard(p.train_path).numel(), p.train_tokens);
  EXPECT_EQ(read_shard(p.val_path).numel(), p.val_tokens);
  // Train is the head of the text, val its tail, and together exactly the text.
  EXPECT_EQ(decode_shard(p.train_path), text.substr(0, p.train_tokens));
  EXPECT_EQ(decode_shard(p.val_path), text.substr(p.train_tokens));
}

TEST(Prepare, UnreadableInputNamesTheFile) {
  const std::string dir = scratch_dir();
  write_bytes(dir + "/ok.txt", std::string(100, 'x'));
  const std::string missing = dir + "/missing.txt";
  expect_error(
      [&] {
        prepare_text_dataset({dir + "/ok.txt", missing}, dir + "/out");
      },
      {missing, "cannot read"});
  EXPECT_FALSE(fs::exists(dir + "/out/train_000000.bin"));
}

TEST(Prepare, ValFractionMustBeInOpenUnitInterval) {
  const std::string dir = scratch_dir();
  write_bytes(dir + "/t.txt", std::string(1000, 'x'));
  for (const double f : {0.0, 1.0, -0.1, 1.5, std::numeric_limits<double>::quiet_NaN()})
    expect_error([&] { prepare_text_dataset({dir + "/t.txt"}, dir + "/out", f); },
                 {"val_fraction", "(0, 1)"});
  expect_error([&] { prepare_default_corpus(dir + "/kjv", 1.0); }, {"val_fraction", "(0, 1)"});
  EXPECT_NO_THROW(prepare_text_dataset({dir + "/t.txt"}, dir + "/out", 0.5));
}

// Issue #12: --text silently replaced existing shards, even its own input.
TEST(Prepare, ExistingShardsNeedForceAndAnInputIsNeverOverwritten) {
  const std::string dir = scratch_dir();
  write_bytes(dir + "/t.txt", std::string(1000, 'x'));
  prepare_text_dataset({dir + "/t.txt"}, dir + "/out", 0.5);
  expect_error([&] { prepare_text_dataset({dir + "/t.txt"}, dir + "/out", 0.5); },
               {dir + "/out/train_000000.bin", "already exists", "--force"});
  EXPECT_NO_THROW(prepare_text_dataset({dir + "/t.txt"}, dir + "/out", 0.5, /*force=*/true));
  const std::string own_input = dir + "/out/val_000000.bin";
  const auto size_before = std::filesystem::file_size(own_input);
  expect_error([&] { prepare_text_dataset({own_input}, dir + "/out", 0.5, /*force=*/true); },
               {own_input, "is also the output shard", "another --out"});
  EXPECT_EQ(std::filesystem::file_size(own_input), size_before);
}

TEST(Prepare, TextTooShortForBothSplits) {
  const std::string dir = scratch_dir();
  write_bytes(dir + "/tiny.txt", "abc");
  expect_error([&] { prepare_text_dataset({dir + "/tiny.txt"}, dir + "/out", 0.1); },
               {dir + "/tiny.txt", "3 bytes", "more text"});
  write_bytes(dir + "/empty.txt", "");
  expect_error([&] { prepare_text_dataset({dir + "/empty.txt"}, dir + "/out", 0.5); }, {"0 bytes"});
  // 4 bytes at 0.5 is the smallest text that fills both splits.
  write_bytes(dir + "/four.txt", "abcd");
  const auto p = prepare_text_dataset({dir + "/four.txt"}, dir + "/out2", 0.5);
  EXPECT_EQ(p.train_tokens, 2);
  EXPECT_EQ(p.val_tokens, 2);
}

TEST(Prepare, DefaultCorpusWithoutBibleSaysHowToInstall) {
  const std::string dir = scratch_dir();
  fs::create_directories(dir + "/empty_bin");
  ScopedPath no_bible(dir + "/empty_bin");  // nothing to run on PATH
  const std::string out = dir + "/kjv";
  expect_error([&] { prepare_default_corpus(out); }, {"bible", "install bible-kjv (make deps)"});
  EXPECT_FALSE(fs::exists(out + "/train_000000.bin"));
}

TEST(Prepare, DefaultCorpusIsTheKingJamesBible) {
  if (!bible_installed())
    GTEST_SKIP() << "`bible` is not on PATH; install bible-kjv (make deps) to run this test";
  const std::string out = scratch_dir() + "/kjv";
  const PreparedDataset p = prepare_default_corpus(out);
  EXPECT_GT(p.train_tokens + p.val_tokens, 4'000'000);
  EXPECT_NEAR(static_cast<double>(p.val_tokens) / (p.train_tokens + p.val_tokens), 0.1, 1e-6);
  const at::Tensor train = read_shard(p.train_path);
  EXPECT_EQ(train.numel(), p.train_tokens);
  EXPECT_LT(train.max().item<int64_t>(), kByteVocabSize);
  const std::string head = byte_decode(to_vector(train.narrow(0, 0, 200)));
  EXPECT_NE(head.find("In the beginning"), std::string::npos) << head;
  const std::string tail = decode_shard(p.val_path);
  EXPECT_NE(tail.find("The grace of our Lord Jesus Christ be with you all. Amen."),
            std::string::npos);

  // Second call: both shards exist, so they are reused untouched. Backdate
  // them so a rewrite would show even on a filesystem with coarse mtimes.
  const auto old_time = fs::last_write_time(p.train_path) - std::chrono::hours(24);
  fs::last_write_time(p.train_path, old_time);
  fs::last_write_time(p.val_path, old_time);
  const PreparedDataset again = prepare_default_corpus(out);
  EXPECT_EQ(again.train_tokens, p.train_tokens);
  EXPECT_EQ(again.val_tokens, p.val_tokens);
  EXPECT_EQ(fs::last_write_time(p.train_path), old_time);
  EXPECT_EQ(fs::last_write_time(p.val_path), old_time);

  // force rebuilds them.
  const PreparedDataset forced = prepare_default_corpus(out, 0.1, /*force=*/true);
  EXPECT_EQ(forced.train_tokens, p.train_tokens);
  EXPECT_NE(fs::last_write_time(p.train_path), old_time);
  EXPECT_NE(fs::last_write_time(p.val_path), old_time);
}

TEST(Prepare, DefaultCorpusRebuildsWhenAShardIsMissing) {
  if (!bible_installed())
    GTEST_SKIP() << "`bible` is not on PATH; install bible-kjv (make deps) to run this test";
  const std::string out = scratch_dir() + "/kjv";
  const PreparedDataset p = prepare_default_corpus(out);
  fs::remove(p.val_path);
  const PreparedDataset again = prepare_default_corpus(out);
  EXPECT_EQ(again.val_tokens, p.val_tokens);
  EXPECT_EQ(read_shard(p.val_path).numel(), p.val_tokens);
}

}  // namespace
}  // namespace steepest
