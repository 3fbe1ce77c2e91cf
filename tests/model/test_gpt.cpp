#include <gtest/gtest.h>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/optim/adamw.h>

#include <cmath>
#include <string>
#include <vector>

#include "model/fused_ops.h"
#include "model/reference_ops.h"
#include "model/tiny_gpt.h"
#include "steepest/model/gpt.h"
#include "steepest/model/rotary.h"
#include "steepest/optim/hybrid.h"
#include "steepest/util/gemm_backend.h"
#include "test_util.h"

namespace steepest {
namespace {

// The zero-initialized projections and head make a fresh model blind to its
// input; random weights everywhere make every path visible.
void randomize(GPT& m, double std = 0.3) {
  at::NoGradGuard no_grad;
  for (auto& p : m->parameters()) p.normal_(0.0, std);
}

at::Tensor tokens(int64_t vocab, int64_t B, int64_t T, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(vocab, {B, T}, gen, at::kLong);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.what_without_backtrace();
  }
  return "(no error)";
}

TEST(GptParameters, NamesShapesAndOptimizerRouting) {
  GPTConfig c;  // 4 layers, 128 wide, vocab 256
  GPT m(c);
  std::vector<std::string> expected = {"embed.weight"};
  for (int i = 0; i < 4; ++i) {
    const std::string b = "blocks." + std::to_string(i) + ".";
    for (const char* s : {"attn.q", "attn.k", "attn.v", "attn.o", "mlp.fc", "mlp.proj"})
      expected.push_back(b + s + ".weight");
  }
  expected.push_back("head.weight");
  std::vector<std::string> names;
  int64_t total = 0;
  for (const auto& kv : m->named_parameters()) {
    names.push_back(kv.key());
    const auto& p = kv.value();
    total += p.numel();
    ASSERT_EQ(p.dim(), 2) << kv.key();
    EXPECT_EQ(p.scalar_type(), at::kFloat) << kv.key();
    const std::string& n = kv.key();
    std::vector<int64_t> shape = {128, 128};
    if (n == "embed.weight" || n == "head.weight") shape = {256, 128};
    if (n.find("mlp.fc") != std::string::npos) shape = {512, 128};
    if (n.find("mlp.proj") != std::string::npos) shape = {128, 512};
    EXPECT_EQ(p.sizes().vec(), shape) << n;
  }
  EXPECT_EQ(names, expected);
  EXPECT_EQ(m->num_parameters(), total);
  EXPECT_EQ(total, 2 * 256 * 128 + 4 * (4 * 128 * 128 + 2 * 512 * 128));
  // Rotary tables and the causal mask are buffers, not parameters.
  EXPECT_EQ(m->rotary().cos.sizes().vec(), (std::vector<int64_t>{128, 16}));

  HybridOptimizer h(*m);
  for (const auto& r : h.routes()) {
    const bool adamw = r.name == "embed.weight" || r.name == "head.weight";
    EXPECT_EQ(r.optimizer, adamw ? "adamw" : "muon") << r.name;
  }
  EXPECT_EQ(h.routes().size(), expected.size());
}

TEST(GptInit, ZeroProjectionsAndHeadAndScaledHiddenInit) {
  at::manual_seed(3);
  GPT m(GPTConfig{});
  const auto b0 = m->named_parameters();
  EXPECT_EQ(b0["head.weight"].abs().max().item<float>(), 0.0f);
  EXPECT_EQ(b0["blocks.2.attn.o.weight"].abs().max().item<float>(), 0.0f);
  EXPECT_EQ(b0["blocks.2.mlp.proj.weight"].abs().max().item<float>(), 0.0f);
  // uniform(±√3·0.5/√fan_in) has standard deviation 0.5/√fan_in.
  const auto fc = b0["blocks.1.mlp.fc.weight"];
  EXPECT_NEAR(fc.std().item<double>(), 0.5 / std::sqrt(128.0), 2e-3);
  EXPECT_LE(fc.abs().max().item<double>(), std::sqrt(3.0) * 0.5 / std::sqrt(128.0));
  EXPECT_NEAR(b0["embed.weight"].std().item<double>(), 1.0, 0.02);
}

TEST(GptInit, InitialLossIsLnVocab) {
  for (int64_t vocab : {256, 50}) {
    GPTConfig c = testing::tiny_gpt_config();
    c.vocab_size = vocab;
    GPT m(c);
    const auto x = tokens(vocab, 4, 16, 1), y = tokens(vocab, 4, 16, 2);
    EXPECT_NEAR(m->loss(x, y).item<double>(), std::log(double(vocab)), 1e-5);
  }
}

TEST(GptCausality, ChangingTokenTNeverChangesEarlierLogits) {
  at::manual_seed(5);
  GPT m(testing::tiny_gpt_config());
  randomize(m);
  const int64_t T = 16;
  const auto x = tokens(32, 2, T, 7);
  const auto base = m->forward(x);
  for (int64_t t : {0, 5, 15}) {
    auto x2 = x.clone();
    x2.select(1, t).add_(1).remainder_(32);
    const auto out = m->forward(x2);
    if (t > 0) {
      EXPECT_LT((out.slice(1, 0, t) - base.slice(1, 0, t)).abs().max().item<double>(), 1e-6)
          << "token " << t << " leaked into earlier positions";
    }
    // …while position t itself does change (the test can see a change).
    EXPECT_GT((out.select(1, t) - base.select(1, t)).abs().max().item<double>(), 1e-3);
  }
}

TEST(GptRotary, PreservesNormsAndDependsOnlyOnRelativeOffset) {
  const auto rope = rotary_tables(64, 16, 10000.0);
  EXPECT_EQ(rope.cos.sizes().vec(), (std::vector<int64_t>{64, 8}));
  at::manual_seed(11);
  const auto x = at::randn({3, 64, 16});
  const auto y = apply_rotary(x, rope);
  EXPECT_TRUE(at::allclose(y.norm(2, -1), x.norm(2, -1), 1e-5, 1e-5));
  EXPECT_TRUE(at::allclose(y.select(1, 0), x.select(1, 0)));  // position 0: identity
  EXPECT_GT((y.select(1, 1) - x.select(1, 1)).abs().max().item<double>(), 1e-2);

  // The same q and k placed at positions (m, n): ⟨rot_m q, rot_n k⟩ depends on m − n.
  const auto q = at::randn({16}, at::kDouble), k = at::randn({16}, at::kDouble);
  auto at_pos = [&](const at::Tensor& v, int64_t pos) {
    auto seq = at::zeros({64, 16}, at::kDouble);
    seq[pos] = v;
    return apply_rotary(seq, rope)[pos];
  };
  auto score = [&](int64_t mq, int64_t nk) {
    return at::dot(at_pos(q, mq), at_pos(k, nk)).item<double>();
  };
  for (int64_t offset : {0, 1, 7, 30}) {
    const double ref = score(offset, 0);
    for (int64_t n : {3, 17, 33})
      EXPECT_NEAR(score(n + offset, n), ref, 1e-5) << "offset " << offset << " at " << n;
  }
  EXPECT_GT(std::abs(score(1, 0) - score(2, 0)), 1e-3);  // but it does depend on the offset
  EXPECT_THROW(rotary_tables(8, 7), c10::Error);
  EXPECT_THROW(apply_rotary(at::randn({65, 16}), rope), c10::Error);
}

TEST(GptFused, RmsNormMatchesReferenceForwardAndBackward) {
  at::manual_seed(2);
  const auto x = at::randn({6, 5, 24}, at::kDouble).requires_grad_(true);
  const auto x2 = x.detach().clone().requires_grad_(true);
  const auto w = at::randn({6, 5, 24}, at::kDouble);
  const auto y = detail::rms_norm(x, 1e-6), yr = testing::rms_norm_reference(x2, 1e-6);
  EXPECT_TRUE(at::allclose(y, yr, 1e-12, 1e-12));
  (y * w).sum().backward();
  (yr * w).sum().backward();
  EXPECT_TRUE(at::allclose(x.grad(), x2.grad(), 1e-10, 1e-10));
}

TEST(GptFused, QkvHeadsMatchesReferenceForwardAndBackward) {
  at::manual_seed(4);
  const int64_t B = 2, T = 5, H = 3, d = 8;
  const auto rope = rotary_tables(7, d, 100.0);
  const auto x = at::randn({B * T, 3 * H * d}, at::kDouble).requires_grad_(true);
  const auto x2 = x.detach().clone().requires_grad_(true);
  const auto y = detail::qkv_heads(x, B, T, H, rope, 1e-6, 0.7);
  const auto yr = testing::qkv_heads_reference(x2, B, T, H, rope, 1e-6, 0.7);
  at::Tensor s = at::zeros({}, at::kDouble), sr = at::zeros({}, at::kDouble);
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(y[i].sizes().vec(), (std::vector<int64_t>{B, H, T, d}));
    // fp32 tables: agreement to fp32 rounding of cos/sin.
    EXPECT_TRUE(at::allclose(y[i], yr[i], 1e-6, 1e-6)) << i;
    const auto w = at::randn({B, H, T, d}, at::kDouble);
    s = s + (y[i] * w).sum();
    sr = sr + (yr[i] * w).sum();
  }
  s.backward();
  sr.backward();
  EXPECT_TRUE(at::allclose(x.grad(), x2.grad(), 1e-6, 1e-6));
  // Only q reaching the loss: k and v get zero gradient.
  const auto x3 = x.detach().clone().requires_grad_(true);
  detail::qkv_heads(x3, B, T, H, rope, 1e-6, 0.7)[0].sum().backward();
  EXPECT_EQ(x3.grad().slice(1, H * d).abs().max().item<double>(), 0.0);
}

