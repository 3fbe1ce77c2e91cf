#include <gtest/gtest.h>

#include <set>

#include "data/data_test_util.h"
#include "steepest/data/shard.h"
#include "steepest/data/token_dataset.h"

namespace steepest {
namespace {

using testing::expect_error;
using testing::scratch_dir;
using testing::to_vector;

// One shard whose token i is (first + i) mod 65536, so a token's value tells
// where in the stream it came from.
std::vector<uint16_t> ramp(int64_t n, int64_t first = 0) {
  std::vector<uint16_t> t(n);
  for (int64_t i = 0; i < n; ++i) t[i] = static_cast<uint16_t>((first + i) % 65536);
  return t;
}

// A dataset of one shard holding `tokens`.
TokenDataset dataset_of(const std::string& dir, const std::vector<uint16_t>& tokens,
                        int64_t vocab = 65536) {
  write_shard(dir + "/d_000000.bin", tokens);
  return TokenDataset(dir + "/d_*.bin", vocab);
}

TEST(TokenDataset, ConcatenatesShardsInSortedOrder) {
  const std::string dir = scratch_dir();
  // Written b first so creation order differs from name order.
  write_shard(dir + "/train_000001.bin", {7, 8, 9});
  write_shard(dir + "/train_000000.bin", {1, 2});
  write_shard(dir + "/val_000000.bin", {100});
  const TokenDataset data(dir + "/train_*.bin", 256);
  EXPECT_EQ(data.files(),
            (std::vector<std::string>{dir + "/train_000000.bin", dir + "/train_000001.bin"}));
  EXPECT_EQ(data.size(), 5);
  EXPECT_EQ(data.tokens().scalar_type(), at::kInt);
  EXPECT_EQ(data.tokens().dim(), 1);
  EXPECT_EQ(to_vector(data.tokens()), (std::vector<int64_t>{1, 2, 7, 8, 9}));
}

TEST(TokenDataset, TokenOutsideVocabNamesFileIdAndVocab) {
  const std::string dir = scratch_dir();
  write_shard(dir + "/s_000000.bin", {1, 2, 3});
  write_shard(dir + "/s_000001.bin", {5, 50256, 300, 2});
  expect_error([&] { TokenDataset(dir + "/s_*.bin", 256); },
               {dir + "/s_000001.bin", "50256", "256", "position 1"});
  EXPECT_NO_THROW(TokenDataset(dir + "/s_*.bin", 50257));  // 50256 < 50257
}

// Issue #12: a shard of 0 tokens surfaced libtorch's "max(): Expected
// reduction dim" from the vocab check; it must name the file instead.
TEST(TokenDataset, ZeroTokensNamesTheShards) {
  const std::string dir = scratch_dir();
  write_shard(dir + "/empty_000000.bin", {});
  expect_error([&] { TokenDataset(dir + "/empty_*.bin", 256); },
               {dir + "/empty_000000.bin", "0 tokens", "steepest data prepare"});
}

TEST(TokenDataset, NoMatchingShardsNamesThePattern) {
  const std::string pattern = scratch_dir() + "/nothing_*.bin";
  expect_error([&] { TokenDataset(pattern, 256); },
               {pattern, "no files match", "prepare the data first"});
}

// A run directory given where a glob belongs: named, with the glob to use.
TEST(TokenDataset, DirectoryInsteadOfAGlobIsNamed) {
  const std::string dir = scratch_dir();
  write_shard(dir + "/train_000000.bin", {1, 2, 3});
  expect_error([&] { TokenDataset(dir, 256); }, {dir, "is a directory", dir + "/train_*.bin"});
}

// A bad shard among good ones is named, not just "the data".
TEST(TokenDataset, CorruptShardAmongGoodOnesIsNamed) {
  const std::string dir = scratch_dir();
  write_shard(dir + "/d_000000.bin", {1, 2, 3});
  testing::write_bytes(dir + "/d_000001.bin", testing::shard_header(20240520, 1, 5) + "xy");
  expect_error([&] { TokenDataset(dir + "/d_*.bin", 256); },
               {dir + "/d_000001.bin", "truncated", "5 tokens"});
}

// Every row of x must be a window of the raw stream, y the same window moved
// one token on. Returns the window starts.
std::vector<int64_t> check_windows(const TokenDataset& data, const at::Tensor& x,
                                   const at::Tensor& y, int64_t batch, int64_t ctx) {
  EXPECT_EQ(x.sizes(), at::IntArrayRef({batch, ctx}));
  EXPECT_EQ(y.sizes(), at::IntArrayRef({batch, ctx}));
  EXPECT_EQ(x.scalar_type(), at::kLong);
  EXPECT_EQ(y.scalar_type(), at::kLong);
  const auto raw = to_vector(data.tokens());
  std::vector<int64_t> starts;
  for (int64_t i = 0; i < batch; ++i) {
    const int64_t s = x[i][0].item<int64_t>();  // ramp data: token value = position
    EXPECT_GE(s, 0);
    EXPECT_LE(s, data.size() - ctx - 1);
    starts.push_back(s);
    if (s < 0 || s + ctx + 1 > data.size()) continue;
    EXPECT_EQ(to_vector(x[i]), std::vector<int64_t>(raw.begin() + s, raw.begin() + s + ctx))
        << "row " << i;
    EXPECT_EQ(to_vector(y[i]), std::vector<int64_t>(raw.begin() + s + 1, raw.begin() + s + ctx + 1))
        << "row " << i;
  }
  return starts;
}

TEST(BatchSampler, ShapesAndYIsXShiftedByOne) {
  const TokenDataset data = dataset_of(scratch_dir(), ramp(5000));
  BatchSampler sampler(data, 8, 64, 1);
  for (int k = 0; k < 5; ++k) {
    auto [x, y] = sampler.next();
    check_windows(data, x, y, 8, 64);
  }
}

TEST(BatchSampler, SameSeedSameBatchesDifferentSeedDifferent) {
  const TokenDataset data = dataset_of(scratch_dir(), ramp(10000));
  BatchSampler a(data, 4, 32, 42), b(data, 4, 32, 42), c(data, 4, 32, 43);
  for (int k = 0; k < 10; ++k) {
    auto [xa, ya] = a.next();
    auto [xb, yb] = b.next();
    auto [xc, yc] = c.next();
    EXPECT_TRUE(at::equal(xa, xb)) << "batch " << k;
    EXPECT_TRUE(at::equal(ya, yb)) << "batch " << k;
    EXPECT_FALSE(at::equal(xa, xc)) << "batch " << k;
  }
}

TEST(BatchSampler, ConsecutiveBatchesDiffer) {
  const TokenDataset data = dataset_of(scratch_dir(), ramp(10000));
  BatchSampler s(data, 4, 32, 7);
  EXPECT_FALSE(at::equal(s.next().first, s.next().first));
}

TEST(BatchSampler, BatchAtEqualsTheKthNext) {
  const TokenDataset data = dataset_of(scratch_dir(), ramp(10000));
  BatchSampler walker(data, 3, 16, 5);
  const BatchSampler probe(data, 3, 16, 5);
  for (uint64_t k = 0; k < 6; ++k) {
    const auto expected = probe.batch_at(k);  // const: does not move
    EXPECT_EQ(walker.position(), k);
    const auto got = walker.next();
    EXPECT_TRUE(at::equal(got.first, expected.first)) << "k = " << k;
    EXPECT_TRUE(at::equal(got.second, expected.second)) << "k = " << k;
  }
  EXPECT_EQ(probe.position(), 0u);
  EXPECT_EQ(walker.position(), 6u);
}

TEST(BatchSampler, SetPositionThenNextEqualsBatchAt) {
  const TokenDataset data = dataset_of(scratch_dir(), ramp(10000));
  BatchSampler s(data, 3, 16, 9);
  for (const uint64_t k : {uint64_t{17}, uint64_t{3}, uint64_t{1} << 40}) {
    const auto expected = s.batch_at(k);
    s.set_position(k);
    const auto got = s.next();
    EXPECT_TRUE(at::equal(got.first, expected.first)) << "k = " << k;
    EXPECT_TRUE(at::equal(got.second, expected.second)) << "k = " << k;
    EXPECT_EQ(s.position(), k + 1);
  }
  // Resuming a fresh sampler at a checkpointed position continues the stream.
  BatchSampler first(data, 3, 16, 9), resumed(data, 3, 16, 9);
  for (int i = 0; i < 4; ++i) first.next();
  resumed.set_position(first.position());
  EXPECT_TRUE(at::equal(first.next().first, resumed.next().first));
}

TEST(BatchSampler, WindowsStayInRangeAndReachBothEnds) {
  // size = ctx + 3: the only valid starts are 0, 1 and 2 (last window ends on
  // the last token). Over many batches all of them, and nothing else, appear.
  const int64_t ctx = 20;
  const TokenDataset data = dataset_of(scratch_dir(), ramp(ctx + 3));
  BatchSampler s(data, 16, ctx, 3);
  std::set<int64_t> seen;
  for (int k = 0; k < 20; ++k) {
    auto [x, y] = s.next();
    for (const int64_t start : check_windows(data, x, y, 16, ctx)) seen.insert(start);
  }
  EXPECT_EQ(seen, (std::set<int64_t>{0, 1, 2}));
}

TEST(BatchSampler, ContextLongerThanDataIsAnError) {
  const TokenDataset data = dataset_of(scratch_dir(), ramp(100));
  expect_error([&] { BatchSampler(data, 2, 100, 0); },
               {"101", "100 tokens", "use a smaller --ctx or more data"});
  // ctx + 1 == size is the largest context that fits: one window, at 0.
  BatchSampler exact(data, 2, 99, 0);
  auto [x, y] = exact.next();
  EXPECT_EQ(to_vector(x[1]), to_vector(data.tokens().narrow(0, 0, 99)));
  EXPECT_EQ(to_vector(y[0]), to_vector(data.tokens().narrow(0, 1, 99)));
}

TEST(TokenDataset, SequentialBatchCoversConsecutiveWindowsAndWraps) {
  // 100 tokens, ctx 10: windows start at 0, 10, …, 80 (9 of them; the 10th
  // would need token 100 as its last target).
  const TokenDataset data = dataset_of(scratch_dir(), ramp(100));
  const int64_t ctx = 10, batch = 4;
  std::vector<int64_t> starts;
  for (int64_t index = 0; index < 5; ++index) {
    auto [x, y] = sequential_batch(data, index, batch, ctx);
    for (const int64_t s : check_windows(data, x, y, batch, ctx)) starts.push_back(s);
  }
  std::vector<int64_t> expected;
  for (int64_t w = 0; w < 5 * batch; ++w) expected.push_back((w % 9) * ctx);
  EXPECT_EQ(starts, expected);  // 0, 10, …, 80, then back to 0
  // The same index always gives the same batch.
  EXPECT_TRUE(at::equal(sequential_batch(data, 3, batch, ctx).first,
                        sequential_batch(data, 3, batch, ctx).first));
  expect_error([&] { sequential_batch(data, 0, 1, 100); }, {"101", "100 tokens", "--ctx"});
}

}  // namespace
}  // namespace steepest
