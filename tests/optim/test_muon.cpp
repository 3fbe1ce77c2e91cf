#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>

#include "optim/gradient_checks.h"
#include "steepest/compat.h"
#include "steepest/linalg/compute_dtype.h"
#include "steepest/linalg/polar_svd.h"
#include "steepest/optim/muon.h"
#include "steepest/optim/registry.h"
#include "steepest/util/cpu_features.h"
#include "test_util.h"

namespace steepest {
namespace {

at::Tensor param(std::vector<int64_t> shape) {
  return at::randn(shape).set_requires_grad(true);
}

TEST(Muon, ScaleRules) {
  EXPECT_DOUBLE_EQ(muon_scale(MuonScale::Original, 256, 64), 2.0);
  EXPECT_DOUBLE_EQ(muon_scale(MuonScale::Original, 64, 256), 1.0);
  EXPECT_DOUBLE_EQ(muon_scale(MuonScale::Spectral, 64, 256), 0.5);
  EXPECT_DOUBLE_EQ(muon_scale(MuonScale::MatchRmsAdamW, 64, 256), 0.2 * 16.0);
  EXPECT_EQ(muon_scale_from_name("spectral"), MuonScale::Spectral);
  EXPECT_THROW(muon_scale_from_name("nope"), std::invalid_argument);
}

// With momentum 0 and the exact SVD, one step is W ← W(1 − lr·wd) − lr·scale·U Vᵀ(G).
TEST(Muon, OneStepIsScaledPolarFactorWithDecoupledDecayOnce) {
  at::manual_seed(14);
  auto W = param({48, 16});
  const auto W0 = W.detach().clone();
  const auto G = at::randn({48, 16});
  W.mutable_grad() = G.clone();
  Muon opt({{"w", W}}, MuonOptions(0.1).momentum(0.0).orthogonalizer("svd").weight_decay(0.5));
  opt.step();
  const auto expected = W0 * (1 - 0.1 * 0.5) - 0.1 * std::sqrt(3.0) * polar_svd(G);
  EXPECT_LT(testing::rel_err(W.detach(), expected), 1e-6);
}

// The trainer's default msign dtype (registry dtype=auto) is bf16 on CPUs with
// native bf16. Documented tolerance against the fp32 step (docs/BENCHMARKS.md):
// update direction cosine ≥ 0.99 and relative error ≤ 0.05 for keller's 5
// steps, at the GPT's shapes; fp64 parameters keep fp64 under auto.
TEST(Muon, Bf16MsignStaysWithinItsToleranceOfFp32AndSparesFp64) {
  for (auto shape : {std::vector<int64_t>{128, 128}, {512, 128}, {128, 512}}) {
    at::manual_seed(31);
    const auto W0 = at::randn(shape), G = at::randn(shape);
    std::vector<at::Tensor> after;
    for (auto dtype : {at::ScalarType::Undefined, at::kBFloat16}) {
      auto W = W0.clone().set_requires_grad(true);
      W.mutable_grad() = G.clone();
      Muon opt({{"w", W}}, MuonOptions(1.0).momentum(0.0).compute_dtype(dtype));
      opt.step();
      after.push_back(W.detach() - W0);
    }
    const double cosine =
        ((after[0] * after[1]).sum() / (after[0].norm() * after[1].norm())).item<double>();
    EXPECT_GT(cosine, 0.99) << shape[0] << "x" << shape[1];
    EXPECT_LT(testing::rel_err(after[1], after[0]), 0.05) << shape[0] << "x" << shape[1];
    std::printf("[ measured ] bf16 vs fp32 msign step, %ldx%ld: cosine %.5f, relative error %.4f\n",
                static_cast<long>(shape[0]), static_cast<long>(shape[1]), cosine,
                testing::rel_err(after[1], after[0]));
  }
  at::manual_seed(32);
  auto W = at::randn({32, 16}, at::kDouble).set_requires_grad(true);
  auto R = W.detach().clone().set_requires_grad(true);
  const auto G = at::randn({32, 16}, at::kDouble);
  W.mutable_grad() = G.clone();
  R.mutable_grad() = G.clone();
  Muon auto_opt({{"w", W}},
                MuonOptions(0.1).compute_dtype(at::kBFloat16).compute_dtype_fp32_only(true));
  auto_opt.step();
  Muon ref_opt({{"w", R}}, MuonOptions(0.1));
  ref_opt.step();
  EXPECT_TRUE(at::equal(W.detach(), R.detach()));
}

// What docs/OPTIMIZERS.md and the README state: the Muon family's registry
// default is dtype=auto, which iterates in bf16 exactly where the CPU
// multiplies bf16 natively (AVX512_BF16 or AMX) and in fp32 elsewhere.
TEST(Muon, DefaultDtypeIsAutoBf16OnlyWhereTheCpuHasIt) {
  for (const char* name : {"muon", "normuon", "dynmuon", "contra-muon-record"}) {
    const auto& info = optimizer_info(name);
    bool found = false;
    for (const auto& h : info.hyper)
      if (h.name == "dtype") {
        found = true;
        EXPECT_EQ(h.value.get<std::string>(), "auto") << name;
      }
    EXPECT_TRUE(found) << name;
  }
  EXPECT_EQ(compute_dtype_from_name("auto"),
            cpu_has_native_bf16() ? at::kBFloat16 : at::ScalarType::Undefined);
  std::printf("[ measured ] this CPU multiplies bf16 natively: %s\n",
              cpu_has_native_bf16() ? "yes (dtype=auto is bf16)" : "no (dtype=auto is fp32)");
}

// The allocation-free finite check of every gradient: huge finite values pass,
// a NaN or ±Inf anywhere (vector body or tail) fails; other layouts too.
TEST(GradientChecks, AllFiniteFindsEveryNonFiniteEntry) {
  const float inf = std::numeric_limits<float>::infinity();
  for (int64_t n : {1, 7, 8, 37}) {
    auto t = at::full({n}, 3e38f);
    EXPECT_TRUE(detail::all_finite(t)) << n;
    for (int64_t at_ : {int64_t{0}, n / 2, n - 1})
      for (float bad : {inf, -inf, std::nanf("")}) {
        auto u = t.clone();
        u[at_] = bad;
        EXPECT_FALSE(detail::all_finite(u)) << n << " " << at_ << " " << bad;
        EXPECT_FALSE(detail::all_finite(u.to(at::kDouble)));
      }
  }
  auto m = at::randn({6, 5});
  m[4][1] = inf;
  EXPECT_FALSE(detail::all_finite(m.t()));  // not contiguous: the libtorch path
  EXPECT_TRUE(detail::all_finite(at::randn({6, 5}).t()));
}

// Nesterov EMA form: B ← lerp(B, G, 1−μ); update from lerp(G, B, μ).
TEST(Muon, NesterovLerpMomentumMatchesReferenceForm) {
  at::manual_seed(15);
  auto W = param({8, 8});
  Muon opt({{"w", W}}, MuonOptions(0.01).orthogonalizer("svd"));
  const double mu = 0.95;
  auto B = at::zeros({8, 8});
  auto Wref = W.detach().clone();
  for (int t = 0; t < 3; ++t) {
    const auto G = at::randn({8, 8});
    W.mutable_grad() = G.clone();
    opt.step();
    B = B * mu + G * (1 - mu);
    const auto U = G * (1 - mu) + B * mu;
    Wref = Wref - 0.01 * polar_svd(U);
  }
  EXPECT_LT(testing::rel_err(W.detach(), Wref), 1e-5);
}

// Every scale rule, plain momentum, and every orthogonalizer kind inside step().
TEST(Muon, ScaleRuleAndPlainMomentumInsideStep) {
  at::manual_seed(22);
  for (auto rule : {MuonScale::Spectral, MuonScale::MatchRmsAdamW}) {
    auto W = param({16, 64});
    const auto W0 = W.detach().clone();
    const auto G1 = at::randn({16, 64}), G2 = at::randn({16, 64});
    Muon opt({{"w", W}},
             MuonOptions(0.1).nesterov(false).momentum(0.5).orthogonalizer("svd").scale(rule));
    W.mutable_grad() = G1.clone();
    opt.step();
    W.mutable_grad() = G2.clone();
    opt.step();
    const auto B1 = 0.5 * G1, B2 = 0.5 * B1 + 0.5 * G2;  // EMA, no Nesterov look-ahead
    const double s = muon_scale(rule, 16, 64);
    const auto expected = W0 - 0.1 * s * (polar_svd(B1) + polar_svd(B2));
    EXPECT_LT(testing::rel_err(W.detach(), expected), 1e-5) << muon_scale_name(rule);
  }
}

TEST(Muon, GramOrthogonalizerMatchesPlainNewtonSchulz) {
  at::manual_seed(23);
  auto A = param({16, 96});
  auto B = at::Tensor(A.detach().clone()).set_requires_grad(true);
  const auto G = at::randn({16, 96});
  A.mutable_grad() = G.clone();
  B.mutable_grad() = G.clone();
  Muon a({{"a", A}}, MuonOptions().orthogonalizer("ns-polar-express"));
  Muon b({{"b", B}}, MuonOptions().orthogonalizer("gram-polar-express"));
  a.step();
  b.step();
  EXPECT_LT(testing::rel_err(A.detach(), B.detach()), 1e-5);
  EXPECT_LT(b.last_step_cost().flops, a.last_step_cost().flops);
}

TEST(Muon, ConvWeightsAreFlattenedAndScaledByFlatShape) {
  at::manual_seed(16);
  auto W = param({8, 2, 3, 3});  // flattened 8×18: original scale 1
  const auto W0 = W.detach().clone();
  const auto G = at::randn({8, 2, 3, 3});
  W.mutable_grad() = G.clone();
  Muon opt({{"conv", W}}, MuonOptions(0.1).momentum(0.0).orthogonalizer("svd"));
  opt.step();
  const auto expected = W0 - 0.1 * polar_svd(G.reshape({8, 18})).view({8, 2, 3, 3});
  EXPECT_LT(testing::rel_err(W.detach(), expected), 1e-6);
}

TEST(Muon, RejectsVectorParametersByName) {
  try {
    Muon opt({{"blocks.0.ln.weight", param({16})}});
    FAIL();
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    EXPECT_NE(msg.find("blocks.0.ln.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("AdamW"), std::string::npos) << msg;
  }
}

TEST(Muon, NonFiniteGradientNamesParameterAndUpdatesNothing) {
  auto A = param({4, 4}), B = param({4, 4});
  const auto A0 = A.detach().clone();
  A.mutable_grad() = at::randn({4, 4});
  auto g = at::randn({4, 4});
  g[1][2] = std::nan("");
  B.mutable_grad() = g;
  Muon opt({{"good", A}, {"bad.weight", B}});
  try {
    opt.step();
    FAIL();
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what_without_backtrace()).find("bad.weight"), std::string::npos);
  }
  EXPECT_TRUE(at::equal(A.detach(), A0));
}

// A gradient of another dtype than its parameter (written through
// mutable_grad(), or .data from Python) is named with both dtypes before
// anything moves.
TEST(Muon, GradientOfAnotherDtypeIsNamedAndUpdatesNothing) {
  auto A = param({4, 4}), B = param({4, 4});
  const auto A0 = A.detach().clone();
  A.mutable_grad() = at::randn({4, 4});
  B.mutable_grad() = at::randn({4, 4}, at::kDouble);
  Muon opt({{"good", A}, {"mixed.weight", B}});
  try {
    opt.step();
    FAIL() << "a double gradient of a float parameter was accepted";
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    EXPECT_NE(msg.find("'mixed.weight' is Double on cpu but the parameter is Float on cpu"),
              std::string::npos)
        << msg;
  }
  EXPECT_TRUE(at::equal(A.detach(), A0));
}

TEST(Muon, ZeroGradientGivesZeroUpdate) {
  auto W = param({6, 10});
  const auto W0 = W.detach().clone();
  W.mutable_grad() = at::zeros({6, 10});
  Muon opt({{"w", W}});
  opt.step();
  EXPECT_TRUE(at::equal(W.detach(), W0));
}

TEST(Muon, ReportsCostAndStateBytes) {
  auto W = param({64, 256});
  W.mutable_grad() = at::randn({64, 256});
  Muon opt({{"w", W}}, MuonOptions().orthogonalizer("ns-polar-express"));
  opt.step();
  EXPECT_EQ(opt.last_step_cost().gemms, 15);
  EXPECT_EQ(opt.state_bytes(), 64 * 256 * 4);
}

TEST(Muon, BadOptionsAreRejected) {
  EXPECT_THROW(Muon({{"w", param({4, 4})}}, MuonOptions().orthogonalizer("nope")),
               std::invalid_argument);
  EXPECT_THROW(Muon({{"w", param({4, 4})}}, MuonOptions().momentum(1.0)), c10::Error);
}

}  // namespace
}  // namespace steepest

