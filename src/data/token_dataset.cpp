#include "steepest/data/token_dataset.h"

#include <ATen/CPUGeneratorImpl.h>

#include <stdexcept>

#include "steepest/data/shard.h"

namespace steepest {
namespace {

// SplitMix64 finalizer: a bijective 64-bit mix, so nearby (seed, k) pairs get
// unrelated generator seeds.
uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void check_window(const char* fn, const TokenDataset& data, int64_t batch, int64_t ctx) {
  if (batch <= 0 || ctx <= 0)
    throw std::runtime_error(std::string(fn) + ": batch and ctx must be positive, got batch " +
                             std::to_string(batch) + ", ctx " + std::to_string(ctx));
  if (ctx + 1 > data.size())
    throw std::runtime_error(
        std::string(fn) + ": a window needs ctx + 1 = " + std::to_string(ctx + 1) +
        " tokens (inputs plus one target) but " + "the dataset has only " +
        std::to_string(data.size()) + " tokens; use a smaller --ctx or more data");
}

// Windows of ctx + 1 tokens starting at `starts` (batch,) int64 →
// x = window[:, :ctx], y = window[:, 1:], both (batch, ctx) int64.
std::pair<at::Tensor, at::Tensor> gather_windows(const at::Tensor& tokens, const at::Tensor& starts,
                                                 int64_t ctx) {
  const at::Tensor offsets = at::arange(ctx + 1, starts.options());
  const at::Tensor idx = starts.unsqueeze(1) + offsets.unsqueeze(0);  // (batch, ctx + 1)
  const at::Tensor windows =
      tokens.index_select(0, idx.reshape({-1})).view(idx.sizes()).to(at::kLong);
  return {windows.narrow(1, 0, ctx).contiguous(), windows.narrow(1, 1, ctx).contiguous()};
}

}  // namespace

TokenDataset::TokenDataset(const std::string& glob, int64_t vocab_size) {
  if (vocab_size <= 0)
    throw std::runtime_error("TokenDataset: vocab_size must be positive, got " +
                             std::to_string(vocab_size));
  files_ = expand_glob(glob);
  std::vector<at::Tensor> parts;
  parts.reserve(files_.size());
  for (const std::string& file : files_) {
    at::Tensor t = read_shard(file);  // 1-D int32, every id in [0, 65535]
    if (t.numel() > 0 && t.max().item<int64_t>() >= vocab_size) {
      // Report the first offending token, so it can be found in the file.
      const int64_t pos = (t >= vocab_size).nonzero().select(1, 0)[0].item<int64_t>();
      throw std::runtime_error("token shard '" + file + "': token id " +
                               std::to_string(t[pos].item<int64_t>()) + " at position " +
                               std::to_string(pos) + " is not below the vocab size " +
                               std::to_string(vocab_size) +
                               "; these shards were made for a larger vocabulary, so use a "
                               "matching vocab (e.g. 50257 for GPT-2 tokens)");
    }
    parts.push_back(std::move(t));
  }
  tokens_ = parts.size() == 1 ? parts[0] : at::cat(parts);
  if (tokens_.numel() == 0) {
    std::string names;
    for (const auto& f : files_) names += (names.empty() ? "'" : ", '") + f + "'";
    throw std::runtime_error("token shards " + names + " (from '" + glob +
                             "') hold 0 tokens; prepare data with `steepest data prepare`");
  }
}

BatchSampler::BatchSampler(const TokenDataset& data, int64_t batch, int64_t ctx, uint64_t seed)
    : data_(&data), batch_(batch), ctx_(ctx), seed_(seed) {
  check_window("BatchSampler", data, batch, ctx);
}

std::pair<at::Tensor, at::Tensor> BatchSampler::next() {
  auto b = batch_at(position_);
  ++position_;
  return b;
}

std::pair<at::Tensor, at::Tensor> BatchSampler::batch_at(uint64_t k) const {
  // A fresh generator per batch, seeded from (seed, k): no state to carry in a
  // checkpoint, and any batch can be recomputed on its own.
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(mix64(mix64(seed_) ^ k));
  // Starts uniform in [0, size - ctx - 1]: the last window ends at the last token.
  const at::Tensor starts =
      at::randint(0, data_->size() - ctx_, {batch_}, gen, at::TensorOptions().dtype(at::kLong));
  return gather_windows(data_->tokens(), starts, ctx_);
}

std::pair<at::Tensor, at::Tensor> sequential_batch(const TokenDataset& data, int64_t index,
                                                   int64_t batch, int64_t ctx) {
  check_window("sequential_batch", data, batch, ctx);
  if (index < 0)
    throw std::runtime_error("sequential_batch: index must be >= 0, got " + std::to_string(index));
  // Window w covers tokens [w·ctx, w·ctx + ctx]; n_windows of them fit.
  const int64_t n_windows = (data.size() - 1) / ctx;
  const at::Tensor w = (at::arange(batch, at::TensorOptions().dtype(at::kLong)) +
                        (index % n_windows) * (batch % n_windows))
                           .remainder(n_windows);
  return gather_windows(data.tokens(), w * ctx, ctx);
}

}  // namespace steepest
