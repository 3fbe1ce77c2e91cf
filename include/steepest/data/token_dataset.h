// All tokens of a set of shards, and deterministic batches drawn from them.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace steepest {

class TokenDataset {
 public:
  // Loads every shard matching `glob` (sorted) and concatenates them in memory
  // (int32, 4 bytes per token). Every token must be < vocab_size: the error
  // names the file, the offending id and the vocab size.
  TokenDataset(const std::string& glob, int64_t vocab_size);

  int64_t size() const { return tokens_.numel(); }
  const at::Tensor& tokens() const { return tokens_; }  // 1-D int32
  const std::vector<std::string>& files() const { return files_; }

 private:
  at::Tensor tokens_;
  std::vector<std::string> files_;
};

// Random training windows. Batch k is a pure function of (seed, k), so the
// data position in a checkpoint is just the number of batches drawn.
class BatchSampler {
 public:
  // Throws std::runtime_error when ctx + 1 > data.size() (context longer than
  // the data), naming both numbers. Keeps a pointer: `data` must outlive it.
  BatchSampler(const TokenDataset& data, int64_t batch, int64_t ctx, uint64_t seed);

  // x (batch, ctx) int64 and y = x shifted by one (batch, ctx) int64.
  std::pair<at::Tensor, at::Tensor> next();
  // The batch that next() would return as its k-th, without moving.
  std::pair<at::Tensor, at::Tensor> batch_at(uint64_t k) const;

  uint64_t position() const { return position_; }
  void set_position(uint64_t k) { position_ = k; }

 private:
  const TokenDataset* data_;
  int64_t batch_, ctx_;
  uint64_t seed_, position_ = 0;
};

// Validation batch `index`: consecutive non-overlapping windows from the start
// of the data (wrapping around), so every eval sees the same tokens. Row i is
// window w = (index·batch + i) mod ⌊(size − 1) / ctx⌋, x = tokens[w·ctx, w·ctx + ctx),
// y = x shifted by one; both (batch, ctx) int64.
std::pair<at::Tensor, at::Tensor> sequential_batch(const TokenDataset& data, int64_t index,
                                                   int64_t batch, int64_t ctx);

}  // namespace steepest