TEST(GptFused, CausalAttentionMatchesReferenceForwardAndBackward) {
  at::manual_seed(12);
  // fp32 head sizes 16 and 32 take the specialized kernels, 6 the generic one.
  const std::vector<std::pair<at::ScalarType, int64_t>> cases = {
      {at::kDouble, 6}, {at::kFloat, 6}, {at::kFloat, 16}, {at::kFloat, 32}};
  for (auto [dtype, d] : cases) {
    const double tol = dtype == at::kDouble ? 1e-10 : 2e-5;
    const int64_t B = 2, H = 3, T = 7;
    std::vector<at::Tensor> in, ref;
    for (int i = 0; i < 3; ++i) {
      in.push_back(at::randn({B, H, T, d}, dtype).requires_grad_(true));
      ref.push_back(in.back().detach().clone().requires_grad_(true));
    }
    const auto y = detail::causal_attention(in[0], in[1], in[2]);
    const auto yr = testing::causal_attention_reference(ref[0], ref[1], ref[2]);
    ASSERT_EQ(y.sizes().vec(), (std::vector<int64_t>{B * T, H * d}));
    EXPECT_TRUE(at::allclose(y, yr, tol, tol));
    const auto w = at::randn({B * T, H * d}, dtype);
    (y * w).sum().backward();
    (yr * w).sum().backward();
    for (int i = 0; i < 3; ++i)
      EXPECT_TRUE(at::allclose(in[i].grad(), ref[i].grad(), tol, tol)) << i << " d=" << d;
  }
}

