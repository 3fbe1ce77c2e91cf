// An optimizer's state must fit its parameter at every step: a parameter
// resized, transposed or cast after its first step (Python's `p.data = …`,
// C++'s set_data) or a gradient of another shape is our error naming the
// parameter, never a write past a buffer or a silent broadcast (issue #25).
#include <gtest/gtest.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <sstream>
#include <string>
#include <vector>

#include "optim/muon_fused_step.h"
#include "steepest/optim/model_optimizer.h"
#include "steepest/optim/registry.h"

namespace steepest {
namespace {

std::unique_ptr<CompositeOptimizer> one(const std::string& name, const at::Tensor& w) {
  return single_optimizer(name, {{"w", w}}, -1.0, nlohmann::json::object(), /*total_steps=*/100);
}

// The message of the c10::ValueError `f` throws ("" if none).
template <typename F>
std::string value_error(F&& f) {
  try {
    f();
  } catch (const c10::ValueError& e) {
    return e.what_without_backtrace();
  }
  return "";
}

void set_grad(at::Tensor& w) {
  w.mutable_grad() = at::randn(w.sizes());
}

// Every registry optimizer: step once, change the parameter, step again.
TEST(StateFitsParameter, AChangedParameterIsRefusedByEveryOptimizer) {
  const std::vector<std::vector<int64_t>> after = {{16, 4}, {4, 4}, {4, 8}};  // grow, shrink, T
  int checked = 0;
  for (const auto& info : optimizer_infos()) {
    for (const auto& shape : after) {
      at::manual_seed(1);
      at::Tensor w = at::randn({8, 4});
      auto opt = one(info.name, w);
      set_grad(w);
      opt->step();
      w.set_data(at::randn(shape));
      set_grad(w);
      if (opt->state_bytes() == 0) {  // stateless (sgd without momentum, signsgd): nothing to fit
        EXPECT_NO_THROW(opt->step()) << info.name;
        continue;
      }
      ++checked;
      const std::string msg = value_error([&] { opt->step(); });
      EXPECT_NE(msg.find("parameter 'w' is now"), std::string::npos) << info.name << ": " << msg;
      EXPECT_NE(msg.find("no longer fits"), std::string::npos) << info.name;
      EXPECT_NE(msg.find("Build a new optimizer"), std::string::npos) << info.name;
    }
  }
  EXPECT_GE(checked, 3 * 12) << "most optimizers keep state";
}

TEST(StateFitsParameter, ACastParameterIsRefused) {
  at::Tensor w = at::randn({16, 8});
  auto opt = one("muon", w);
  set_grad(w);
  opt->step();
  w.set_data(at::randn({16, 8}, at::kDouble));
  set_grad(w);
  EXPECT_NE(value_error([&] { opt->step(); }).find("Double"), std::string::npos);
}

// Before the first step there is no state: a parameter may change freely.
TEST(StateFitsParameter, AChangeBeforeTheFirstStepIsFine) {
  at::Tensor w = at::randn({16, 8});
  auto opt = one("muon", w);
  w.set_data(at::randn({32, 8}));
  set_grad(w);
  EXPECT_NO_THROW(opt->step());
}

// A loaded state is the parameter's as it was loaded (load() checked the shape).
TEST(StateFitsParameter, AChangeAfterLoadIsRefused) {
  at::Tensor w = at::randn({16, 8});
  auto opt = one("muon", w);
  set_grad(w);
  opt->step();
  torch::serialize::OutputArchive out;
  opt->save(out);
  std::ostringstream bytes;
  out.save_to(bytes);
  auto fresh = one("muon", w);
  torch::serialize::InputArchive in;
  std::istringstream is(bytes.str());
  in.load_from(is);
  fresh->load(in);
  w.set_data(at::randn({32, 8}));
  set_grad(w);
  EXPECT_NE(value_error([&] { fresh->step(); }).find("no longer fits"), std::string::npos);
}

// A (4,) gradient for an (8, 4) parameter would broadcast into every row in
// libtorch's SGD and AdamW.
TEST(StateFitsParameter, AGradientOfAnotherShapeIsRefused) {
  for (const std::string name : {"sgd", "adamw", "muon", "lion"}) {
    at::Tensor w = at::randn({8, 4});
    auto opt = one(name, w);
    w.mutable_grad() = at::randn({4});
    const at::Tensor before = w.clone();
    const std::string msg = value_error([&] { opt->step(); });
    EXPECT_NE(msg.find("has shape [4] but the parameter has shape [8, 4]"), std::string::npos)
        << name << ": " << msg;
    EXPECT_TRUE(at::equal(w, before)) << name;
  }
}

TEST(StateFitsParameter, AnFp16ParameterOnTheCpuIsRefusedClearly) {
  at::Tensor w = at::randn({8, 4}).to(at::kHalf);
  auto opt = one("adamw", w);
  w.mutable_grad() = at::randn({8, 4}).to(at::kHalf);
  const std::string msg = value_error([&] { opt->step(); });
  EXPECT_NE(msg.find("fp16 on CUDA only"), std::string::npos) << msg;
}

// The fused pass indexes the buffer by p's size; a smaller one is refused.
TEST(StateFitsParameter, TheFusedPassRefusesABufferOfAnotherSize) {
  const at::Tensor p = at::randn({16, 8}), g = at::randn({16, 8});
  detail::FusedMatrix m{p, g, at::zeros({8, 8}), 0.01};
  at::Tensor out = at::empty({1, 8, 16});
  try {
    detail::momentum_to_normalized({m}, 0.95, true, 1.0, 1e-7, out);
    FAIL() << "no error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("momentum buffer [8, 8]"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace steepest
