// A tiny language-model-shaped module for optimizer tests: embedding, two
// hidden matrices, a gain, an untied head.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/moduledict.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>

namespace steepest::testing {

struct TinyLmImpl : torch::nn::Module {
  torch::nn::Embedding embed{nullptr};
  torch::nn::Linear fc{nullptr}, proj{nullptr}, head{nullptr};
  at::Tensor gain;
  explicit TinyLmImpl(int64_t vocab = 16, int64_t d = 8) {
    embed = register_module("embed", torch::nn::Embedding(vocab, d));
    fc = register_module("fc", torch::nn::Linear(torch::nn::LinearOptions(d, 4 * d).bias(false)));
    proj =
        register_module("proj", torch::nn::Linear(torch::nn::LinearOptions(4 * d, d).bias(false)));
    gain = register_parameter("gain", at::ones({d}));
    head = register_module("head", torch::nn::Linear(torch::nn::LinearOptions(d, vocab)));
  }
  // tokens (B, T) int64 → logits (B, T, vocab)
  at::Tensor forward(const at::Tensor& tokens) {
    auto x = embed(tokens);
    x = x + proj(at::relu(fc(x)).square());
    return head(x * gain);
  }
};
TORCH_MODULE(TinyLm);

// Next-token loss on a fixed random batch (same seed → same batch).
inline at::Tensor tiny_loss(TinyLm& m, int64_t seed, int64_t vocab = 16) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto tokens = at::randint(vocab, {4, 9}, gen, at::kLong);
  const auto logits = m->forward(tokens.slice(1, 0, 8));
  return at::cross_entropy_loss(logits.reshape({-1, vocab}), tokens.slice(1, 1).reshape({-1}));
}

}  // namespace steepest::testing