TEST(GptFused, LinearMatchesReferenceWithContiguousWeightGradient) {
  const auto x = at::randn({10, 4}, at::kDouble).requires_grad_(true);
  const auto w = at::randn({6, 4}, at::kDouble).requires_grad_(true);
  const auto res = at::randn({10, 6}, at::kDouble).requires_grad_(true);
  const auto x2 = x.detach().clone().requires_grad_(true);
  const auto w2 = w.detach().clone().requires_grad_(true);
  const auto res2 = res.detach().clone().requires_grad_(true);
  const auto g = at::randn({10, 6}, at::kDouble);
  const auto y = detail::linear(x, w, res), yr = at::linear(x2, w2) + res2;
  EXPECT_TRUE(at::allclose(y, yr));
  (y * g).sum().backward();
  (yr * g).sum().backward();
  EXPECT_TRUE(at::allclose(x.grad(), x2.grad()));
  EXPECT_TRUE(at::allclose(w.grad(), w2.grad()));
  EXPECT_TRUE(at::allclose(res.grad(), res2.grad()));
  EXPECT_TRUE(w.grad().is_contiguous());
}

TEST(GptFused, ReluSquareMatchesReference) {
  const auto h = at::randn({40, 9}, at::kDouble).requires_grad_(true);
  const auto h2 = h.detach().clone().requires_grad_(true);
  const auto w = at::randn({40, 9}, at::kDouble);
  const auto y = detail::relu_square(h), yr = at::relu(h2).square();
  EXPECT_TRUE(at::allclose(y, yr));
  (y * w).sum().backward();
  (yr * w).sum().backward();
  EXPECT_TRUE(at::allclose(h.grad(), h2.grad()));
}

