#include <gtest/gtest.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cmath>
#include <cstdio>
#include <tuple>
#include <utility>

#include "steepest/linalg/orthogonalizer.h"
#include "steepest/linalg/polar_svd.h"
#include "steepest/optim/stiefel.h"
#include "test_util.h"

namespace steepest {
namespace {

at::Tensor param(std::vector<int64_t> shape) {
  return at::randn(shape).set_requires_grad(true);
}

// ‖WᵀD + DᵀW‖_F in fp64: how far D is from the tangent space at W.
double tangency(const at::Tensor& W, const at::Tensor& D) {
  const auto K = at::mm(W.t().to(at::kDouble), D.to(at::kDouble));
  return (K + K.t()).norm().item<double>();
}

using Variant = std::tuple<std::string, std::string>;  // method, retraction
class StiefelVariants : public ::testing::TestWithParam<Variant> {};

// 100 steps with random gradients from a point on St, in fp32. Measured
// ‖WᵀW − I‖_F after 100 steps (32×16, lr 0.02): polar ≈ 1e-6 and qr ≈ 1e-6
// (each step re-orthogonalizes, so fp32 rounding does not accumulate); cayley
// ≈ 1e-4 (an orthogonal map of the current W: the fixed-point truncation error
// of each step accumulates and nothing pulls W back).
TEST_P(StiefelVariants, HundredRandomStepsStayOnTheManifold) {
  const auto& [method, retraction] = GetParam();
  at::manual_seed(31);
  auto W = param({32, 16});
  auto V = param({16, 32});  // wide: rows stay orthonormal
  // 5 dual steps keep the test fast; the manifold error comes from the retraction.
  Stiefel opt({{"w", W}, {"v", V}},
              StiefelOptions(0.02).method(method).retraction(retraction).dual_steps(5));
  EXPECT_LT(stiefel_distance(W), 1e-5);
  for (int t = 0; t < 100; ++t) {
    W.mutable_grad() = at::randn({32, 16});
    V.mutable_grad() = at::randn({16, 32});
    opt.step();
  }
  const double tol = retraction == "cayley" ? 1e-3 : 2e-5;
  EXPECT_LT(stiefel_distance(W), tol) << method << "/" << retraction;
  EXPECT_LT(stiefel_distance(V), tol) << method << "/" << retraction;
  std::printf("[ measured ] %s/%s: |WtW-I|_F = %.3g (tall), %.3g (wide)\n", method.c_str(),
              retraction.c_str(), stiefel_distance(W), stiefel_distance(V));
}

// Minimizing −tr(WᵀC) on St (gradient −C): the minimizer is msign(C). A linearly
// decaying lr lets the fixed-length steps settle.
TEST_P(StiefelVariants, DescendsToThePolarFactorOfC) {
  const auto& [method, retraction] = GetParam();
  at::manual_seed(32);
  const auto C = at::randn({32, 16});
  auto W = param({32, 16});
  Stiefel opt({{"w", W}}, StiefelOptions(0.05).momentum(0.5).method(method).retraction(retraction));
  const int T = 300;
  for (int t = 0; t < T; ++t) {
    opt.param_groups()[0].options().set_lr(0.05 * (1.0 - double(t) / T));
    W.mutable_grad() = -C;
    opt.step();
  }
  const double err = testing::rel_err(W.detach(), polar_svd(C));
  std::printf("[ measured ] %s/%s: |W - msign(C)|/|msign(C)| = %.3g\n", method.c_str(),
              retraction.c_str(), err);
  // Measured: tangent ≤ 1.3e-3 (cayley; polar, qr ≈ 1e-4), dual-ascent ≤ 3e-5 with
  // polar/cayley but 0.019 with qr: QR turns the normal part W·S of a not quite
  // tangent A (residual ≈ 0.2 after 10 dual steps) into a rotation of W, where
  // polar and cayley drop it.
  const double tol = method == "dual-ascent" && retraction == "qr" ? 0.05 : 5e-3;
  EXPECT_LT(err, tol) << method << "/" << retraction;
}

// step() spends exactly what stiefel_step_cost() predicts, for tall, wide,
// square and conv-shaped weights.
TEST_P(StiefelVariants, PredictedCostEqualsSpentCost) {
  const auto& [method, retraction] = GetParam();
  at::manual_seed(33);
  const auto o = StiefelOptions(0.02).method(method).retraction(retraction);
  for (std::vector<int64_t> shape :
       {std::vector<int64_t>{32, 16}, {16, 32}, {16, 16}, {8, 2, 3, 3}}) {
    auto W = param(shape);
    Stiefel opt({{"w", W}}, o);
    W.mutable_grad() = at::randn(shape);
    opt.step();
    const Cost want = stiefel_step_cost(o, shape[0], W[0].numel());
    const Cost& got = opt.last_step_cost();
    EXPECT_EQ(got.gemms, want.gemms) << method << "/" << retraction << " " << W.sizes();
    EXPECT_DOUBLE_EQ(got.flops, want.flops);
    EXPECT_DOUBLE_EQ(got.other_flops, want.other_flops);
  }
}

INSTANTIATE_TEST_SUITE_P(Stiefel, StiefelVariants,
                         ::testing::Combine(::testing::Values("tangent", "dual-ascent"),
                                            ::testing::Values("polar", "cayley", "qr")),
                         [](const auto& i) {
                           std::string n = std::get<0>(i.param) + "_" + std::get<1>(i.param);
                           for (auto& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

// GEMMs per step for a 32×16 weight: the numbers quoted in the header.
TEST(Stiefel, GemmCountsPerStep) {
  auto count = [](const std::string& method, const std::string& retraction) {
    return stiefel_step_cost(StiefelOptions().method(method).retraction(retraction), 32, 16).gemms;
  };
  EXPECT_EQ(count("tangent", "polar"), 2 + 2 * 3);
  // Cayley: WᵀD, D̂, U·Vᵀ for ‖A_s‖₁, VᵀW, U·(VᵀW); then the exact transform's
  // VᵀU, VᵀZ and U·R, or Cayley SGD's 5 iterations of two each.
  EXPECT_EQ(count("tangent", "cayley"), 2 + 2 + 1 + 2 + 3);
  EXPECT_EQ(
      stiefel_step_cost(StiefelOptions().retraction("cayley").retraction_steps(5), 32, 16).gemms,
      2 + 2 + 1 + 2 + 2 * 5);
  EXPECT_GT(stiefel_step_cost(StiefelOptions().retraction("cayley"), 32, 16).other_flops, 0.0);
  EXPECT_EQ(count("tangent", "qr"), 2);
  const int64_t msign = Orthogonalizer::from_name("polar-express").cost(32, 16).gemms;
  EXPECT_EQ(msign, 15);
  // WᵀM for Λ₀, then per dual step W·Λ, msign and WᵀA; then the retraction.
  EXPECT_EQ(count("dual-ascent", "polar"), 1 + 10 * (1 + msign + 1) + 2 * 3);
  EXPECT_GT(stiefel_step_cost(StiefelOptions().retraction("qr"), 32, 16).other_flops, 0.0);
}

TEST(Stiefel, TangentDirectionIsTangentAndNormalized) {
  at::manual_seed(34);
  const auto W = testing::random_orthonormal(32, 16);
  const auto M = at::randn({32, 16}, at::kDouble);
  Cost cost;
  const auto D = stiefel_tangent_direction(W, M, &cost);
  EXPECT_LT(tangency(W, D), 1e-12);
  EXPECT_NEAR(D.norm().item<double>(), 4.0, 1e-12);  // √n
  EXPECT_EQ(cost.gemms, 2);
  // A zero M gives a zero direction, not NaN.
  const auto D0 = stiefel_tangent_direction(W, at::zeros_like(M));
  EXPECT_EQ(D0.abs().max().item<double>(), 0.0);
  EXPECT_FALSE(D0.isnan().any().item<bool>());
}

// With momentum 0 and enough polar steps, one step is msign(W − lr·D(W, G)).
TEST(Stiefel, TangentStepIsRetractedProjectedGradient) {
  at::manual_seed(35);
  auto W = param({32, 16});
  Stiefel opt({{"w", W}}, StiefelOptions(0.1).momentum(0.0).retraction_steps(6));
  const auto W0 = W.detach().clone();
  const auto G = at::randn({32, 16});
  W.mutable_grad() = G.clone();
  opt.step();
  const auto D = stiefel_tangent_direction(W0, G);
  EXPECT_LT(testing::rel_err(W.detach(), polar_svd(W0 - 0.1 * D)), 1e-5);
  // The move is a descent step along −D: first order in lr.
  EXPECT_LT(testing::rel_err(W.detach() - W0, -0.1 * D), 0.1);
}

// The cayley and qr retractions of a tangent step agree with polar to O(lr²).
TEST(Stiefel, RetractionsAgreeToSecondOrder) {
  at::manual_seed(36);
  const auto W = testing::random_orthonormal(32, 16);
  const auto D = stiefel_tangent_direction(W, at::randn({32, 16}, at::kDouble));
  const double lr = 0.01;
  const auto P = stiefel_retract(StiefelRetraction::Polar, W, D, lr, 3);
  for (auto r : {StiefelRetraction::Cayley, StiefelRetraction::Qr}) {
    const auto X = stiefel_retract(r, W, D, lr, 2);
    // qr is exact; cayley's fixed point is truncated after 2 iterations.
    EXPECT_LT(stiefel_distance(X), r == StiefelRetraction::Qr ? 1e-12 : 1e-6);
    EXPECT_LT((X - P).norm().item<double>(), 10 * lr * lr * 16);
    EXPECT_GT((X - W).norm().item<double>(), 0.5 * lr * 4);  // it did move
  }
  // More fixed-point iterations converge to the exact (orthogonal) Cayley
  // transform, which steps = -1 computes directly.
  const auto exact = stiefel_retract(StiefelRetraction::Cayley, W, D, lr, -1);
  EXPECT_LT(stiefel_distance(exact), 1e-12);
  EXPECT_LT(stiefel_distance(stiefel_retract(StiefelRetraction::Cayley, W, D, lr, 8)), 1e-12);
  EXPECT_LT(testing::rel_err(stiefel_retract(StiefelRetraction::Cayley, W, D, lr, 8), exact),
            1e-12);
  // D = 0 leaves W where it is (the QR sign fix makes Q = W).
  for (auto r : {StiefelRetraction::Polar, StiefelRetraction::Cayley, StiefelRetraction::Qr})
    EXPECT_LT((stiefel_retract(r, W, at::zeros_like(W), lr, 2) - W).norm().item<double>(), 1e-10);
}

// Dual ascent drives the tangency violation ‖WᵀA + AᵀW‖_F of manifold Muon's
// direction down as dual_steps grows (measured in the printed line).
TEST(Stiefel, DualAscentResidualShrinksWithDualSteps) {
  at::manual_seed(37);
  const auto G = at::randn({32, 16});
  auto W0 = param({32, 16});
  std::vector<double> r;
  for (int k : {1, 3, 10, 30}) {
    auto W = at::Tensor(W0.detach().clone()).set_requires_grad(true);
    Stiefel opt({{"w", W}}, StiefelOptions().method("dual-ascent").dual_steps(k));
    EXPECT_TRUE(std::isnan(opt.last_tangency_residual()));
    W.mutable_grad() = G.clone();
    opt.step();
    r.push_back(opt.last_tangency_residual());
  }
  std::printf("[ measured ] tangency residual for dual_steps 1, 3, 10, 30: %.3g %.3g %.3g %.3g\n",
              r[0], r[1], r[2], r[3]);
  EXPECT_LT(r[1], r[0]);
  EXPECT_LT(r[2], 0.5 * r[0]);
  EXPECT_LT(r[3], r[2]);
  // The tangent method does not measure one.
  auto V = param({32, 16});
  Stiefel tangent({{"v", V}});
  V.mutable_grad() = G.clone();
  tangent.step();
  EXPECT_TRUE(std::isnan(tangent.last_tangency_residual()));
}

// The reference starts the dual at Λ₀ = −¼(WᵀM + MᵀW): the first candidate is
// msign of M's tangent projection M − W·sym(WᵀM), not msign(M).
TEST(Stiefel, DualAscentStartsFromTheTangentProjection) {
  at::manual_seed(41);
  const auto W = testing::random_orthonormal(32, 16);
  const auto M = at::randn({32, 16}, at::kDouble);
  auto S = at::mm(W.t(), M);
  const auto xi = M - at::mm(W, (S + S.t()) * 0.5);
  at::Tensor residual;
  const auto A = stiefel_dual_ascent_direction(W, M, 1, 0.2, "svd", nullptr, &residual);
  EXPECT_LT(testing::rel_err(A, polar_svd(xi)), 1e-10);
  EXPECT_GT(testing::rel_err(A, polar_svd(M)), 0.1);  // what Λ₀ = 0 gave
  // msign of a tangent vector is nearly tangent already: far below msign(M)'s violation.
  EXPECT_LT(residual.item<double>(), 0.5 * tangency(W, polar_svd(M)));
}

// The singular values of W after `steps` optimizer steps with a near-rank-1
// momentum (the hostile case: lr·‖D‖₂ up to lr·√n), square n×n weights.
std::pair<double, double> sigma_range_after(const std::string& retraction, int64_t n, double lr,
                                            int steps) {
  at::manual_seed(42);
  const auto u = at::randn({n, 1}), v = at::randn({1, n});
  auto W = param({n, n});
  Stiefel opt({{"w", W}}, StiefelOptions(lr).momentum(0.9).retraction(retraction));
  for (int t = 0; t < steps; ++t) {
    W.mutable_grad() = at::mm(u, v) * 10.0 + 1e-3 * at::randn({n, n});
    opt.step();
  }
  const auto s = at::linalg_svdvals(W.detach().to(at::kDouble));
  return {s.min().item<double>(), s.max().item<double>()};
}

// Polar: the quintic has a repelling fixed point at √(7/3), and a rescale into
// σ ≤ 1 left small σ at 0.78 (n 128) and 0.07 (n 512) after 5 steps at lr 0.16.
// Steps the two quintic steps cannot finish take the exact polar factor.
// Cayley: without Cayley SGD's clip α = min(lr, 1/‖A_s‖₁), σ_max reached 6.2
// after 3 steps (n 128, lr 0.2) and NaN within 5 (n 512, lr 0.16).
TEST(Stiefel, RetractionsLandOnTheManifoldAtAnyLr) {
  for (const std::string retraction : {"polar", "cayley"}) {
    for (const int64_t n : {128, 512}) {
      for (const double lr : {0.02, 0.16, 0.2, 1.0}) {
        const auto [lo, hi] = sigma_range_after(retraction, n, lr, 5);
        EXPECT_GE(lo, 1 - 1e-3) << retraction << " n " << n << " lr " << lr;
        EXPECT_LE(hi, 1 + 1e-3) << retraction << " n " << n << " lr " << lr;
      }
    }
  }
}

// A generator concentrated in one entry (W = I, a one-entry gradient): there
// ‖A_s‖₂ = ‖A_s‖₁, so Cayley SGD's clip only halves the fixed-point error per
// iteration, and its 5 iterations leave W measurably off St (σ_max 1.03 after
// 5 steps at lr 1, found in review). The exact transform (the default) stays on it.
TEST(Stiefel, CayleyStaysOnTheManifoldForAConcentratedGenerator) {
  const int64_t n = 128;
  for (const int steps : {-1, 5}) {
    auto W = at::eye(n).set_requires_grad(true);
    Stiefel opt({{"w", W}},
                StiefelOptions(1.0).momentum(0.9).retraction("cayley").retraction_steps(steps));
    for (int t = 0; t < 5; ++t) {
      auto G = at::zeros({n, n});
      G[3][7] = 1.0;
      W.mutable_grad() = G;
      opt.step();
    }
    const auto s = at::linalg_svdvals(W.detach().to(at::kDouble));
    const double off = std::max(s.max().item<double>() - 1, 1 - s.min().item<double>());
    std::printf(
        "[ measured ] cayley, one-entry gradient, retraction_steps %d: max |sigma - 1| "
        "%.3g after 5 steps at lr 1\n",
        steps, off);
    if (steps < 0)
      EXPECT_LT(off, 1e-5);
    else
      EXPECT_GT(off, 1e-3);  // the reference's form, as documented
  }
}

TEST(Stiefel, PolarRetractionTakesTheExactFactorOnlyForLargeSteps) {
  at::manual_seed(43);
  const auto W = testing::random_orthonormal(32, 16);
  const auto D = stiefel_tangent_direction(W, at::randn({32, 16}, at::kDouble));
  // σ(W − lr·D)² = 1 + lr²σ(D)²: at lr 1 far beyond what two quintic steps finish.
  Cost cost;
  const auto X = stiefel_retract(StiefelRetraction::Polar, W, D, 1.0, 2, &cost);
  EXPECT_LT(testing::rel_err(X, polar_svd(W - D)), 1e-10);
  EXPECT_GT(cost.other_flops, 0.0);  // the SVD
  // Cayley's clipped step is never longer than lr and lands on St.
  const auto Y = stiefel_retract(StiefelRetraction::Cayley, W, D, 1.0, -1);
  EXPECT_LT(stiefel_distance(Y), 1e-10);
  EXPECT_LT((Y - W).norm().item<double>(), (X - W).norm().item<double>());
  // A small step is the plain quintic step, no SVD.
  const auto Xs = W - D * 0.02;
  Cost small;
  auto one = stiefel_retract(StiefelRetraction::Polar, W, D, 0.02, 1, &small);
  const auto A = at::mm(Xs.t(), Xs);
  const auto P = Xs * (15.0 / 8) + at::mm(Xs, A * (-10.0 / 8) + at::mm(A, A) * (3.0 / 8));
  EXPECT_LT(testing::rel_err(one, P), 1e-12);
  EXPECT_EQ(small.other_flops, 0.0);
}

// A wide weight is the transpose of a tall one: same trajectory.
TEST(Stiefel, WideWeightFollowsItsTransposedProblem) {
  for (const std::string method : {"tangent", "dual-ascent"}) {
    at::manual_seed(38);
    auto V = param({16, 32});
    auto T = at::Tensor(V.detach().t().clone()).set_requires_grad(true);
    const auto o = StiefelOptions(0.05).method(method);
    Stiefel wide({{"v", V}}, o), tall({{"t", T}}, o);
    for (int t = 0; t < 10; ++t) {
      const auto G = at::randn({16, 32});
      V.mutable_grad() = G.clone();
      T.mutable_grad() = G.t().clone();
      wide.step();
      tall.step();
    }
    EXPECT_LT(testing::rel_err(V.detach().t(), T.detach()), 1e-4) << method;
    EXPECT_LT(stiefel_distance(V), 2e-5) << method;
  }
}

// A zero weight is not projected at construction; its first step lands it on
// St at −msign(G) (the exact msign(0 − lr·D), D ∝ G at W = 0).
TEST(Stiefel, ZeroInitWeightLandsOnTheManifoldAfterOneStep) {
  for (const std::string method : {"tangent", "dual-ascent"}) {
    for (const std::string retraction : {"polar", "cayley", "qr"}) {
      for (std::vector<int64_t> shape : {std::vector<int64_t>{32, 16}, {16, 32}}) {
        at::manual_seed(39);
        auto W = at::zeros(shape).set_requires_grad(true);
        Stiefel opt({{"w", W}}, StiefelOptions().method(method).retraction(retraction));
        EXPECT_EQ(W.abs().max().item<float>(), 0.0f);
        const auto G = at::randn(shape);
        W.mutable_grad() = G.clone();
        opt.step();
        EXPECT_LT(stiefel_distance(W), 1e-5) << method << "/" << retraction;
        const double tol = 1e-5;  // msign(A) = msign(G) also for polar-express A
        EXPECT_LT(testing::rel_err(W.detach(), -polar_svd(G)), tol) << method << "/" << retraction;
        // The retraction takes over from the second step.
        W.mutable_grad() = at::randn(shape);
        opt.step();
        EXPECT_LT(stiefel_distance(W), 1e-5) << method << "/" << retraction;
      }
    }
  }
}

TEST(Stiefel, ProjectInitMovesNonZeroWeightsOntoTheManifold) {
  at::manual_seed(40);
  auto W = param({32, 16}), V = param({4, 2, 3, 3}), U = param({32, 16});
  const auto W0 = W.detach().clone();
  Stiefel opt({{"w", W}, {"v", V}});
  EXPECT_LT(stiefel_distance(W), 1e-5);
  EXPECT_LT(stiefel_distance(V), 1e-5);  // rows of the (4, 18) view
  EXPECT_LT(testing::rel_err(W.detach(), polar_svd(W0)), 1e-6);
  const auto U0 = U.detach().clone();
  Stiefel off({{"u", U}}, StiefelOptions().project_init(false));
  EXPECT_TRUE(at::equal(U.detach(), U0));
}

// Save after 5 steps, load into fresh weights + optimizer, continue 5 steps:
// bit-identical to never having stopped.
TEST(Stiefel, SaveLoadContinuesBitIdentically) {
  for (const std::string method : {"tangent", "dual-ascent"}) {
    const std::string path = ::testing::TempDir() + "/steepest_stiefel_" + method + ".pt";
    at::manual_seed(41);
    std::vector<at::Tensor> grads;
    for (int t = 0; t < 10; ++t) grads.push_back(at::randn({32, 16}));
    const auto o = StiefelOptions(0.03).method(method).retraction("cayley");
    auto run = [&](Stiefel& opt, at::Tensor& W, int from, int to) {
      for (int t = from; t < to; ++t) {
        W.mutable_grad() = grads[t].clone();
        opt.step();
      }
    };
    auto A = param({32, 16});
    Stiefel a({{"w", A}}, o);
    run(a, A, 0, 5);
    a.param_groups()[0].options().set_lr(0.02);  // the saved lr must come back too
    {
      torch::serialize::OutputArchive out, opt;
      a.save(opt);
      out.write("optimizer", opt);
      out.write("w", A.detach());
      out.save_to(path);
    }
    run(a, A, 5, 10);

    auto B = param({32, 16});
    Stiefel b({{"w", B}}, o);
    B.mutable_grad() = at::randn({32, 16});
    b.step();  // make b's state differ, so a no-op load would fail
    {
      torch::serialize::InputArchive in, opt;
      in.load_from(path);
      in.read("optimizer", opt);
      b.load(opt);
      at::Tensor w;
      in.read("w", w);
      at::NoGradGuard no_grad;
      B.copy_(w);
    }
    EXPECT_EQ(b.kind(), method == "tangent" ? "stiefel" : "manifold-muon");
    run(b, B, 5, 10);
    EXPECT_TRUE(at::equal(A.detach(), B.detach())) << method;
    std::remove(path.c_str());
  }
}

// Rejected before any weight is projected.
TEST(Stiefel, BadNamesAndVectorsAreRejected) {
  auto W = param({8, 4});
  const auto W0 = W.detach().clone();
  try {
    Stiefel opt({{"w", W}}, StiefelOptions().method("riemannian"));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("tangent, dual-ascent"), std::string::npos) << e.what();
  }
  try {
    Stiefel opt({{"w", W}}, StiefelOptions().retraction("exp"));
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("polar, cayley, qr"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Stiefel({{"w", W}}, StiefelOptions().orthogonalizer("nope")), std::invalid_argument);
  EXPECT_THROW(stiefel_step_cost(StiefelOptions().method("nope"), 8, 4), std::invalid_argument);
  EXPECT_THROW(Stiefel({{"w", W}}, StiefelOptions().dual_steps(0)), c10::Error);
  auto b = param({8});
  try {
    Stiefel opt({{"w", W}, {"bias", b}});
    FAIL();
  } catch (const c10::Error& e) {
    const std::string msg = e.what_without_backtrace();
    EXPECT_NE(msg.find("'bias'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("AdamW"), std::string::npos) << msg;
  }
  EXPECT_TRUE(at::equal(W.detach(), W0));
  EXPECT_EQ(Stiefel({{"w", W}}).kind(), "stiefel");
  EXPECT_EQ(Stiefel({{"w", W}}, StiefelOptions().method("dual-ascent")).kind(), "manifold-muon");
}

}  // namespace
}  // namespace steepest
