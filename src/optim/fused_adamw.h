// Internal: torch::optim::AdamW with its step fused into one pass over each
// CPU fp32 parameter (the hybrid's AdamW for embeddings, head and gains).
//
// Same options, state (AdamWParamState: step, exp_avg, exp_avg_sq) and
// checkpoints as torch::optim::AdamW, so either loads the other's; libtorch's
// arithmetic per element (ATen's kernels may fuse a multiply-add where this
// loop does not: the two agree to fp32 rounding) in one sweep instead of ~10
// libtorch ops per parameter (each a pass and a dispatch: ~0.3 ms a step on
// the default GPT's two AdamW tensors, docs/BENCHMARKS.md). Steps with
// amsgrad, or with any parameter that is not a contiguous CPU fp32 tensor
// with a dense gradient and state of its shape, run libtorch's own step.
#pragma once

#include <torch/optim/adamw.h>

namespace steepest::detail {

class FusedAdamW : public torch::optim::AdamW {
 public:
  using torch::optim::AdamW::AdamW;
  at::Tensor step(LossClosure closure = nullptr) override;

  // Steps that took the fused path (the rest ran libtorch's step).
  int64_t fused_steps() const { return fused_steps_; }

 private:
  int64_t fused_steps_ = 0;
};

}  // namespace steepest::detail
