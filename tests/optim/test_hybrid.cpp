#include <gtest/gtest.h>

#include "optim/tiny_model.h"
#include "steepest/optim/hybrid.h"

namespace steepest {
namespace {

std::map<std::string, std::string> routing(const HybridOptimizer& h) {
  std::map<std::string, std::string> r;
  for (const auto& x : h.routes()) r[x.name] = x.optimizer;
  return r;
}

TEST(Hybrid, RoutesHiddenMatricesToMuonAndTheRestToAdamW) {
  testing::TinyLm m;
  HybridOptimizer h(*m);
  const auto r = routing(h);
  EXPECT_EQ(r.at("fc.weight"), "muon");
  EXPECT_EQ(r.at("proj.weight"), "muon");
  EXPECT_EQ(r.at("embed.weight"), "adamw");
  EXPECT_EQ(r.at("head.weight"), "adamw");
  EXPECT_EQ(r.at("head.bias"), "adamw");
  EXPECT_EQ(r.at("gain"), "adamw");
  const std::string table = h.table();
  EXPECT_NE(table.find("fc.weight"), std::string::npos);
  EXPECT_NE(table.find("32x8"), std::string::npos);
  EXPECT_NE(table.find("embedding module"), std::string::npos);
}

TEST(Hybrid, PatternsAreOverridable) {
  testing::TinyLm m;
  HybridOptions o;
  o.adamw_patterns = {"^fc\\."};
  o.muon_patterns = {"^head\\.weight$"};
  const auto r = routing(HybridOptimizer(*m, o));
  EXPECT_EQ(r.at("fc.weight"), "adamw");
  EXPECT_EQ(r.at("head.weight"), "muon");
  EXPECT_EQ(r.at("head.bias"), "adamw");     // 1-D never goes to Muon
  EXPECT_EQ(r.at("embed.weight"), "adamw");  // embedding module
  o.adamw_patterns = {"("};
  EXPECT_THROW(HybridOptimizer(*m, o), c10::Error);
}

TEST(Hybrid, TrainingLowersTheLoss) {
  at::manual_seed(19);
  testing::TinyLm m;
  HybridOptimizer h(*m);
  const double first = testing::tiny_loss(m, 1).item<double>();
  for (int t = 0; t < 30; ++t) {
    h.zero_grad();
    testing::tiny_loss(m, 1).backward();
    h.step();
  }
  EXPECT_LT(testing::tiny_loss(m, 1).item<double>(), first - 0.5);
  EXPECT_GT(h.last_step_cost().gemms, 0);
  EXPECT_GT(h.state_bytes(), 0);
}

TEST(Hybrid, NonFiniteGradientAnywhereStopsEverything) {
  testing::TinyLm m;
  HybridOptimizer h(*m);
  testing::tiny_loss(m, 2).backward();
  m->gain.mutable_grad()[0] = std::nan("");
  const auto fc0 = m->fc->weight.detach().clone();
  try {
    h.step();
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("'gain'"), std::string::npos);
  }
  EXPECT_TRUE(at::equal(m->fc->weight.detach(), fc0));
}

}  // namespace
}  // namespace steepest

namespace steepest {
namespace {

// An output projection that reuses (ties) a weight it is given.
struct TiedOut : torch::nn::Module {
  explicit TiedOut(const at::Tensor& w) { register_parameter("weight", w); }
};

// A model used by value (not through a ModuleHolder), with its output tied to
// the embedding under a name ("out") that no AdamW pattern matches.
struct TiedLm : torch::nn::Module {
  torch::nn::Embedding embed{nullptr};
  torch::nn::Linear mix{nullptr};
  TiedLm() {
    embed = register_module("embed", torch::nn::Embedding(16, 8));
    mix = register_module("mix", torch::nn::Linear(torch::nn::LinearOptions(8, 8).bias(false)));
    register_module("out", std::make_shared<TiedOut>(embed->weight));
  }
};

TEST(Hybrid, PlainModuleAndTiedWeightsAreSteppedOnceByAdamW) {
  TiedLm m;
  HybridOptimizer h(m);
  std::map<std::string, ParameterRoute> r;
  for (const auto& x : h.routes()) r[x.name] = x;
  EXPECT_EQ(r.at("mix.weight").optimizer, "muon");
  EXPECT_EQ(r.at("embed.weight").optimizer, "adamw");
  // out.weight is the same tensor as embed.weight: AdamW, stepped once.
  EXPECT_EQ(r.at("out.weight").optimizer, "adamw");
  EXPECT_NE(r.at("out.weight").reason.find("tied to embed.weight"), std::string::npos);
  ASSERT_NE(h.adamw(), nullptr);
  size_t n = 0;
  for (const auto& g : h.adamw()->param_groups()) n += g.params().size();
  EXPECT_EQ(n, 1u);  // embed.weight and out.weight are one tensor
}

}  // namespace
}  // namespace steepest
