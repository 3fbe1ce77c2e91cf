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
  a.save(path);
  for (int t = 5; t < 10; ++t) a.step(t);

  Trainer b(GetParam());
  b.step(99);  // make b's state differ before loading, so a no-op load would fail
  b.load(path);
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
