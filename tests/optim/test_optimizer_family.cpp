// Every optimizer in the registry, through the path the trainer uses
// (ModelOptimizer): it builds from its name, trains the tiny test GPT, reports
// what it spent, and saves/loads bit-identically.
#include <gtest/gtest.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <cstdio>
#include <set>

#include "model/tiny_gpt.h"
#include "optim/tiny_model.h"
#include "steepest/model/gpt.h"
#include "steepest/norms/norm.h"
#include "steepest/optim/hybrid.h"
#include "steepest/optim/model_optimizer.h"
#include "steepest/optim/muon.h"
#include "steepest/optim/registry.h"
#include "steepest/optim/stiefel.h"
#include "test_util.h"

namespace steepest {
namespace {

at::Tensor batch_tokens(uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  return at::randint(32, {8, 17}, gen, at::kLong);
}

std::vector<std::string> all_names() {
  std::vector<std::string> names;
  for (const auto& i : optimizer_infos()) names.push_back(i.name);
  return names;
}

std::string test_name(const ::testing::TestParamInfo<std::string>& i) {
  std::string n = i.param;
  for (auto& c : n)
    if (c == '-') c = '_';
  return n;
}

class EveryOptimizer : public ::testing::TestWithParam<std::string> {};

// The smoke test of issue #4: a few steps of the tiny GPT on one batch with
// the optimizer's defaults, and the loss goes down.
TEST_P(EveryOptimizer, TrainsTheTinyGptAndTheLossDecreases) {
  at::manual_seed(31);
  GPT model(testing::tiny_gpt_config());
  ModelOptimizerOptions o;
  o.name = GetParam();
  o.total_steps = 30;
  ModelOptimizer opt(*model, o);
  const auto tokens = batch_tokens(5);
  const auto x = tokens.slice(1, 0, 16), y = tokens.slice(1, 1);
  double first = 0, last = 0;
  for (int s = 0; s < 30; ++s) {
    opt.zero_grad();
    auto loss = model->loss(x, y);
    if (s == 0) first = loss.item<double>();
    loss.backward();
    opt.step();
  }
  {
    at::NoGradGuard no_grad;
    last = model->loss(x, y).item<double>();
  }
  EXPECT_TRUE(std::isfinite(last));
  EXPECT_LT(last, first - 0.05) << GetParam() << ": " << first << " -> " << last;
}

// Save after 4 steps, load into a fresh model + optimizer, continue 4 steps:
// bit-identical to never having stopped.
TEST_P(EveryOptimizer, SaveLoadContinuesIdentically) {
  const std::string path =
      ::testing::TempDir() + "/steepest_family_" + test_name({GetParam(), 0}) + ".pt";
  auto make = [&](testing::TinyLm& m) {
    at::manual_seed(32);
    m = testing::TinyLm();
    ModelOptimizerOptions o;
    o.name = GetParam();
    o.total_steps = 8;
    return std::make_unique<ModelOptimizer>(*m, o);
  };
  auto step = [](testing::TinyLm& m, ModelOptimizer& opt, int64_t seed) {
    opt.zero_grad();
    testing::tiny_loss(m, seed).backward();
    opt.step();
  };
  testing::TinyLm a;
  auto oa = make(a);
  for (int t = 0; t < 4; ++t) step(a, *oa, t);
  {
    torch::serialize::OutputArchive arch, sub;
    a->save(arch);
    oa->save(sub);
    arch.write("optimizer", sub);
    arch.save_to(path);
  }
  for (int t = 4; t < 8; ++t) step(a, *oa, t);

  testing::TinyLm b;
  auto ob = make(b);
  step(b, *ob, 99);  // b's state differs before loading, so a no-op load would fail
  {
    torch::serialize::InputArchive arch, sub;
    arch.load_from(path);
    b->load(arch);
    arch.read("optimizer", sub);
    ob->load(sub);
  }
  for (int t = 4; t < 8; ++t) step(b, *ob, t);
  for (const auto& p : a->named_parameters())
    EXPECT_TRUE(at::equal(p.value(), b->named_parameters()[p.key()]))
        << GetParam() << " " << p.key();
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(All, EveryOptimizer, ::testing::ValuesIn(all_names()), test_name);

std::vector<std::string> hidden_matrix_names() {
  std::vector<std::string> names;
  for (const auto& i : optimizer_infos())
    if (i.hidden_matrices) names.push_back(i.name);
  return names;
}

class EveryMatrixOptimizer : public ::testing::TestWithParam<std::string> {};

// The hybrid routes hidden matrices to the variant and reports its cost: the
// GEMMs and FLOPs a step spent equal the optimizer's own prediction.
TEST_P(EveryMatrixOptimizer, RoutesHiddenMatricesAndReportsPredictedCost) {
  at::manual_seed(33);
  testing::TinyLm m;
  HybridOptions h;
  const std::string name = GetParam();
  h.matrix_optimizer = [name](const std::vector<NamedParameter>& p) {
    return make_matrix_optimizer(name, p, -1.0, nlohmann::json::object(), 100);
  };
  HybridOptimizer opt(*m, h);
  std::set<std::string> to_matrix;
  for (const auto& r : opt.routes())
    if (r.optimizer != "adamw") to_matrix.insert(r.name);
  EXPECT_EQ(to_matrix, (std::set<std::string>{"fc.weight", "proj.weight"}));
  for (const auto& r : opt.routes()) {
    if (r.optimizer != "adamw") {
      EXPECT_EQ(r.optimizer, name);
    }
  }
  opt.zero_grad();
  testing::tiny_loss(m, 1).backward();
  opt.step();
  ASSERT_NE(opt.matrix(), nullptr);
  EXPECT_EQ(opt.matrix()->kind(), name);
  const Cost spent = opt.last_step_cost();
  if (Muon* muon = opt.muon()) {
    Cost predicted;
    predicted += muon->predicted_cost(32, 8);  // fc: 4d × d
    predicted += muon->predicted_cost(8, 32);  // proj: d × 4d
    EXPECT_EQ(spent.gemms, predicted.gemms);
    EXPECT_DOUBLE_EQ(spent.flops, predicted.flops);
    EXPECT_DOUBLE_EQ(spent.other_flops, predicted.other_flops);
  }
  if (const auto* st = dynamic_cast<const Stiefel*>(opt.matrix())) {
    const auto& so = static_cast<const StiefelOptions&>(st->defaults());
    Cost predicted = stiefel_step_cost(so, 32, 8);
    predicted += stiefel_step_cost(so, 8, 32);
    EXPECT_EQ(spent.gemms, predicted.gemms);
    EXPECT_DOUBLE_EQ(spent.flops, predicted.flops);
  }
  // Elementwise duality maps spend no GEMMs; every other rule does.
  static const std::set<std::string> elementwise = {"rmnp",
                                                    "steepest-frobenius",
                                                    "steepest-linf",
                                                    "steepest-row-l2",
                                                    "steepest-row-rms",
                                                    "steepest-col-l2"};
  if (!elementwise.count(name)) {
    EXPECT_GT(spent.total_flops(), 0.0) << name;
  }
  EXPECT_GT(opt.state_bytes(), 0);
}

INSTANTIATE_TEST_SUITE_P(All, EveryMatrixOptimizer, ::testing::ValuesIn(hidden_matrix_names()),
                         test_name);

TEST(Registry, ListsEveryIssueName) {
  std::vector<std::string> required = {"adamw",
                                       "sgd",
                                       "signsgd",
                                       "lion",
                                       "muon",
                                       "spectral-descent",
                                       "htmuon",
                                       "dynmuon",
                                       "mucon",
                                       "contra-muon",
                                       "freon",
                                       "kaon",
                                       "rmnp",
                                       "normuon",
                                       "adamuon",
                                       "dion",
                                       "manifold-muon",
                                       "stiefel",
                                       "contra-muon-record",
                                       "modular"};
  for (const auto& e : norm_entries()) required.push_back("steepest-" + e.name);
  for (const auto& n : required) {
    const auto& info = optimizer_info(n);
    EXPECT_FALSE(info.formula.empty()) << n;
    EXPECT_FALSE(info.source.empty()) << n;
    EXPECT_GT(info.lr, 0.0) << n;
    EXPECT_EQ(info.defaults().rfind("lr=", 0), 0u) << n;
  }
  EXPECT_EQ(optimizer_infos().size(), required.size());
}

// Registering a norm yields an optimizer: "steepest-<norm>" with μ = 0 steps
// W ← W − lr·dualize(G) with that norm's own map (exact SVD as msign).
TEST(Registry, EveryNormIsAnOptimizerWhoseStepIsItsDualityMap) {
  for (const auto& e : norm_entries()) {
    at::manual_seed(23);
    const at::Tensor W0 = at::randn({12, 20}, at::kDouble);
    const at::Tensor G = at::randn({12, 20}, at::kDouble);
    at::Tensor W = W0.clone().set_requires_grad(true);
    auto opt = make_optimizer("steepest-" + e.name, {{"w", W}}, 0.1,
                              {{"momentum", 0.0}, {"orthogonalizer", "svd"}});
    W.mutable_grad() = G;
    opt->step();
    const at::Tensor expected = W0 - 0.1 * make_norm(e.name)->dualize(G);
    EXPECT_LT(testing::rel_err(W.detach(), expected), 1e-10) << e.name;
    const auto* named = dynamic_cast<const NamedOptimizer*>(opt.get());
    ASSERT_NE(named, nullptr);
    EXPECT_EQ(named->kind(), "steepest-" + e.name);
  }
  // A family's parameter is an option of its optimizer.
  const auto h = resolve_hyperparameters("steepest-schatten", {{"q", 3.0}});
  EXPECT_DOUBLE_EQ(h.at("q").get<double>(), 3.0);
}

TEST(Registry, HyperparameterOverridesAreCheckedAndNamed) {
  const auto h = resolve_hyperparameters("htmuon", {{"p", 0.25}, {"mode", "ns"}});
  EXPECT_DOUBLE_EQ(h.at("p").get<double>(), 0.25);
  EXPECT_EQ(h.at("mode"), "ns");
  EXPECT_EQ(h.at("interval"), 10);  // default kept
  // An integer where a float is expected is fine; the reverse is not.
  EXPECT_DOUBLE_EQ(resolve_hyperparameters("htmuon", {{"p", 1}}).at("p").get<double>(), 1.0);
  try {
    resolve_hyperparameters("htmuon", {{"q", 3}});
    FAIL();
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'q'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("sqrt_steps"), std::string::npos) << msg;  // lists the valid keys
  }
  EXPECT_THROW(resolve_hyperparameters("htmuon", {{"interval", 2.5}}), std::invalid_argument);
  EXPECT_THROW(resolve_hyperparameters("htmuon", {{"mode", 3}}), std::invalid_argument);
  EXPECT_THROW(optimizer_info("muonn"), std::invalid_argument);
  // Invalid values fail at construction with the rule's own message, as bad input.
  auto W = at::zeros({4, 4}).set_requires_grad(true);
  EXPECT_THROW(make_optimizer("htmuon", {{"w", W}}, -1, {{"mode", "nope"}}), std::invalid_argument);
  EXPECT_THROW(make_optimizer("dynmuon", {{"w", W}}), std::invalid_argument);  // no run length
  EXPECT_NO_THROW(make_optimizer("dynmuon", {{"w", W}}, -1, {{"total_steps", 10}}));
}

TEST(Registry, NsStepsMapParses) {
  const auto m = parse_ns_steps_map(R"(attn\.q=4,mlp=6)");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].first, R"(attn\.q)");
  EXPECT_EQ(m[0].second, 4);
  EXPECT_EQ(m[1].second, 6);
  EXPECT_TRUE(parse_ns_steps_map("").empty());
  EXPECT_THROW(parse_ns_steps_map("attn"), std::invalid_argument);
  EXPECT_THROW(parse_ns_steps_map("attn=x"), std::invalid_argument);
}

TEST(ModelOptimizer, ShorthandsFoldIntoHyperparameters) {
  ModelOptimizerOptions o;
  o.name = "htmuon";
  o.orthogonalizer = "polar-express";
  o.ns_steps = 4;
  o.opt = {{"ns_steps", 6}};
  const auto h = effective_hyperparameters(o);
  EXPECT_EQ(h.at("orthogonalizer"), "polar-express");
  EXPECT_EQ(h.at("ns_steps"), 6);  // the explicit opt key wins
  testing::TinyLm m;
  o.name = "rmnp";  // has no orthogonalizer: the shorthand is an error, named
  o.opt = nlohmann::json::object();
  o.ns_steps = -1;
  try {
    ModelOptimizer bad(*m, o);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("orthogonalizer"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace steepest
