// The checkpoint archive check in front of libtorch's reader (issue #12's
// fuzzing): the damaged archives that crashed libtorch 1.13 are refused with
// our message, and real checkpoints pass.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

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

TEST(ZipCheck, ArchivesThatCrashedLibtorchAreRefusedByName) {
  for (const char* name :
       {"regress_checkpoint-oom-unpickler-readbytes", "regress_checkpoint-segv-parseClassConstant",
        "regress_checkpoint-leak-miniz-reader"}) {
    const fs::path p = kCorpus / name;
    ASSERT_TRUE(fs::exists(p)) << p;
    try {
      read_checkpoint_config(p.string());
      ADD_FAILURE() << name << " was accepted";
    } catch (const std::runtime_error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find(p.string()), std::string::npos) << msg;
      EXPECT_NE(msg.find("damaged"), std::string::npos) << msg;
    }
  }
}

TEST(ZipCheck, AValidCheckpointPassesAndEveryFlippedByteOfItsDataIsCaught) {
  const std::string good = read_bytes(kCorpus / "valid_tiny_gpt_muon.pt");
  ASSERT_FALSE(good.empty());
  EXPECT_NO_THROW(check_zip_archive(good, "good.pt"));
  // Flip one byte at many places. Flips in member data fail the CRC; flips in
  // padding or timestamps leave a file that still loads (or that libtorch
  // refuses by its own checks): none may crash.
  const fs::path tmp = fs::path(::testing::TempDir()) / "steepest_zip_flip.pt";
  int refused = 0, places = 0;
  for (size_t at = 0; at < good.size(); at += good.size() / 97 + 1, ++places) {
    std::string bad = good;
    bad[at] = static_cast<char>(bad[at] ^ 0x5a);
    try {
      check_zip_archive(bad, "bad.pt");
    } catch (const std::runtime_error&) {
      ++refused;
      continue;
    }
    std::ofstream(tmp, std::ios::binary) << bad;
    try {
      read_checkpoint_config(tmp.string());
    } catch (const std::runtime_error&) {
    }
  }
  EXPECT_GE(refused, places / 2) << refused << " of " << places;
  EXPECT_THROW(check_zip_archive(good.substr(0, good.size() / 2), "cut.pt"), std::runtime_error);
  EXPECT_THROW(check_zip_archive("", "empty.pt"), std::runtime_error);
}

}  // namespace
}  // namespace steepest
