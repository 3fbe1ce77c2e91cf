// Internal: bytes held in the state of libtorch's own optimizers (AdamW, SGD).
#pragma once

#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

namespace steepest::detail {

inline int64_t libtorch_state_bytes(const torch::optim::Optimizer& opt) {
  auto bytes_of = [](const at::Tensor& t) {
    return t.defined() ? t.numel() * t.element_size() : 0;
  };
  int64_t bytes = 0;
  for (const auto& kv : opt.state()) {
    if (const auto* a = dynamic_cast<const torch::optim::AdamWParamState*>(kv.second.get())) {
      bytes += bytes_of(a->exp_avg()) + bytes_of(a->exp_avg_sq()) + bytes_of(a->max_exp_avg_sq());
    } else if (const auto* s = dynamic_cast<const torch::optim::SGDParamState*>(kv.second.get())) {
      bytes += bytes_of(s->momentum_buffer());
    }
  }
  return bytes;
}

}  // namespace steepest::detail
