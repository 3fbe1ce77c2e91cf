#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "steepest/norms/module_tree.h"
#include "test_util.h"

namespace steepest {
namespace {

using M = ModuleNode;
using Weights = std::map<std::string, at::Tensor>;

std::map<std::string, double> shares_by_name(const Module& root) {
  std::map<std::string, double> out;
  for (const auto& s : atom_shares(root)) out[s.name] = s.multiplier;
  return out;
}

double inner(const Weights& a, const Weights& b) {
  double s = 0;
  for (const auto& [k, v] : a) s += (v * b.at(k)).sum().item<double>();
  return s;
}

Weights scaled(const Weights& w, double f) {
  Weights out;
  for (const auto& [k, v] : w) out[k] = v * f;
  return out;
}

// embed → (attn-like block: linear, scalar bond) ⊕ gain → head, with a tuple inside.
Module small_gpt_like() {
  auto block =
      M::compose({M::tuple({M::atom("q", AtomNorm::Linear), M::atom("v", AtomNorm::Linear)}, "qv"),
                  M::bond("mix", 0.5), M::atom("o", AtomNorm::Linear)},
                 "block");
  return M::compose({M::atom("wte", AtomNorm::Embed), M::tare(block, 5.0),
                     M::atom("ln", AtomNorm::Gain, 0.5), M::atom("head", AtomNorm::Linear)},
                    "gpt");
}

Weights random_weights(int64_t d = 6) {
  return {{"wte", at::randn({10, d}, at::kDouble)}, {"q", at::randn({d, d}, at::kDouble)},
          {"v", at::randn({d, d}, at::kDouble)},    {"o", at::randn({d, 2 * d}, at::kDouble)},
          {"ln", at::randn({d}, at::kDouble)},      {"head", at::randn({10, d}, at::kDouble)}};
}

// Worked by hand from the rules in module_tree.h.
TEST(ModuleTree, MassSensitivityAndSharesByHand) {
  // Two Linears around a ReLU-like bond (ν 1): μ 2, ν 1, each gets half.
  auto mlp = M::compose(
      {M::atom("l1", AtomNorm::Linear), M::bond("relu"), M::atom("l2", AtomNorm::Linear)});
  EXPECT_DOUBLE_EQ(mlp->mass(), 2.0);
  EXPECT_DOUBLE_EQ(mlp->sensitivity(), 1.0);
  auto s = shares_by_name(mlp);
  EXPECT_DOUBLE_EQ(s.at("l1"), 0.5);
  EXPECT_DOUBLE_EQ(s.at("l2"), 0.5);
  // A ×2 bond after l1: (mul∘l1) has ν 2, so l1's share is halved: 0.5·1/2.
  auto scaled_mlp = M::compose(
      {M::atom("l1", AtomNorm::Linear), M::bond("mul", 2.0), M::atom("l2", AtomNorm::Linear)});
  EXPECT_DOUBLE_EQ(scaled_mlp->sensitivity(), 2.0);
  s = shares_by_name(scaled_mlp);
  EXPECT_DOUBLE_EQ(s.at("l1"), 0.25);
  EXPECT_DOUBLE_EQ(s.at("l2"), 0.5);
  // modula's GPT masses: embed 1, blocks 5, head 1 → head 1/7, blocks 5/7, embed 1/7.
  auto blocks =
      M::tare(M::compose({M::atom("b1", AtomNorm::Linear), M::atom("b2", AtomNorm::Linear)}), 5.0);
  EXPECT_DOUBLE_EQ(blocks->mass(), 5.0);
  auto gpt =
      M::compose({M::atom("embed", AtomNorm::Embed), blocks, M::atom("head", AtomNorm::Linear)});
  EXPECT_DOUBLE_EQ(gpt->mass(), 7.0);
  s = shares_by_name(gpt);
  EXPECT_NEAR(s.at("head"), 1.0 / 7, 1e-15);
  EXPECT_NEAR(s.at("embed"), 1.0 / 7, 1e-15);
  EXPECT_NEAR(s.at("b1"), 2.5 / 7, 1e-15);  // the tared pair splits 5/7 evenly
  EXPECT_NEAR(s.at("b2"), 2.5 / 7, 1e-15);
  // Tuple: μ and ν add, child i gets μᵢ/μ.
  auto t = M::tuple({M::atom("a", AtomNorm::Gain, 1.0), M::atom("b", AtomNorm::Gain, 3.0)});
  EXPECT_DOUBLE_EQ(t->mass(), 4.0);
  EXPECT_DOUBLE_EQ(t->sensitivity(), 2.0);
  s = shares_by_name(t);
  EXPECT_DOUBLE_EQ(s.at("a"), 0.25);
  EXPECT_DOUBLE_EQ(s.at("b"), 0.75);
}

TEST(ModuleTree, NormByHand) {
  auto mlp = M::compose(
      {M::atom("l1", AtomNorm::Linear), M::bond("mul", 2.0), M::atom("l2", AtomNorm::Linear)});
  // RMS→RMS norm of c·I (n×n) is c; ‖(w1, w2)‖ = max((2/1)·1·ν(l2)·‖(mul∘l1) part‖, (2/1)·‖w2‖)
  // where the (mul∘l1) part's norm is (1/1)·2·‖w1‖.
  const Weights w = {{"l1", at::eye(4, at::kDouble) * 3.0}, {"l2", at::eye(4, at::kDouble)}};
  EXPECT_NEAR(modular_norm(mlp, w), std::max(2.0 * 2.0 * 3.0, 2.0 * 1.0), 1e-12);
  // Atom norms: Embed is the largest row's RMS; Gain is ℓ∞.
  EXPECT_NEAR(atom_norm(AtomNorm::Embed, at::tensor({3.0, 4.0, 0.0, 0.0}, at::kDouble).view({2, 2}))
                  .item<double>(),
              5.0 / std::sqrt(2.0), 1e-12);
  EXPECT_DOUBLE_EQ(atom_norm(AtomNorm::Gain, at::tensor({-3.0, 2.0}, at::kDouble)).item<double>(),
                   3.0);
}

TEST(ModuleTree, ModularNormIsANorm) {
  at::manual_seed(21);
  const auto root = small_gpt_like();
  for (int trial = 0; trial < 20; ++trial) {
    const auto a = random_weights(), b = random_weights();
    const double na = modular_norm(root, a), nb = modular_norm(root, b);
    EXPECT_GT(na, 0.0);
    EXPECT_NEAR(modular_norm(root, scaled(a, -2.5)), 2.5 * na, 1e-9 * na);
    Weights sum;
    for (const auto& [k, v] : a) sum[k] = v + b.at(k);
    EXPECT_LE(modular_norm(root, sum), na + nb + 1e-9);
  }
  Weights zero = random_weights();
  for (auto& [k, v] : zero) v = at::zeros_like(v);
  EXPECT_EQ(modular_norm(root, zero), 0.0);
}

// The modular duality map hits the target norm and beats every competitor on
// the same sphere; each atom's map alone does the same for its own norm.
TEST(ModuleTree, DualizeIsTheDualityMapOfTheModularNorm) {
  at::manual_seed(22);
  const auto root = small_gpt_like();
  const auto G = random_weights();
  for (double target : {1.0, 0.1}) {
    const auto D = modular_dualize(root, G, target);
    EXPECT_NEAR(modular_norm(root, D), target, 1e-9);
    const double best = inner(G, D);
    for (int t = 0; t < 100; ++t) {
      const auto T = random_weights();
      const auto Tn = scaled(T, target / modular_norm(root, T));
      EXPECT_LE(inner(G, Tn), best * (1 + 1e-12)) << "trial " << t;
    }
  }
  for (AtomNorm n : {AtomNorm::Linear, AtomNorm::Embed, AtomNorm::Gain}) {
    const auto g = at::randn({8, 5}, at::kDouble);
    const auto d = atom_dualize(n, g);
    EXPECT_NEAR(atom_norm(n, d).item<double>(), 1.0, 1e-9) << atom_norm_name(n);
    const double best = (g * d).sum().item<double>();
    for (int t = 0; t < 100; ++t) {
      auto c = at::randn({8, 5}, at::kDouble);
      c = c / atom_norm(n, c);
      EXPECT_LE((g * c).sum().item<double>(), best * (1 + 1e-12)) << atom_norm_name(n);
    }
    EXPECT_EQ(atom_dualize(n, at::zeros({8, 5}, at::kDouble)).abs().max().item<double>(), 0.0);
  }
}

// The example of docs/MODULAR.md, verbatim: a 2-layer MLP with biases.
TEST(ModuleTree, DocsMlpExample) {
  using steepest::AtomNorm;
  using steepest::ModuleNode;
  // x → fc1 (+ bias) → ReLU → fc2: the tree says which weight sits where.
  auto layer1 = ModuleNode::tuple({ModuleNode::atom("fc1.weight", AtomNorm::Linear),
                                   ModuleNode::atom("fc1.bias", AtomNorm::Gain, 0.1)},
                                  "fc1");
  auto mlp = ModuleNode::compose(
      {layer1, ModuleNode::bond("relu"), ModuleNode::atom("fc2.weight", AtomNorm::Linear)}, "mlp");
  for (const auto& a : steepest::atom_shares(mlp))
    std::printf("%-12s %-6s mass %.2f  lr x %.4f\n", a.name.c_str(),
                steepest::atom_norm_name(a.norm).c_str(), a.mass, a.multiplier);
  // fc1's part (mass 1.1 of 2.1) gets 1.1/2.1 ÷ ν(fc2) = 1.1/2.1, split by mass
  // 1 : 0.1 between weight and bias; fc2 gets 1/2.1. ν adds in the tuple: 1 + 1.
  const auto s = shares_by_name(mlp);
  EXPECT_NEAR(s.at("fc2.weight"), 1.0 / 2.1, 1e-15);
  EXPECT_NEAR(s.at("fc1.weight"), 1.0 / 2.1, 1e-15);
  EXPECT_NEAR(s.at("fc1.bias"), 0.1 / 2.1, 1e-15);
  EXPECT_DOUBLE_EQ(mlp->sensitivity(), 2.0);
}

TEST(ModuleTree, BadInputNamesTheModule) {
  const auto expect_message = testing::expect_invalid_argument;
  expect_message([] { M::atom("w1", AtomNorm::Linear, 0.0); }, "'w1'");
  expect_message([] { M::atom("w1", AtomNorm::Linear, -1.0); }, "mass must be > 0");
  expect_message([] { M::bond("mul", 0.0); }, "'mul'");
  expect_message(
      [] {
        M::tuple({M::atom("w", AtomNorm::Gain), M::atom("w", AtomNorm::Gain)}, "pair");
      },
      "appears twice");
  const auto root = small_gpt_like();
  auto w = random_weights();
  w.erase("head");
  expect_message([&] { modular_norm(root, w); }, "no tensor for atom 'head'");
  w = random_weights();
  w["lm_head.bias"] = at::zeros({10}, at::kDouble);
  expect_message([&] { modular_dualize(root, w); }, "'lm_head.bias' is no atom");
  expect_message([&] { M::tare(root, 0.0); }, "'gpt'");
}

}  // namespace
}  // namespace steepest
