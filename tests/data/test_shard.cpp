#include <gtest/gtest.h>

#include <filesystem>
#include <limits>

#include "data/data_test_util.h"
#include "data/shard_format.h"
#include "steepest/data/shard.h"

namespace steepest {
namespace {

using testing::expect_error;
using testing::scratch_dir;
using testing::shard_header;
using testing::write_bytes;

TEST(Shard, RoundTrip) {
  const std::string path = scratch_dir() + "/rt.bin";
  // Includes 0, bytes with the high bit set, and the largest uint16.
  const std::vector<uint16_t> tokens = {0, 1, 255, 256, 0x8000, 50256, 65535, 7};
  write_shard(path, tokens);
  const at::Tensor t = read_shard(path);
  EXPECT_EQ(t.scalar_type(), at::kInt);
  EXPECT_EQ(t.dim(), 1);
  ASSERT_EQ(t.numel(), static_cast<int64_t>(tokens.size()));
  for (size_t i = 0; i < tokens.size(); ++i) EXPECT_EQ(t[i].item<int64_t>(), tokens[i]) << i;

  write_shard(path, {});  // an empty shard is valid, and overwriting works
  EXPECT_EQ(read_shard(path).numel(), 0);
}

TEST(Shard, WritesTheLlmcLayout) {
  const std::string path = scratch_dir() + "/layout.bin";
  write_shard(path, {0x0102, 0xA0B0, 3});
  const std::string bytes = testing::read_bytes(path);
  ASSERT_EQ(bytes.size(), 1024u + 3 * 2);
  EXPECT_EQ(bytes.substr(0, 12), shard_header(20240520, 1, 3).substr(0, 12));
  EXPECT_EQ(bytes.substr(12, 1012), std::string(1012, '\0'));  // rest of the header is zero
  // uint16 little-endian tokens.
  EXPECT_EQ(bytes.substr(1024), std::string("\x02\x01\xB0\xA0\x03\x00", 6));
}

TEST(Shard, ReadsAHandWrittenShard) {
  const std::string path = scratch_dir() + "/hand.bin";
  write_bytes(path, shard_header(20240520, 1, 2) + std::string("\x34\x12\xff\xff", 4));
  EXPECT_EQ(testing::to_vector(read_shard(path)), (std::vector<int64_t>{0x1234, 65535}));
}

TEST(Shard, WriteCreatesNothingElse) {
  const std::string dir = scratch_dir();
  write_shard(dir + "/only.bin", {1, 2, 3});
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  EXPECT_EQ(names, std::vector<std::string>{"only.bin"});  // in particular no only.bin.tmp
}

TEST(Shard, WriteIntoMissingDirectoryFails) {
  const std::string path = scratch_dir() + "/no/such/dir/x.bin";
  expect_error([&] { write_shard(path, {1}); }, {path, "No such file or directory"});
}

TEST(Shard, TooManyTokensIsAnError) {
  const uint64_t max = std::numeric_limits<int32_t>::max();
  EXPECT_NO_THROW(detail::check_shard_token_count("big.bin", max));
  expect_error([&] { detail::check_shard_token_count("big.bin", max + 1); },
               {"big.bin", "2147483648", "2147483647", "several shards"});
}

TEST(Shard, MissingFileError) {
  const std::string path = scratch_dir() + "/missing.bin";
  expect_error([&] { read_shard(path); }, {path, "no such file"});
}

TEST(Shard, ShortHeaderError) {
  const std::string path = scratch_dir() + "/short.bin";
  write_bytes(path, shard_header(20240520, 1, 0).substr(0, 1000));
  expect_error([&] { read_shard(path); }, {path, "1000 bytes", "1024-byte header"});
}

TEST(Shard, WrongMagicError) {
  const std::string path = scratch_dir() + "/magic.bin";
  write_bytes(path, shard_header(12345, 1, 0));
  expect_error([&] { read_shard(path); }, {path, "magic", "expected 20240520", "found 12345"});
}

TEST(Shard, WrongVersionError) {
  const std::string path = scratch_dir() + "/version.bin";
  write_bytes(path, shard_header(20240520, 2, 0));
  expect_error([&] { read_shard(path); }, {path, "version", "expected 1", "found 2"});
}

TEST(Shard, TruncatedError) {
  const std::string path = scratch_dir() + "/trunc.bin";
  write_bytes(path, shard_header(20240520, 1, 10) + std::string(19, 'x'));  // needs 20
  expect_error([&] { read_shard(path); }, {path, "truncated", "10 tokens", "expected 1044 bytes",
                                           "found 1043 bytes", "prepare the data again"});
}

TEST(Shard, TrailingBytesError) {
  const std::string path = scratch_dir() + "/trail.bin";
  write_bytes(path, shard_header(20240520, 1, 2) + std::string(5, 'x'));  // needs 4
  expect_error([&] { read_shard(path); }, {path, "trailing bytes", "expected 1028 bytes",
                                           "found 1029 bytes", "does not match"});
}

// Counts near the int32/uint32 limits: the size check comes before any
// allocation, so these fail fast with the numbers instead of asking for GBs.
TEST(Shard, HugeHeaderCountsAreErrors) {
  const std::string path = scratch_dir() + "/huge.bin";
  write_bytes(path, shard_header(20240520, 1, std::numeric_limits<int32_t>::max()) + "ab");
  expect_error([&] { read_shard(path); }, {path, "truncated", "2147483647 tokens",
                                           "expected 4294968318 bytes", "found 1026 bytes"});
  write_bytes(path, shard_header(20240520, 1, -1));  // 0xFFFFFFFF on disk
  expect_error([&] { read_shard(path); },
               {path, "negative token count -1", "4294967295 as unsigned", "damaged"});
  write_bytes(path, shard_header(20240520, 1, std::numeric_limits<int32_t>::min()));
  expect_error([&] { read_shard(path); }, {path, "-2147483648", "2147483648 as unsigned"});
}

TEST(Shard, DirectoryIsNotAShard) {
  const std::string dir = scratch_dir();
  expect_error([&] { read_shard(dir); }, {dir, "is a directory", dir + "/train_*.bin"});
}

TEST(Shard, GlobIsSorted) {
  const std::string dir = scratch_dir();
  // Created out of order; the non-matching file must not appear.
  for (const char* name : {"train_000002.bin", "train_000000.bin", "val_000000.bin",
                           "train_000010.bin", "train_000001.bin"})
    write_shard(dir + "/" + name, {1});
  const std::vector<std::string> expected = {dir + "/train_000000.bin", dir + "/train_000001.bin",
                                             dir + "/train_000002.bin", dir + "/train_000010.bin"};
  EXPECT_EQ(expand_glob(dir + "/train_*.bin"), expected);
}

TEST(Shard, GlobWithoutMatchesNamesThePattern) {
  const std::string pattern = scratch_dir() + "/fineweb_train_*.bin";
  expect_error([&] { expand_glob(pattern); }, {"no files match", pattern});
}

}  // namespace
}  // namespace steepest
