// One optimizer interface for single and composite optimizers: the trainer's
// ModelOptimizer is a CompositeOptimizer whatever the registry row.
#include <gtest/gtest.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <sstream>

#include "optim/tiny_model.h"
#include "steepest/optim/composite.h"
#include "steepest/optim/lion.h"
#include "steepest/optim/model_optimizer.h"
#include "steepest/optim/sign_sgd.h"

namespace steepest {
namespace {

// Every registry row gives one interface: a part per optimizer (two for the
// hybrid rows) and a route for every parameter, with its optimizer and reason.
TEST(CompositeOptimizer, EveryRowIsOneInterface) {
  for (const std::string name : {"adamw", "lion", "modular", "muon", "rmnp", "stiefel"}) {
    at::manual_seed(3);
    testing::TinyLm m;
    ModelOptimizerOptions o;
    o.name = name;
    ModelOptimizer opt(*m, o);
    const bool hybrid = name == "muon" || name == "rmnp" || name == "stiefel";
    EXPECT_EQ(opt.composite().parts(), hybrid ? 2u : 1u) << name;
    ASSERT_EQ(opt.composite().routes().size(), m->named_parameters().size()) << name;
    for (const auto& r : opt.composite().routes()) {
      EXPECT_FALSE(r.optimizer.empty()) << name << " " << r.name;
      EXPECT_FALSE(r.reason.empty()) << name << " " << r.name;
    }
    EXPECT_NE(opt.table().find("fc.weight"), std::string::npos) << name;
    opt.zero_grad();
    testing::tiny_loss(m, 1).backward();
    opt.step();
    const double lr0 = opt.lr();
    opt.set_lr_factor(0.5);
    EXPECT_DOUBLE_EQ(opt.lr(), 0.5 * lr0) << name;
    for (size_t i = 0; i < opt.composite().parts(); ++i)
      for (const auto& g : opt.composite().part(i).param_groups())
        EXPECT_GT(g.options().get_lr(), 0.0) << name;
  }
}

std::vector<NamedParameter> two_params(at::Tensor* a, at::Tensor* b) {
  *a = at::randn({3, 4}).set_requires_grad(true);
  *b = at::randn({5}).set_requires_grad(true);
  return {{"a", *a}, {"b", *b}};
}

CompositeOptimizer two_parts(const at::Tensor& a, const at::Tensor& b, bool check) {
  std::vector<OptimizerPart> parts;
  parts.push_back({"sign", std::make_unique<SignSGD>(std::vector<NamedParameter>{{"a", a}},
                                                     SignSGDOptions(0.1))});
  parts.push_back(
      {"lion", std::make_unique<Lion>(std::vector<NamedParameter>{{"b", b}}, LionOptions(0.1))});
  return CompositeOptimizer(std::move(parts), {}, "pair", check, {{"a", a}, {"b", b}});
}

// A gradient is checked once per step: a part whose parameters the composite
// checks up front skips its own gradient checks; a part with a parameter the
// composite does not check keeps its shape checks; a wrong gradient shape is
// refused either way.
TEST(CompositeOptimizer, EachGradientIsCheckedOnceAndNeverSkipped) {
  using Checks = NamedOptimizer::GradientChecks;
  at::Tensor a, b;
  two_params(&a, &b);
  auto all = two_parts(a, b, /*check=*/true);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_EQ(dynamic_cast<const NamedOptimizer&>(all.part(i)).gradient_checks(), Checks::kNone);
  std::vector<OptimizerPart> parts;
  parts.push_back({"sign", std::make_unique<SignSGD>(std::vector<NamedParameter>{{"a", a}},
                                                     SignSGDOptions(0.1))});
  parts.push_back(
      {"lion", std::make_unique<Lion>(std::vector<NamedParameter>{{"b", b}}, LionOptions(0.1))});
  CompositeOptimizer some(std::move(parts), {}, "pair", /*check_finite=*/true, {{"a", a}});
  EXPECT_EQ(dynamic_cast<const NamedOptimizer&>(some.part(0)).gradient_checks(), Checks::kNone);
  EXPECT_EQ(dynamic_cast<const NamedOptimizer&>(some.part(1)).gradient_checks(),
            Checks::kStructure);
  for (CompositeOptimizer* opt : {&all, &some}) {
    a.mutable_grad() = at::ones_like(a);
    b.mutable_grad() = at::ones({2});  // b is (5)
    try {
      opt->step();
      ADD_FAILURE() << "a gradient of the wrong shape was accepted";
    } catch (const c10::Error& e) {
      EXPECT_NE(std::string(e.what_without_backtrace()).find("'b' has shape [2]"),
                std::string::npos)
          << e.what_without_backtrace();
    }
  }
}

// A NaN in the second part's gradient stops the step before the first part moves.
TEST(CompositeOptimizer, ChecksEveryGradientBeforeAnyPartSteps) {
  at::Tensor a, b;
  two_params(&a, &b);
  auto opt = two_parts(a, b, /*check=*/true);
  const at::Tensor a0 = a.detach().clone();
  a.mutable_grad() = at::ones_like(a);
  b.mutable_grad() = at::full_like(b, NAN);
  try {
    opt.step();
    FAIL() << "a NaN gradient was accepted";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("'b'"), std::string::npos);
  }
  EXPECT_TRUE(at::equal(a.detach(), a0));
}

std::string saved_state(torch::optim::Optimizer& o) {
  std::stringstream s;
  torch::serialize::OutputArchive out;
  o.save(out);
  out.save_to(s);
  return s.str();
}

// Saved parts load into a fresh composite; an archive without one part's state
// is refused, naming the part, before any part is touched.
TEST(CompositeOptimizer, SavesEveryPartAndRefusesAMissingOne) {
  at::Tensor a, b;
  two_params(&a, &b);
  auto opt = two_parts(a, b, true);
  a.mutable_grad() = at::randn_like(a);
  b.mutable_grad() = at::randn_like(b);
  opt.step();
  std::stringstream saved;
  {
    torch::serialize::OutputArchive out;
    opt.save(out);
    out.save_to(saved);
  }
  auto fresh = two_parts(a, b, true);
  torch::serialize::InputArchive in;
  in.load_from(saved);
  fresh.load(in);
  EXPECT_EQ(fresh.state_bytes(), opt.state_bytes());
  EXPECT_EQ(saved_state(fresh.part(0)), saved_state(opt.part(0)));
  EXPECT_EQ(saved_state(fresh.part(1)), saved_state(opt.part(1)));
  opt.step();  // opt's state now differs from fresh's
  const std::string fresh_sign = saved_state(fresh.part(0));

  // Only the "sign" part in the archive: refused, naming the missing part.
  std::stringstream partial;
  {
    torch::serialize::OutputArchive out, sub(out.compilation_unit());
    out.write("kind", c10::IValue(std::string("pair")));
    opt.part(0).save(sub);
    out.write("sign", sub);
    out.save_to(partial);
  }
  torch::serialize::InputArchive in2;
  in2.load_from(partial);
  try {
    fresh.load(in2);
    FAIL() << "an archive without the lion part loaded";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("'lion'"), std::string::npos);
  }
  EXPECT_EQ(saved_state(fresh.part(0)), fresh_sign);
}

TEST(CompositeOptimizer, BadConstructionIsNamed) {
  at::Tensor a, b;
  two_params(&a, &b);
  EXPECT_THROW(CompositeOptimizer({}, {}), c10::Error);
  std::vector<OptimizerPart> parts;
  parts.push_back({"sign", std::make_unique<SignSGD>(std::vector<NamedParameter>{{"a", a}},
                                                     SignSGDOptions(0.1))});
  parts.push_back(
      {"lion", std::make_unique<Lion>(std::vector<NamedParameter>{{"b", b}}, LionOptions(0.1))});
  // Two parts cannot share one archive: they need a kind and sub-archives.
  EXPECT_THROW(CompositeOptimizer(std::move(parts), {}, ""), c10::Error);
}

}  // namespace
}  // namespace steepest