namespace steepest {
namespace {

// ns_steps = 0 (auto): each matrix's count is measured on its own momentum,
// kept in its state (so checkpoints carry it) and spent as counted.
TEST(MuonNsStepsAuto, FlatGradientsGetFewerStepsThanSteepOnesAndKeepThemInState) {
  at::manual_seed(8);
  auto flat = at::zeros({64, 256}).set_requires_grad(true);
  auto steep = at::zeros({64, 256}).set_requires_grad(true);
  // A flat spectrum: orthonormal rows; a steep one: σ_i = i^-2.
  flat.mutable_grad() = testing::known_svd(64, 256, at::ones({64}, at::kDouble)).X;
  steep.mutable_grad() = testing::known_svd(64, 256, at::arange(1, 65, at::kDouble).pow(-2.0)).X;
  Muon opt({{"flat", flat}, {"steep", steep}},
           MuonOptions(0.01).orthogonalizer("ns-keller").ns_steps(0).ns_auto_start(1));
  opt.step();
  auto kept = [&](const at::Tensor& p) {
    return static_cast<const TensorState&>(*opt.state().at(compat::state_key(p)))
        .buffers.at("ns_steps_auto")
        .item<int64_t>();
  };
  EXPECT_LT(kept(flat), kept(steep));
  EXPECT_EQ(kept(steep), 5);
  EXPECT_EQ(opt.last_step_cost().gemms, 3 * (kept(flat) + kept(steep)));
  EXPECT_THROW(Muon({{"w", param({4, 4})}}, MuonOptions().orthogonalizer("svd").ns_steps(0)),
               c10::Error);
  EXPECT_THROW(Muon({{"w", param({4, 4})}}, MuonOptions().ns_steps(0).ns_auto_every(0)),
               c10::Error);
}

}  // namespace
}  // namespace steepest