TEST(GptSoftcap, BoundsLogits) {
  GPTConfig c = testing::tiny_gpt_config();
  const auto x = tokens(32, 2, 16, 9);
  at::manual_seed(1);
  GPT plain(c);
  randomize(plain, 1.0);
  const double raw = plain->forward(x).abs().max().item<double>();
  ASSERT_GT(raw, 10.0);  // large enough that the cap has work to do
  c.logit_softcap = 5.0;
  at::manual_seed(1);
  GPT capped(c);
  randomize(capped, 1.0);
  const auto logits = capped->forward(x);
  EXPECT_LE(logits.abs().max().item<double>(), 5.0);
  EXPECT_TRUE(at::allclose(logits, 5.0 * at::tanh(plain->forward(x) / 5.0), 1e-5, 1e-5));
}

// The modular-norm options (off by default: the tests above pin the default).
TEST(GptModularOptions, OrthogonalInitHasFlatSpectrumAtUnitRmsNorm) {
  GPTConfig c = testing::tiny_gpt_config();
  c.orthogonal_init = true;
  at::manual_seed(3);
  GPT m(c);
  for (const auto& p : m->named_parameters()) {
    if (p.key() == "embed.weight") continue;
    const auto W = p.value().to(at::kDouble);
    const auto S = at::linalg_svdvals(W);
    const double want = std::sqrt(double(W.size(0)) / double(W.size(1)));
    EXPECT_NEAR(S.min().item<double>(), want, 1e-5) << p.key();
    EXPECT_NEAR(S.max().item<double>(), want, 1e-5) << p.key();
  }
}

// x ← a·x + b·branch(x) with a = 1 − 1/(2L), b = 1/(2L). Every branch reads an
// RMS-normed input and the head reads rms(x), so the mixed model equals the
// plain one whose k-th branch output (k = 1 … 2L) is scaled by b/a^k.
TEST(GptModularOptions, ResidualMixingEqualsRescaledBranches) {
  GPTConfig c = testing::tiny_gpt_config();
  at::manual_seed(4);
  GPT plain(c);
  randomize(plain);
  c.residual_mixing = true;
  GPT mixed(c);
  {
    at::NoGradGuard no_grad;
    for (const auto& p : plain->named_parameters())
      mixed->named_parameters()[p.key()].copy_(p.value());
    const double b = 1.0 / (2.0 * c.n_layer), a = 1.0 - b;
    int k = 0;
    for (int64_t i = 0; i < c.n_layer; ++i)
      for (const char* w : {"attn.o.weight", "mlp.proj.weight"})
        plain->named_parameters()["blocks." + std::to_string(i) + "." + w].mul_(b /
                                                                                std::pow(a, ++k));
  }
  const auto x = tokens(32, 2, 16, 5);
  EXPECT_TRUE(at::allclose(mixed->forward(x), plain->forward(x), 1e-4, 1e-4));
}

// Scores q·k/d_head instead of q·k/√d_head: nothing changes for one token
// (softmax over one key), the logits change for longer sequences.
TEST(GptModularOptions, AttentionScaleOneOverDHead) {
  GPTConfig c = testing::tiny_gpt_config();
  at::manual_seed(5);
  GPT plain(c);
  randomize(plain, 1.0);
  c.attn_1_over_d = true;
  GPT inv_d(c);
  {
    at::NoGradGuard no_grad;
    for (const auto& p : plain->named_parameters())
      inv_d->named_parameters()[p.key()].copy_(p.value());
  }
  const auto one = tokens(32, 2, 1, 6);
  EXPECT_TRUE(at::allclose(inv_d->forward(one), plain->forward(one), 1e-5, 1e-5));
  const auto many = tokens(32, 2, 16, 6);
  EXPECT_GT((inv_d->forward(many) - plain->forward(many)).abs().max().item<double>(), 1e-3);
}

