// The checkpoint archive check in front of libtorch's reader (issue #12's
// fuzzing): the seal catches every flipped byte, the damaged archives that
// crashed libtorch 1.13 are refused with our message, real checkpoints pass,
// and checkpoints from before the seal can be sealed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "io/without_seal.h"
#include "steepest/io/zip_check.h"
#include "steepest/train/checkpoint.h"

#ifndef STEEPEST_SOURCE_DIR
#define STEEPEST_SOURCE_DIR "."
#endif

namespace steepest {
namespace {
namespace fs = std::filesystem;

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

const fs::path kCorpus = fs::path(STEEPEST_SOURCE_DIR) / "tests/fuzz/corpus/fuzz_checkpoint";

// Unsealed archives the fuzzer made from an unsealed checkpoint: each crashed,
// leaked in or over-allocated in libtorch's reader when given to it.
constexpr const char* kRegressions[] = {
    "regress_checkpoint-oom-unpickler-readbytes", "regress_checkpoint-segv-parseClassConstant",
    "regress_checkpoint-leak-miniz-reader", "regress_checkpoint-leak-miniz-renamed-member"};

TEST(ZipCheck, ArchivesThatCrashedLibtorchAreRefusedByName) {
  for (const char* name : kRegressions) {
    const fs::path p = kCorpus / name;
    ASSERT_TRUE(fs::exists(p)) << p;
    try {
      read_checkpoint_config(p.string());
      ADD_FAILURE() << name << " was accepted";
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
      EXPECT_NE(msg.find("seal"), std::string::npos) << msg;
    }
  }
}

TEST(ZipCheck, MemberChecksAloneMissARenamedMemberWhichTheSealCatches) {
  // Why the seal exists: the per-member checks cannot see damage to names or
  // padding, on which libtorch's reader leaks or crashes.
  for (const char* name : kRegressions)
    EXPECT_THROW(check_zip_archive(read_bytes(kCorpus / name), name, Seal::kOptional),
                 std::runtime_error)
        << name;
  std::string renamed = read_bytes(kCorpus / "valid_tiny_gpt_muon.pt");
  const size_t at = renamed.rfind("archive/constants.pkl");  // its central directory name
  ASSERT_NE(at, std::string::npos);
  renamed[at] = 'X';
  EXPECT_THROW(check_zip_archive(renamed, "renamed.pt"), std::runtime_error);
  EXPECT_FALSE(check_zip_archive(testing::without_seal(renamed), "renamed.pt", Seal::kOptional));
}

using testing::without_seal;

TEST(ZipCheck, EveryFlippedByteOfASealedCheckpointIsCaught) {
  const std::string good = read_bytes(kCorpus / "valid_tiny_gpt_muon.pt");
  ASSERT_GT(good.size(), 1000u);
  EXPECT_TRUE(check_zip_archive(good, "good.pt"));
  for (size_t at = 0; at < good.size(); ++at) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ (1 << (at % 8)));
    EXPECT_THROW(check_zip_archive(bad, "bad.pt"), std::runtime_error) << "byte " << at;
  }
  for (size_t cut : {size_t{0}, size_t{21}, good.size() / 2, good.size() - 1})
    EXPECT_THROW(check_zip_archive(good.substr(0, cut), "cut.pt"), std::runtime_error) << cut;
  EXPECT_THROW(check_zip_archive(good + "x", "longer.pt"), std::runtime_error);
}

TEST(ZipCheck, AnUnsealedCheckpointIsRefusedWithTheCommandThatSealsIt) {
  const std::string old = without_seal(read_bytes(kCorpus / "valid_tiny_gpt_muon.pt"));
  EXPECT_FALSE(check_zip_archive(old, "old.pt", Seal::kOptional));
  try {
    check_zip_archive(old, "old.pt");
    ADD_FAILURE() << "an unsealed archive was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("steepest checkpoint seal old.pt"), std::string::npos)
        << e.what();
  }
}

TEST(ZipCheck, SealingRestoresTheBytesSteepestWritesAndHappensOnce) {
  const std::string good = read_bytes(kCorpus / "valid_tiny_gpt_muon.pt");
  std::string resealed = without_seal(good);
  seal_zip_archive(resealed, "old.pt");
  EXPECT_EQ(resealed, good);
  EXPECT_THROW(seal_zip_archive(resealed, "old.pt"), std::runtime_error);

  const fs::path tmp = fs::path(::testing::TempDir()) / "steepest_unsealed.pt";
  std::ofstream(tmp, std::ios::binary) << without_seal(good);
  EXPECT_THROW(read_checkpoint_config(tmp.string()), std::runtime_error);
  EXPECT_TRUE(seal_checkpoint_file(tmp.string()));
  EXPECT_EQ(read_bytes(tmp), good);
  EXPECT_EQ(read_checkpoint_config(tmp.string()).n_embd, 4);
  EXPECT_FALSE(seal_checkpoint_file(tmp.string()));
  EXPECT_EQ(read_bytes(tmp), good);
  // A damaged file is never sealed.
  std::string bad = without_seal(good);
  bad[bad.find("class Module") + 2] ^= 0x10;  // in a member, so its CRC-32 fails
  std::ofstream(tmp, std::ios::binary) << bad;
  EXPECT_THROW(seal_checkpoint_file(tmp.string()), std::runtime_error);
  EXPECT_EQ(read_bytes(tmp), bad);
  fs::remove(tmp);
}

}  // namespace
}  // namespace steepest
