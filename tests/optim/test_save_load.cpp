#include <gtest/gtest.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cstdio>

#include "optim/tiny_model.h"
#include "steepest/optim/hybrid.h"
#include "steepest/optim/lion.h"
#include "steepest/optim/registry.h"
#include "steepest/optim/sign_sgd.h"

namespace steepest {
namespace {

std::vector<NamedParameter> named(testing::TinyLm& m) {
  std::vector<NamedParameter> out;
  for (const auto& p : m->named_parameters()) out.emplace_back(p.key(), p.value());
  return out;
}

// Optimizers of one kind built over a model: either a single one or the hybrid.
struct Trainer {
  testing::TinyLm model;
  std::unique_ptr<torch::optim::Optimizer> single;
  std::unique_ptr<HybridOptimizer> hybrid;
  Trainer(const std::string& kind) {
    at::manual_seed(20);
    model = testing::TinyLm();
    if (kind == "hybrid") {
      hybrid = std::make_unique<HybridOptimizer>(*model);
    } else if (kind == "muon-only") {
      std::vector<NamedParameter> mats;
      for (auto& np : named(model))
        if (np.second.dim() == 2) mats.push_back(np);
      single = make_optimizer("muon", mats);
    } else {
      single = make_optimizer(kind, named(model));
    }
  }
  void step(int64_t seed) {
    if (hybrid)
      hybrid->zero_grad();
    else
      single->zero_grad();
    testing::tiny_loss(model, seed).backward();
    if (hybrid)
      hybrid->step();
    else
      single->step();
  }
  void set_lr_factor(double f) {
    if (hybrid) {
      hybrid->set_lr_factor(f);
      return;
    }
    for (auto& g : single->param_groups()) g.options().set_lr(g.options().get_lr() * f);
  }
  void save(const std::string& path) {
    torch::serialize::OutputArchive a;
    model->save(a);
    torch::serialize::OutputArchive o;
    if (hybrid)
      hybrid->save(o);
    else
      single->save(o);
    a.write("optimizer", o);
    a.save_to(path);
  }
  void load(const std::string& path) {
    torch::serialize::InputArchive a;
    a.load_from(path);
    model->load(a);
    torch::serialize::InputArchive o;
    a.read("optimizer", o);
    if (hybrid)
      hybrid->load(o);
    else
      single->load(o);
  }
};

class SaveLoadEveryOptimizer : public ::testing::TestWithParam<std::string> {};

// Save after 5 steps, load into a fresh model + optimizer, continue 5 steps:
// bit-identical to never having stopped.
TEST_P(SaveLoadEveryOptimizer, ContinuesTrainingIdentically) {
  const std::string path = ::testing::TempDir() + "/steepest_saveload_" + GetParam() + ".pt";
  Trainer a(GetParam());
  for (int t = 0; t < 5; ++t) a.step(t);
  a.set_lr_factor(0.5);  // the saved learning rate must come back too
  a.save(path);
  for (int t = 5; t < 10; ++t) a.step(t);

  Trainer b(GetParam());
  b.step(99);  // make b's state differ before loading, so a no-op load would fail
  b.load(path);
  // steepest's optimizers restore each group's lr; libtorch 1.13's AdamW/SGD
  // read their saved options but drop them, and the hybrid's factor is a
  // setting: re-apply it there, as a trainer re-applies its LR schedule.
  if (dynamic_cast<NamedOptimizer*>(b.single.get()) == nullptr) b.set_lr_factor(0.5);
  for (int t = 5; t < 10; ++t) b.step(t);
  for (const auto& p : a.model->named_parameters())
    EXPECT_TRUE(at::equal(p.value(), b.model->named_parameters()[p.key()])) << p.key();
  std::remove(path.c_str());
}

INSTANTIATE_TEST_SUITE_P(All, SaveLoadEveryOptimizer,
                         ::testing::Values("hybrid", "muon-only", "signsgd", "lion", "adamw",
                                           "sgd"),
                         [](const auto& i) {
                           std::string n = i.param;
                           for (auto& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(SaveLoad, ShapeMismatchIsNamedAndChangesNothing) {
  const std::string path = ::testing::TempDir() + "/steepest_saveload_shape.pt";
  at::manual_seed(21);
  auto W = at::randn({4, 6}).set_requires_grad(true);
  W.mutable_grad() = at::randn({4, 6});
  Lion a({{"w", W}});
  a.step();
  torch::serialize::OutputArchive out;
  a.save(out);
  out.save_to(path);

  auto V = at::randn({6, 4}).set_requires_grad(true);
  V.mutable_grad() = at::randn({6, 4});
  Lion b({{"v", V}}, LionOptions(0.5));
  b.step();
  const auto bytes = b.state_bytes();
  torch::serialize::InputArchive in;
  in.load_from(path);
  try {
    b.load(in);
    FAIL();
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    EXPECT_NE(msg.find("'v'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("[6, 4]"), std::string::npos) << msg;
  }
  EXPECT_EQ(b.state_bytes(), bytes);
  EXPECT_DOUBLE_EQ(b.param_groups()[0].options().get_lr(), 0.5);
  std::remove(path.c_str());
}

TEST(SaveLoad, MismatchedCheckpointIsRejectedWithAReason) {
  const std::string path = ::testing::TempDir() + "/steepest_saveload_mismatch.pt";
  Trainer a("lion");
  a.step(0);
  a.save(path);
  Trainer b("signsgd");
  try {
    b.load(path);
    FAIL();
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    EXPECT_NE(msg.find("lion"), std::string::npos) << msg;
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace steepest
