// What data-parallel training needs from a communication backend, as an
// interface the optimizers can use without knowing the backend: SUM
// all-reduce, all-gather of equal-length buffers and broadcast, all on flat
// 1-D tensors (Gloo in libtorch 1.13 rejects bf16, AVG, reduce_scatter and
// all-gathers of differing shapes, so callers pack and pad; docs/DISTRIBUTED.md).
// train/distributed.h implements it on c10d's ProcessGroupGloo.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>

namespace steepest {

// Traffic so far: bytes this rank sent into collectives and the seconds spent in them.
struct CommStats {
  int64_t bytes = 0;
  double seconds = 0.0;
  int64_t calls = 0;
};

class Collectives {
 public:
  virtual ~Collectives() = default;
  virtual int rank() const = 0;
  virtual int world_size() const = 0;
  // In place: flat ← Σ over ranks of flat. flat: 1-D, contiguous, the same
  // length and dtype (fp32, fp64 or int64) on every rank.
  virtual void all_reduce_sum(at::Tensor& flat) = 0;
  // (world_size, n): row r is rank r's `flat` (1-D, length n on every rank).
  virtual at::Tensor all_gather(const at::Tensor& flat) = 0;
  // In place: every rank's flat ← root's flat (same length everywhere).
  virtual void broadcast(at::Tensor& flat, int root) = 0;
  const CommStats& stats() const { return stats_; }

 protected:
  CommStats stats_;
};

}  // namespace steepest