TEST(GptSeed, SameSeedSameInitAndLogits) {
  const auto x = tokens(32, 2, 16, 3);
  auto build = [&](uint64_t seed) {
    at::manual_seed(seed);
    GPT m(testing::tiny_gpt_config());
    return m;
  };
  GPT a = build(42), b = build(42), c = build(43);
  auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
  for (const auto& kv : pa) EXPECT_TRUE(at::equal(kv.value(), pb[kv.key()])) << kv.key();
  EXPECT_FALSE(at::equal(pa["blocks.0.attn.q.weight"], pc["blocks.0.attn.q.weight"]));
  // The zero head makes all logits 0; give both the same nonzero head.
  {
    at::NoGradGuard no_grad;
    const auto head = at::randn({32, 32});
    pa["head.weight"].copy_(head);
    pb["head.weight"].copy_(head);
  }
  EXPECT_TRUE(at::equal(a->forward(x), b->forward(x)));
  EXPECT_GT(a->forward(x).abs().max().item<double>(), 0.0);
}

double overfit(GPT& m, const std::function<void(at::Tensor)>& step, int steps) {
  const auto batch = tokens(32, 4, 17, 21);
  const auto x = batch.slice(1, 0, 16), y = batch.slice(1, 1);
  for (int s = 0; s < steps; ++s) step(m->loss(x, y));
  at::NoGradGuard no_grad;
  return m->loss(x, y).item<double>();
}

TEST(GptTraining, AdamWOverfitsOneBatch) {
  at::manual_seed(8);
  GPT m(testing::tiny_gpt_config());
  torch::optim::AdamW opt(m->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0));
  const double last = overfit(
      m,
      [&](at::Tensor loss) {
        opt.zero_grad();
        loss.backward();
        opt.step();
      },
      40);
  EXPECT_LT(last, std::log(32.0) - 1.5);
}

TEST(GptTraining, HybridOptimizerOverfitsOneBatch) {
  at::manual_seed(8);
  GPT m(testing::tiny_gpt_config());
  HybridOptimizer opt(*m);
  const double last = overfit(
      m,
      [&](at::Tensor loss) {
        opt.zero_grad();
        loss.backward();
        opt.step();
      },
      40);
  EXPECT_LT(last, std::log(32.0) - 1.5);
}

TEST(GptGenerate, ShapeRangeAndDeterminism) {
  at::manual_seed(6);
  GPT m(testing::tiny_gpt_config());
  randomize(m);
  const auto prompt = tokens(32, 1, 5, 1);
  auto run = [&](uint64_t seed, int64_t top_k, const at::Tensor& p) {
    return m->generate(p, 20, 1.0, top_k, at::make_generator<at::CPUGeneratorImpl>(seed));
  };
  const auto a = run(1, 0, prompt);
  EXPECT_EQ(a.sizes().vec(), (std::vector<int64_t>{1, 25}));
  EXPECT_EQ(a.scalar_type(), at::kLong);
  EXPECT_TRUE(at::equal(a.slice(1, 0, 5), prompt));
  EXPECT_GE(a.min().item<int64_t>(), 0);
  EXPECT_LT(a.max().item<int64_t>(), 32);
  EXPECT_TRUE(at::equal(a, run(1, 0, prompt)));
  EXPECT_FALSE(at::equal(a, run(2, 0, prompt)));
  // top_k = 1 is greedy: the generator no longer matters, and each token is the argmax.
  const auto g = run(1, 1, prompt);
  EXPECT_TRUE(at::equal(g, run(2, 1, prompt)));
  EXPECT_EQ(g[0][5].item<int64_t>(), m->forward(prompt)[0][4].argmax().item<int64_t>());
  // A prompt longer than ctx is cropped, not refused.
  const auto long_prompt = tokens(32, 1, 20, 2);
  EXPECT_EQ(run(3, 5, long_prompt).size(1), 40);
  EXPECT_EQ(m->generate(prompt, 0, 1.0, 0, at::make_generator<at::CPUGeneratorImpl>(1)).size(1), 5);
}

