// Muon's fused elementwise path (optim/muon_fused_step.h) against the general
// path it replaces (MuonOptions::fused(false)), and its kernels' own contract.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "optim/muon_fused_step.h"
#include "steepest/compat.h"
#include "steepest/optim/muon.h"
#include "test_util.h"

namespace steepest {
namespace {

struct Run {
  std::vector<at::Tensor> params;
  std::unique_ptr<Muon> opt;
};

// Square, wide, tall and small matrices plus a conv weight (which takes the
// general path either way), identical for both runs.
Run make_run(MuonOptions o) {
  at::manual_seed(3);
  Run r;
  std::vector<NamedParameter> named;
  int i = 0;
  for (auto shape : std::vector<std::vector<int64_t>>{
           {128, 128}, {128, 128}, {128, 512}, {512, 128}, {8, 4}, {6, 3, 3, 3}}) {
    r.params.push_back(at::randn(shape).set_requires_grad(true));
    named.emplace_back("p" + std::to_string(i++), r.params.back());
  }
  r.opt = std::make_unique<Muon>(named, o);
  return r;
}

struct Differences {
  std::vector<double> moved;  // per parameter, ‖W_fused − W_general‖/‖W_general − W_0‖
  double weights = 0;         // max over parameters of ‖W_fused − W_general‖/‖W_general‖
  double buffers = 0;         // max over parameters of the momentum buffers' relative difference
};

// Three steps on the same random gradients.
Differences fused_vs_general(const MuonOptions& o) {
  Run fused = make_run(MuonOptions(o).fused(true));
  Run general = make_run(MuonOptions(o).fused(false));
  std::vector<at::Tensor> start;
  for (const auto& p : general.params) start.push_back(p.detach().clone());
  at::manual_seed(9);
  for (int step = 0; step < 3; ++step) {
    for (size_t i = 0; i < fused.params.size(); ++i) {
      const auto g = at::randn(fused.params[i].sizes());
      fused.params[i].mutable_grad() = g.clone();
      general.params[i].mutable_grad() = g.clone();
    }
    fused.opt->step();
    general.opt->step();
  }
  Differences d;
  for (size_t i = 0; i < fused.params.size(); ++i) {
    const auto wf = fused.params[i].detach(), wg = general.params[i].detach();
    d.moved.push_back((wf - wg).norm().item<double>() / (wg - start[i]).norm().item<double>());
    d.weights = std::max(d.weights, testing::rel_err(wf, wg));
    auto buffers_of = [](Muon& opt, const at::Tensor& p) {
      return static_cast<const TensorState&>(*opt.state().at(compat::state_key(p))).buffers;
    };
    const auto bf = buffers_of(*fused.opt, fused.params[i]);
    const auto bg = buffers_of(*general.opt, general.params[i]);
    EXPECT_EQ(bf.count("momentum_buffer"), bg.count("momentum_buffer")) << "parameter " << i;
    if (bg.count("momentum_buffer"))
      d.buffers =
          std::max(d.buffers, testing::rel_err(bf.at("momentum_buffer"), bg.at("momentum_buffer")));
  }
  return d;
}

TEST(MuonFusedStep, MatchesTheGeneralPathInFp32) {
  for (const bool nesterov : {true, false})
    for (const double mu : {0.95, 0.0})
      for (const std::string ortho : {"keller", "gram-polar-express"}) {
        const auto d = fused_vs_general(
            MuonOptions(0.02).momentum(mu).nesterov(nesterov).weight_decay(0.1).orthogonalizer(
                ortho));
        SCOPED_TRACE(ortho + " nesterov=" + std::to_string(nesterov) + " mu=" + std::to_string(mu));
        // A few fp32 ulps of the weights (one rounding of p·decay − step·O
        // instead of two), and of the distance moved (about 1e-5 of it: the
        // weights' ulp is ~6e-8 of |W|, the 3 steps move ~0.5% of |W|).
        EXPECT_LT(d.weights, 3e-7);
        for (const double e : d.moved) EXPECT_LT(e, 3e-5);
        EXPECT_LT(d.buffers, 1e-6);
      }
}

// In bf16 a one-ulp difference in a rounded input entry (2^-8 relative) moves
// the iteration's output by about as much: the bound is 1e-2 of the distance
// moved for the GPT-sized matrices. The 8×4 one is bounded at 0.1: five
// quintic steps multiply a small singular value's perturbation by up to
// ~3.4^5, and with 4 singular values nothing averages out (measured: 0.063).
TEST(MuonFusedStep, MatchesTheGeneralPathInBf16WithinBf16Rounding) {
  const auto d = fused_vs_general(MuonOptions(0.02).weight_decay(0.1).compute_dtype(at::kBFloat16));
  for (size_t i = 0; i < 4; ++i) EXPECT_LT(d.moved[i], 1e-2) << "parameter " << i;
  EXPECT_LT(d.moved[4], 0.1);
  EXPECT_LT(d.buffers, 1e-6);
}

TEST(MuonFusedStep, KernelsRejectAMismatchedStack) {
  std::vector<detail::FusedMatrix> items{{at::zeros({4, 8}), at::ones({4, 8}), {}}};
  auto wrong = at::empty({1, 8, 4});  // the wide matrix's short side is 4×8
  try {
    detail::momentum_to_normalized(items, 0.9, true, 1.0, 1e-7, wrong);
    FAIL() << "expected an error";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected (1, 4, 8)"), std::string::npos) << e.what();
  }
  EXPECT_THROW(detail::apply_update(items, at::empty({1, 4, 8}, at::kDouble), 1.0), c10::Error);
  // (4, 8) and (8, 4) share a stack; (4, 6) does not.
  items.push_back({at::zeros({8, 4}), at::ones({8, 4}), {}});
  auto both = at::empty({2, 4, 8});
  EXPECT_NO_THROW(detail::momentum_to_normalized(items, 0.9, true, 1.0, 1e-7, both));
  items.push_back({at::zeros({4, 6}), at::ones({4, 6}), {}});
  EXPECT_THROW(detail::momentum_to_normalized(items, 0.9, true, 1.0, 1e-7, both), c10::Error);
}

// The stacked input is the normalized short side: transposed for a tall
// matrix, with unit Frobenius norm (safety 1, eps 0) and the same direction.
TEST(MuonFusedStep, BuildsTheNormalizedShortSide) {
  at::manual_seed(1);
  const auto g = at::randn({6, 3});
  std::vector<detail::FusedMatrix> items{{at::zeros({6, 3}), g, {}, 2.0}};
  auto x = at::empty({1, 3, 6});
  detail::momentum_to_normalized(items, 0.0, true, 1.0, 0.0, x);
  EXPECT_LT(testing::rel_err(x[0], g.t() / g.norm()), 1e-6);
  detail::apply_update(items, x, 0.5);
  EXPECT_LT(testing::rel_err(items[0].p, -2.0 * g / g.norm()), 1e-6);
}

// The norm is gathered in one sweep from unscaled squares; entries whose
// squares leave fp32's range (overflow near 1e19, flush to zero near 1e-19)
// take the max-scaled path. Either way x is g/‖g‖_F, checked in double, for
// sizes with and without a tail after the vector lanes.
TEST(MuonFusedStep, NormalizesHugeTinyAndOrdinaryGradients) {
  at::manual_seed(2);
  for (double magnitude : {1.0, 1e25, 1e-25, 1e36}) {
    // 37×41: vector blocks then a tail of 13; 64×32: no tail; 3×5: tail only.
    for (auto shape : std::vector<std::vector<int64_t>>{{37, 41}, {64, 32}, {3, 5}}) {
      const auto g = at::randn(shape) * magnitude;
      ASSERT_TRUE(at::isfinite(g).all().item<bool>());
      std::vector<detail::FusedMatrix> items{{at::zeros(shape), g, {}, 1.0}};
      const bool tall = shape[0] > shape[1];
      auto x = at::empty({1, std::min(shape[0], shape[1]), std::max(shape[0], shape[1])});
      detail::momentum_to_normalized(items, 0.0, true, 1.0, 0.0, x);
      const auto g64 = g.to(at::kDouble);
      const auto want = (tall ? g64.t() : g64) / g64.norm();
      EXPECT_LT(testing::rel_err(x[0].to(at::kDouble), want), 1e-6)
          << "magnitude " << magnitude << " shape " << shape[0] << "x" << shape[1];
    }
  }
}

}  // namespace
}  // namespace steepest
