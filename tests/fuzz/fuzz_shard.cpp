// libFuzzer target: a token shard of arbitrary bytes through read_shard, then
// (as the trainer reads it) TokenDataset with a byte and a 16-bit vocabulary,
// and the batches drawn from it.
#include <algorithm>
#include <cstring>

#include "fuzz/fuzz_util.h"
#include "steepest/data/shard.h"
#include "steepest/data/token_dataset.h"

using namespace steepest;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = fuzz::scratch_dir("fuzz_shard");
  static const std::string path = dir + "/train_000000.bin", copy = dir + "/copy.bin";
  fuzz::write_input(path, data, size);
  at::Tensor t;
  fuzz::expect_clean_refusal(path, [&] { t = read_shard(path); });
  if (!t.defined()) return 0;
  if (t.dim() != 1 || t.scalar_type() != at::kInt)
    fuzz::finding("read_shard returned something other than a 1-D int32 tensor");
  // A shard it accepts holds uint16 tokens and rewrites to the same bytes.
  const int32_t* p = t.data_ptr<int32_t>();
  std::vector<uint16_t> tokens(p, p + t.numel());
  if (std::any_of(p, p + t.numel(), [](int32_t v) { return v < 0 || v > 65535; }))
    fuzz::finding("read_shard returned a token outside [0, 65535]");
  write_shard(copy, tokens);
  if (!at::equal(read_shard(copy), t)) fuzz::finding("write_shard → read_shard changed tokens");

  for (const int64_t vocab : {int64_t{256}, int64_t{65536}}) {
    fuzz::expect_clean_refusal(path, [&] {
      const TokenDataset data(dir + "/train_*.bin", vocab);
      if (data.size() < 2) return;
      const int64_t ctx = std::min<int64_t>(8, data.size() - 1);
      BatchSampler sampler(data, 2, ctx, 1);
      const auto [x, y] = sampler.next();
      const auto [vx, vy] = sequential_batch(data, 3, 2, ctx);
      if (x.size(1) != ctx || vy.size(1) != ctx) fuzz::finding("batch of the wrong shape");
    });
  }
  return 0;
}
