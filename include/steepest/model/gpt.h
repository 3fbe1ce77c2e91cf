// A GPT in the style of the modded-nanogpt optimization-track baseline.
//
// tokens (B, T) int64 → embed → n_layer × [x + attn(rms(x)); x + mlp(rms(x))]
// → rms → head → logits (B, T, vocab). RMSNorm has no learned parameters,
// attention uses rotary position embedding and QK-norm and is written with
// plain ops (causal mask, softmax), the MLP is ReLU² at 4× width, each block's
// output projections are zero-initialized, the head is untied, and logits are
// optionally soft-capped: cap·tanh(logits/cap).
//
// Parameter names (all 2-D, so the optimizer routing reads off the name):
//   embed.weight                      (vocab, n_embd)        → AdamW
//   blocks.<i>.attn.{q,k,v,o}.weight  (n_embd, n_embd)       → Muon
//   blocks.<i>.mlp.fc.weight          (4·n_embd, n_embd)     → Muon
//   blocks.<i>.mlp.proj.weight        (n_embd, 4·n_embd)     → Muon
//   head.weight                       (vocab, n_embd)        → AdamW
#pragma once

#include <ATen/ATen.h>
#include <torch/nn/module.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "steepest/model/rotary.h"

namespace steepest {

struct GptBlockImpl;  // blocks.<i>: attn.{q,k,v,o}, mlp.{fc,proj} (src/model/gpt.cpp)

struct GPTConfig {
  int64_t vocab_size = 256;
  int64_t n_layer = 4;
  int64_t n_head = 4;
  int64_t n_embd = 128;
  int64_t ctx = 128;           // longest sequence forward() accepts
  double logit_softcap = 0.0;  // 0 = off
  double rope_base = 10000.0;
  // Options the modular-norm theory asks for (modula's GPT); off by default, so
  // existing runs and checkpoints are unchanged.
  // x ← (1 − 1/(2L))·x + 1/(2L)·block(x) for attention and MLP alike (L = n_layer),
  // instead of x + block(x).
  bool residual_mixing = false;
  // Attention scores q·k/d_head instead of q·k/√d_head.
  bool attn_1_over_d = false;
  // Every Linear (q, k, v, o, fc, proj, head) starts as a random orthogonal
  // matrix scaled by √(fan_out/fan_in) (unit RMS→RMS norm) instead of the
  // default init with zero output projections and head.
  bool orthogonal_init = false;
};

class GPTImpl : public torch::nn::Module {
 public:
  // Throws c10::Error for n_embd not divisible by n_head, odd head size, or
  // non-positive sizes, naming the values.
  explicit GPTImpl(const GPTConfig& config);

  // idx (B, T) int64 with T ≤ ctx and ids < vocab_size → logits (B, T, vocab) fp32.
  at::Tensor forward(const at::Tensor& idx);
  // Mean next-token cross-entropy of forward(idx) against targets (B, T).
  at::Tensor loss(const at::Tensor& idx, const at::Tensor& targets);

  // Appends n_new tokens to prompt (1, T0) by sampling: temperature (> 0) and
  // top_k (0 = all); the context is cropped to the last ctx tokens.
  at::Tensor generate(const at::Tensor& prompt, int64_t n_new, double temperature, int64_t top_k,
                      at::Generator generator);

  const GPTConfig& config() const { return config_; }
  int64_t num_parameters() const;

  // Logits for the flattened batch: idx (B, T) → (B·T, vocab), no reshape.
  at::Tensor forward_flat(const at::Tensor& idx);
  // The rotary tables of every attention layer (ctx × head_dim/2).
  const RotaryTables& rotary() const { return rope_; }

  static constexpr double kNormEps = 1e-6;

 private:
  void check_tokens(const at::Tensor& idx, const char* what) const;

  GPTConfig config_;
  torch::nn::Embedding embed_{nullptr};
  std::vector<std::shared_ptr<GptBlockImpl>> blocks_;
  torch::nn::Linear head_{nullptr};
  RotaryTables rope_;  // buffers, not parameters
};
TORCH_MODULE(GPT);

// The residual update x ← a·x + b·block(x) the config asks for: (1 − 1/(2L),
// 1/(2L)) with residual_mixing, else (1, 1). The forward pass and the module
// tree (gpt_module_tree.h) both read it here.
struct ResidualMix {
  double a = 1.0, b = 1.0;
};
ResidualMix residual_mix(const GPTConfig& config);

}  // namespace steepest
