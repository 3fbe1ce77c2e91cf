// The modular optimizer and the GPT's module tree.
#include <gtest/gtest.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

#include "model/tiny_gpt.h"
#include "steepest/model/gpt.h"
#include "steepest/model/gpt_module_tree.h"
#include "steepest/optim/model_optimizer.h"
#include "steepest/optim/modular.h"
#include "test_util.h"

namespace steepest {
namespace {

using M = ModuleNode;

std::map<std::string, double> shares_by_name(const Module& root) {
  std::map<std::string, double> out;
  for (const auto& s : atom_shares(root)) out[s.name] = s.multiplier;
  return out;
}

// With momentum 0 and an exact msign, one step is W ← W − modular_dualize(tree, G, η):
// the duality map of the modular norm at a target step η.
TEST(Modular, OneStepIsTheModularDualityMapAtLr) {
  at::manual_seed(51);
  std::vector<NamedParameter> params = {
      {"emb", at::randn({10, 8}, at::kDouble).set_requires_grad(true)},
      {"fc1", at::randn({16, 8}, at::kDouble).set_requires_grad(true)},
      {"b1", at::randn({16}, at::kDouble).set_requires_grad(true)},
      {"fc2", at::randn({4, 16}, at::kDouble).set_requires_grad(true)}};
  auto tree =
      M::compose({M::atom("emb", AtomNorm::Embed),
                  M::tuple({M::atom("fc1", AtomNorm::Linear), M::atom("b1", AtomNorm::Gain, 0.5)}),
                  M::bond("relu"), M::atom("fc2", AtomNorm::Linear, 2.0)},
                 "net");
  const double lr = 0.3;
  Modular opt(params, tree, ModularOptions(lr).momentum(0.0).orthogonalizer("svd"));
  std::map<std::string, at::Tensor> before, grads;
  for (auto& [name, p] : params) {
    before[name] = p.detach().clone();
    grads[name] = at::randn(p.sizes(), at::kDouble);
    p.mutable_grad() = grads[name].clone();
  }
  opt.step();
  const auto want = modular_dualize(tree, grads, lr);
  std::map<std::string, at::Tensor> step;
  for (auto& [name, p] : params) {
    step[name] = before[name] - p.detach();
    EXPECT_LT(testing::rel_err(step[name], want.at(name)), 1e-10) << name;
  }
  EXPECT_NEAR(modular_norm(tree, step), lr, 1e-9);
  EXPECT_NE(opt.table().find("fc2"), std::string::npos);
  EXPECT_NE(opt.table().find("mass"), std::string::npos);
}

TEST(Modular, EveryParameterMustBeAnAtomAndEveryAtomAParameter) {
  auto w = at::zeros({4, 4}).set_requires_grad(true);
  auto b = at::zeros({4}).set_requires_grad(true);
  const auto expect_message = testing::expect_invalid_argument;
  const auto one = M::compose({M::atom("w", AtomNorm::Linear)}, "net");
  expect_message([&] { Modular({{"w", w}, {"b", b}}, one); }, "parameter 'b' (4) is no atom");
  expect_message([&] { Modular({}, M::atom("w", AtomNorm::Linear)); }, "atom 'w'");
  expect_message([&] { Modular({{"b", b}}, M::atom("b", AtomNorm::Linear)); }, "1-D parameters");
  EXPECT_THROW(Modular({{"w", w}}, nullptr), std::invalid_argument);
  // The flat tree covers anything: 1-D → Gain, embedding names → Embed, else Linear.
  const auto flat = flat_module_tree({{"wte.weight", w}, {"fc.weight", w}, {"fc.bias", b}});
  std::map<std::string, AtomNorm> norms;
  for (const auto& a : atom_shares(flat)) norms[a.name] = a.norm;
  EXPECT_EQ(norms.at("wte.weight"), AtomNorm::Embed);
  EXPECT_EQ(norms.at("fc.weight"), AtomNorm::Linear);
  EXPECT_EQ(norms.at("fc.bias"), AtomNorm::Gain);
}

// The GPT's tree covers exactly its parameters; with residual mixing every
// share is the same at any depth (the point of the theory): embedding and head
// 1/7 each, o/fc/proj 5/21, q/k/v 5/7.
TEST(GptModuleTree, SharesWithResidualMixingDoNotDependOnDepth) {
  for (int64_t layers : {1, 2, 4, 8}) {
    GPTConfig c = testing::tiny_gpt_config();
    c.n_layer = layers;
    c.residual_mixing = true;
    const auto tree = gpt_module_tree(c);
    EXPECT_NEAR(tree->mass(), 7.0, 1e-12);
    EXPECT_NEAR(tree->sensitivity(), 1.0, 1e-12);
    const auto s = shares_by_name(tree);
    EXPECT_NEAR(s.at("embed.weight"), 1.0 / 7, 1e-12);
    EXPECT_NEAR(s.at("head.weight"), 1.0 / 7, 1e-12);
    // Each residual branch gets (5/7)·(its mass share)·2L (the 1/(2L) mix bond),
    // i.e. (5/7)·4/3 for attention and (5/7)·2/3 for the MLP at any depth; inside,
    // o, fc and proj get their mass share (1/4, 1/2 → 5/21) and q, k, v three times
    // theirs (the softmax bond's ν 1/3 divides the inner share: 5/7).
    for (int64_t i = 0; i < layers; ++i)
      for (const char* w : {"attn.q", "attn.k", "attn.v", "attn.o", "mlp.fc", "mlp.proj"}) {
        const std::string n = w;
        const bool qkv = n == "attn.q" || n == "attn.k" || n == "attn.v";
        EXPECT_NEAR(s.at("blocks." + std::to_string(i) + "." + w + ".weight"),
                    qkv ? 5.0 / 7 : 5.0 / 21, 1e-12)
            << layers << " layers, block " << i << " " << w;
      }
    GPT model(c);
    std::vector<NamedParameter> params;
    for (const auto& p : model->named_parameters()) params.emplace_back(p.key(), p.value());
    Modular opt(params, tree);  // throws if any parameter is not covered
    EXPECT_EQ(opt.shares().size(), params.size());
  }
  // Plain residuals have ν = 2: each later branch halves the earlier ones' shares.
  GPTConfig c = testing::tiny_gpt_config();  // 2 layers: 4 residual branches
  const auto s = shares_by_name(gpt_module_tree(c));
  EXPECT_NEAR(s.at("blocks.0.attn.q.weight") / s.at("blocks.1.attn.q.weight"), 0.25, 1e-12);
  EXPECT_THROW(gpt_module_tree(c, GptMasses{1.0, 0.0, 1.0}), std::invalid_argument);
}

// Through the trainer's path (ModelOptimizer with the GPT's tree): the loss
// falls, and save/load continues bit-identically.
TEST(Modular, TrainsTheTinyGptAndSavesAndLoads) {
  GPTConfig c = testing::tiny_gpt_config();
  c.residual_mixing = true;
  c.orthogonal_init = true;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  const auto tokens = at::randint(32, {8, 17}, gen, at::kLong);
  const auto x = tokens.slice(1, 0, 16), y = tokens.slice(1, 1);
  auto make = [&](GPT& m) {
    ModelOptimizerOptions o;
    o.name = "modular";
    o.module_tree = gpt_module_tree(c);
    return std::make_unique<ModelOptimizer>(*m, o);
  };
  at::manual_seed(52);
  GPT a(c);
  auto oa = make(a);
  EXPECT_NE(oa->table().find("blocks.1.mlp.proj.weight"), std::string::npos);
  auto train = [&](GPT& m, ModelOptimizer& o, int steps) {
    double last = 0;
    for (int s = 0; s < steps; ++s) {
      o.zero_grad();
      auto loss = m->loss(x, y);
      loss.backward();
      o.step();
      last = loss.item<double>();
    }
    return last;
  };
  const double first = a->loss(x, y).item<double>();
  const double after = train(a, *oa, 20);
  EXPECT_LT(after, first - 0.5) << "first " << first << " after 20 steps " << after;
  // Save, load into a fresh copy, continue both: bit-identical.
  const std::string path = ::testing::TempDir() + "/steepest_modular_ckpt.pt";
  {
    torch::serialize::OutputArchive arch, sub;
    a->save(arch);
    oa->save(sub);
    arch.write("optimizer", sub);
    arch.save_to(path);
  }
  GPT b(c);
  auto ob = make(b);
  train(b, *ob, 1);  // b differs before loading, so a no-op load would fail
  {
    torch::serialize::InputArchive arch, sub;
    arch.load_from(path);
    b->load(arch);
    arch.read("optimizer", sub);
    ob->load(sub);
  }
  train(a, *oa, 3);
  train(b, *ob, 3);
  for (const auto& p : a->named_parameters())
    EXPECT_TRUE(at::equal(p.value(), b->named_parameters()[p.key()])) << p.key();
  std::remove(path.c_str());
}

}  // namespace
}  // namespace steepest
