#include "steepest/model/gpt.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>
#include <torch/nn/modules/container/modulelist.h>

#include <cmath>
#include <limits>
#include <string>

#include "model/fused_ops.h"

namespace steepest {

// attn.{q,k,v,o}: bias-free n_embd × n_embd projections.
struct GptAttentionImpl : torch::nn::Module {
  torch::nn::Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
  explicit GptAttentionImpl(int64_t c) {
    const auto opts = torch::nn::LinearOptions(c, c).bias(false);
    q = register_module("q", torch::nn::Linear(opts));
    k = register_module("k", torch::nn::Linear(opts));
    v = register_module("v", torch::nn::Linear(opts));
    o = register_module("o", torch::nn::Linear(opts));
  }
};

// mlp.fc (4c × c) → relu² → mlp.proj (c × 4c), bias-free.
struct GptMlpImpl : torch::nn::Module {
  torch::nn::Linear fc{nullptr}, proj{nullptr};
  explicit GptMlpImpl(int64_t c) {
    fc = register_module("fc", torch::nn::Linear(torch::nn::LinearOptions(c, 4 * c).bias(false)));
    proj =
        register_module("proj", torch::nn::Linear(torch::nn::LinearOptions(4 * c, c).bias(false)));
  }
};

struct GptBlockImpl : torch::nn::Module {
  std::shared_ptr<GptAttentionImpl> attn;
  std::shared_ptr<GptMlpImpl> mlp;
  explicit GptBlockImpl(int64_t c) {
    attn = register_module("attn", std::make_shared<GptAttentionImpl>(c));
    mlp = register_module("mlp", std::make_shared<GptMlpImpl>(c));
  }
};

namespace {

void check_config(const GPTConfig& c) {
  TORCH_CHECK(c.vocab_size > 0, "GPTConfig: vocab_size must be positive, got ", c.vocab_size);
  TORCH_CHECK(c.n_layer > 0, "GPTConfig: n_layer must be positive, got ", c.n_layer);
  TORCH_CHECK(c.n_head > 0, "GPTConfig: n_head must be positive, got ", c.n_head);
  TORCH_CHECK(c.n_embd > 0, "GPTConfig: n_embd must be positive, got ", c.n_embd);
  TORCH_CHECK(c.ctx > 0, "GPTConfig: ctx must be positive, got ", c.ctx);
  TORCH_CHECK(c.n_embd % c.n_head == 0, "GPTConfig: n_embd = ", c.n_embd,
              " is not divisible by n_head = ", c.n_head);
  TORCH_CHECK((c.n_embd / c.n_head) % 2 == 0, "GPTConfig: head size n_embd / n_head = ", c.n_embd,
              " / ", c.n_head, " = ", c.n_embd / c.n_head, " must be even for rotary embedding");
  TORCH_CHECK(c.logit_softcap >= 0 && std::isfinite(c.logit_softcap),
              "GPTConfig: logit_softcap must be ≥ 0 (0 = off), got ", c.logit_softcap);
  TORCH_CHECK(c.rope_base > 0 && std::isfinite(c.rope_base),
              "GPTConfig: rope_base must be positive, got ", c.rope_base);
}

// uniform(±√3·0.5/√fan_in): standard deviation 0.5/√fan_in.
void init_hidden(const at::Tensor& w) {
  const double bound = std::sqrt(3.0) * 0.5 / std::sqrt(double(w.size(1)));
  w.uniform_(-bound, bound);
}

// A random (semi-)orthogonal (fan_out, fan_in) matrix × √(fan_out/fan_in): all
// singular values √(fan_out/fan_in), RMS→RMS operator norm 1 (modula's Linear).
void init_orthogonal(const at::Tensor& w) {
  const int64_t m = w.size(0), n = w.size(1);
  const at::Tensor g = at::randn({std::max(m, n), std::min(m, n)}, w.options());
  at::Tensor q = std::get<0>(at::linalg_qr(g, "reduced"));  // orthonormal columns
  if (m < n) q = q.t();
  w.copy_(q * std::sqrt(double(m) / double(n)));
}

}  // namespace

GPTImpl::GPTImpl(const GPTConfig& config) : config_(config) {
  check_config(config_);
  const int64_t c = config_.n_embd;
  embed_ = register_module("embed", torch::nn::Embedding(config_.vocab_size, c));
  auto list = register_module("blocks", torch::nn::ModuleList());
  for (int64_t i = 0; i < config_.n_layer; ++i) {
    blocks_.push_back(std::make_shared<GptBlockImpl>(c));
    list->push_back(blocks_.back());
  }
  head_ = register_module(
      "head", torch::nn::Linear(torch::nn::LinearOptions(c, config_.vocab_size).bias(false)));

  at::NoGradGuard no_grad;
  embed_->weight.normal_(0.0, 1.0);
  if (config_.orthogonal_init) {
    for (const auto& b : blocks_)
      for (const auto& w : {b->attn->q->weight, b->attn->k->weight, b->attn->v->weight,
                            b->attn->o->weight, b->mlp->fc->weight, b->mlp->proj->weight})
        init_orthogonal(w);
    init_orthogonal(head_->weight);
  } else {
    for (const auto& b : blocks_) {
      init_hidden(b->attn->q->weight);
      init_hidden(b->attn->k->weight);
      init_hidden(b->attn->v->weight);
      init_hidden(b->mlp->fc->weight);
      b->attn->o->weight.zero_();  // each block starts as the identity
      b->mlp->proj->weight.zero_();
    }
    head_->weight.zero_();  // initial logits 0: loss = ln(vocab)
  }

  rope_ = rotary_tables(config_.ctx, c / config_.n_head, config_.rope_base);
}

ResidualMix residual_mix(const GPTConfig& c) {
  if (!c.residual_mixing) return {};
  const double b = 1.0 / (2.0 * double(c.n_layer));
  return {1.0 - b, b};
}

void GPTImpl::check_tokens(const at::Tensor& idx, const char* what) const {
  TORCH_CHECK(idx.defined() && idx.dim() == 2, "GPT ", what, ": ids must be 2-D (B, T), got ",
              idx.defined() ? idx.sizes() : at::IntArrayRef{});
  TORCH_CHECK(idx.scalar_type() == at::kLong, "GPT ", what, ": ids must be int64, got ",
              idx.scalar_type(), " (hint: .to(at::kLong))");
  TORCH_CHECK(idx.size(0) > 0 && idx.size(1) > 0, "GPT ", what, ": empty batch ", idx.sizes());
  const auto lo = idx.min().item<int64_t>(), hi = idx.max().item<int64_t>();
  if (lo < 0 || hi >= config_.vocab_size) {
    const int64_t bad = lo < 0 ? lo : hi;
    const auto flat = (idx.reshape({-1}) == bad).nonzero()[0][0].item<int64_t>();
    TORCH_CHECK(false, "GPT ", what, ": token id ", bad, " at (", flat / idx.size(1), ", ",
                flat % idx.size(1), ") is outside [0, vocab_size = ", config_.vocab_size,
                ") (hint: the tokenizer's vocabulary must fit GPTConfig::vocab_size)");
  }
}

at::Tensor GPTImpl::forward_flat(const at::Tensor& idx) {
  check_tokens(idx, "forward");
  const int64_t B = idx.size(0), T = idx.size(1), C = config_.n_embd, H = config_.n_head, d = C / H;
  TORCH_CHECK(T <= config_.ctx, "GPT forward: sequence length T = ", T,
              " exceeds ctx = ", config_.ctx,
              " (hint: crop to the last ctx tokens, or raise GPTConfig::ctx)");
  const double eps = kNormEps,
               q_scale = config_.attn_1_over_d ? 1.0 / double(d) : 1.0 / std::sqrt(double(d));
  const ResidualMix mix = residual_mix(config_);
  auto residual = [&](const at::Tensor& u, const at::Tensor& w, const at::Tensor& x_in) {
    if (!config_.residual_mixing) return detail::linear(u, w, x_in);
    return detail::linear(u, w * mix.b, x_in * mix.a);
  };

  // The residual stream stays (B·T, C): every projection is one GEMM, and the
  // residual add is the GEMM's own accumulate (addmm).
  at::Tensor x = at::embedding(embed_->weight, idx.reshape({-1}));
  for (const auto& b : blocks_) {
    const auto& a = *b->attn;
    const auto w_qkv = at::cat({a.q->weight, a.k->weight, a.v->weight}, 0);  // (3C, C)
    const auto qkv = detail::linear(detail::rms_norm(x, eps), w_qkv);
    const auto h = detail::qkv_heads(qkv, B, T, H, rope_, eps, q_scale);  // 3 × (B, H, T, d)
    x = residual(detail::causal_attention(h[0], h[1], h[2]), a.o->weight, x);

    const auto& m = *b->mlp;
    const auto u = detail::relu_square(detail::linear(detail::rms_norm(x, eps), m.fc->weight));
    x = residual(u, m.proj->weight, x);
  }
  auto logits = detail::linear(detail::rms_norm(x, eps), head_->weight);
  if (config_.logit_softcap > 0)
    logits = at::tanh(logits * (1.0 / config_.logit_softcap)) * config_.logit_softcap;
  return logits;
}

at::Tensor GPTImpl::forward(const at::Tensor& idx) {
  auto logits = forward_flat(idx);
  return logits.view({idx.size(0), idx.size(1), config_.vocab_size});
}

at::Tensor GPTImpl::loss(const at::Tensor& idx, const at::Tensor& targets) {
  TORCH_CHECK(targets.defined() && idx.defined() && targets.sizes() == idx.sizes(),
              "GPT loss: targets must have the shape of idx ",
              idx.defined() ? idx.sizes() : at::IntArrayRef{}, ", got ",
              targets.defined() ? targets.sizes() : at::IntArrayRef{});
  check_tokens(targets, "loss (targets)");
  return at::cross_entropy_loss(forward_flat(idx), targets.reshape({-1}));
}

at::Tensor GPTImpl::generate(const at::Tensor& prompt, int64_t n_new, double temperature,
                             int64_t top_k, at::Generator generator) {
  TORCH_CHECK(temperature > 0 && std::isfinite(temperature),
              "GPT generate: temperature must be > 0 and finite, got ", temperature,
              " (hint: for near-greedy decoding use a small temperature or top_k = 1)");
  TORCH_CHECK(top_k >= 0, "GPT generate: top_k must be ≥ 0 (0 = all tokens), got ", top_k);
  TORCH_CHECK(n_new >= 0, "GPT generate: n_new must be ≥ 0, got ", n_new);
  check_tokens(prompt, "generate (prompt)");
  TORCH_CHECK(prompt.size(0) == 1, "GPT generate: prompt must be (1, T0), got ", prompt.sizes());
  at::NoGradGuard no_grad;
  const int64_t t0 = prompt.size(1), V = config_.vocab_size;
  auto out = at::empty({1, t0 + n_new}, prompt.options());
  out.slice(1, 0, t0).copy_(prompt);
  for (int64_t i = 0; i < n_new; ++i) {
    const int64_t len = t0 + i, start = std::max<int64_t>(0, len - config_.ctx);
    auto logits = forward_flat(out.slice(1, start, len)).select(0, len - start - 1);
    logits = logits / temperature;
    if (top_k > 0 && top_k < V) {
      const auto kth = std::get<0>(logits.topk(top_k)).select(0, top_k - 1);
      logits = logits.masked_fill(logits < kth, -std::numeric_limits<float>::infinity());
    }
    const auto next = at::multinomial(at::softmax(logits, -1), 1, false, generator);
    out.select(1, len).copy_(next);
  }
  return out;
}

int64_t GPTImpl::num_parameters() const {
  int64_t n = 0;
  for (const auto& p : parameters()) n += p.numel();
  return n;
}

}  // namespace steepest