TEST(GptErrors, BadInputsNameTheValue) {
  GPT m(testing::tiny_gpt_config());
  const auto prompt = tokens(32, 1, 4, 1);
  const auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  EXPECT_NE(error_of([&] { m->generate(prompt, 3, 0.0, 0, gen); }).find("temperature"),
            std::string::npos);
  EXPECT_THROW(m->generate(prompt, 3, -1.0, 0, gen), c10::Error);
  EXPECT_THROW(m->generate(prompt, 3, 1.0, -1, gen), c10::Error);
  EXPECT_THROW(m->generate(tokens(32, 2, 4, 1), 3, 1.0, 0, gen), c10::Error);
  EXPECT_NE(error_of([&] { m->forward(tokens(32, 1, 17, 1)); }).find("T = 17 exceeds ctx = 16"),
            std::string::npos);
  auto bad = tokens(32, 2, 8, 1);
  bad[1][3] = 32;
  const std::string e = error_of([&] { m->forward(bad); });
  EXPECT_NE(e.find("token id 32 at (1, 3)"), std::string::npos) << e;
  EXPECT_NE(e.find("vocab_size = 32"), std::string::npos) << e;
  bad[1][3] = -1;
  EXPECT_THROW(m->forward(bad), c10::Error);
  EXPECT_THROW(m->forward(tokens(32, 2, 8, 1).to(at::kInt)), c10::Error);
  EXPECT_THROW(m->forward(tokens(32, 2, 8, 1).view({-1})), c10::Error);
  EXPECT_THROW(m->loss(tokens(32, 2, 8, 1), tokens(32, 2, 7, 1)), c10::Error);
  EXPECT_THROW(m->generate(bad.slice(0, 1, 2), 3, 1.0, 0, gen), c10::Error);
}

TEST(GptErrors, BadConfigNamesTheValues) {
  auto make = [](auto edit) {
    GPTConfig c = testing::tiny_gpt_config();
    edit(c);
    return error_of([&] { GPT m(c); });
  };
  EXPECT_NE(make([](GPTConfig& c) {
              c.n_embd = 30;
              c.n_head = 4;
            }).find("n_embd = 30 is not divisible by n_head = 4"),
            std::string::npos);
  EXPECT_NE(make([](GPTConfig& c) {
              c.n_embd = 12;
              c.n_head = 4;
            }).find("= 3 must be even"),
            std::string::npos);
  EXPECT_NE(make([](GPTConfig& c) { c.vocab_size = 0; }).find("vocab_size"), std::string::npos);
  EXPECT_NE(make([](GPTConfig& c) { c.n_layer = -1; }).find("n_layer"), std::string::npos);
  EXPECT_NE(make([](GPTConfig& c) { c.ctx = 0; }).find("ctx"), std::string::npos);
  EXPECT_NE(make([](GPTConfig& c) { c.n_head = 0; }).find("n_head"), std::string::npos);
  EXPECT_EQ(make([](GPTConfig&) {}), "(no error)");
}

}  // namespace
}  // namespace steepest

namespace steepest {
namespace {

// The GPT's GEMMs on oneDNN (the default where libtorch's libdnnl is loaded)
// and on libtorch give the same loss and gradients up to fp32 rounding.
TEST(GptGemmBackend, OneDnnAndLibtorchAgreeOnLossAndEveryGradient) {
  const GemmBackend saved = gemm_backend();
  std::vector<std::vector<at::Tensor>> grads;
  std::vector<double> losses;
  for (GemmBackend b : {GemmBackend::Auto, GemmBackend::Aten}) {
    set_gemm_backend(b);
    at::manual_seed(21);
    GPT model(testing::tiny_gpt_config());
    {
      at::NoGradGuard no_grad;
      for (auto& p : model->parameters()) p.normal_(0.0, 0.3);
    }
    const auto idx = at::randint(32, {4, 16}, at::kLong);
    const auto loss = model->loss(idx, idx.roll(1, 1));
    loss.backward();
    losses.push_back(loss.item<double>());
    grads.emplace_back();
    for (const auto& p : model->parameters()) grads.back().push_back(p.grad().clone());
  }
  set_gemm_backend(saved);
  EXPECT_NEAR(losses[0], losses[1], 1e-5 * std::abs(losses[1]));
  for (size_t i = 0; i < grads[0].size(); ++i)
    EXPECT_LT(testing::rel_err(grads[0][i], grads[1][i]), 1e-5) << "parameter " << i;
}

}  // namespace
}  // namespace steepest
