#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "steepest/linalg/newton_schulz.h"
#include "steepest/linalg/orthogonalizer.h"
#include "steepest/linalg/polar_svd.h"
#include "test_util.h"

namespace steepest {
namespace {

TEST(Orthogonalizer, EveryNameParsesRoundTripsAndCostsWhatItSays) {
  at::manual_seed(12);
  const auto X = at::randn({24, 96});
  for (const auto& name : orthogonalizer_names()) {
    const auto o = Orthogonalizer::from_name(name);
    EXPECT_EQ(o.name(), name);
    Cost c;
    const auto O = o(X, &c);
    EXPECT_EQ(O.sizes(), X.sizes()) << name;
    const auto predicted = o.cost(24, 96);
    EXPECT_EQ(c.gemms, predicted.gemms) << name;
    EXPECT_DOUBLE_EQ(c.flops, predicted.flops) << name;
  }
}

// A bare schedule name with compute dtype fp32 runs the Gram form where it is
// cheaper: the same result as "gram-<schedule>" and, to fp32 rounding, as
// plain NS ("ns-<schedule>"), for fewer FLOPs; square inputs, bf16, fp64 and
// an unset compute dtype keep plain NS.
TEST(Orthogonalizer, BareScheduleRunsTheGramFormForRectangularFp32) {
  at::manual_seed(5);
  const auto X = at::randn({3, 256, 64});
  const auto bare = Orthogonalizer::from_name("keller", -1, at::kFloat);
  const auto plain = Orthogonalizer::from_name("ns-keller", -1, at::kFloat);
  const auto gram = Orthogonalizer::from_name("gram-keller", -1, at::kFloat);
  EXPECT_TRUE(at::equal(bare(X), gram(X)));
  EXPECT_LT(testing::rel_err(bare(X), plain(X)), 1e-5);
  EXPECT_LT(bare.cost(256, 64).flops, plain.cost(256, 64).flops);
  EXPECT_DOUBLE_EQ(bare.cost(128, 128).flops, plain.cost(128, 128).flops);
  EXPECT_TRUE(at::equal(Orthogonalizer::from_name("keller")(X), plain(X)));  // unset: plain
  const auto Xd = X.to(at::kDouble);
  const auto fp64 = Orthogonalizer::from_name("keller", -1, at::kDouble);
  EXPECT_TRUE(at::equal(fp64(Xd), Orthogonalizer::from_name("ns-keller", -1, at::kDouble)(Xd)));
  const auto bf16 = Orthogonalizer::from_name("keller", -1, at::kBFloat16);
  const auto bf16_plain = Orthogonalizer::from_name("ns-keller", -1, at::kBFloat16);
  EXPECT_TRUE(at::equal(bf16(X), bf16_plain(X)));
}

TEST(Orthogonalizer, UnknownMethodListsTheValidOnes) {
  try {
    Orthogonalizer::from_name("gram-nope");
    FAIL();
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("gram-polar-express"), std::string::npos) << msg;
    EXPECT_NE(msg.find("svd"), std::string::npos) << msg;
  }
}

// Turbo-Muon (modded-nanogpt record 2025-11-11) replaces the schedule's FIRST
// step by the AOL start and keeps steps 2…n.
TEST(TurboNewtonSchulz, KeepsStepsTwoToNAndLandsInTheScheduleBand) {
  const auto pe = ns_schedule("polar-express");
  const auto turbo = Orthogonalizer::from_name("turbo-polar-express");
  EXPECT_EQ(turbo.name(), "turbo-polar-express");
  ASSERT_EQ(turbo.schedule.steps.size(), 4u);
  for (size_t k = 0; k < 4; ++k) EXPECT_DOUBLE_EQ(turbo.schedule.steps[k].a, pe.steps[k + 1].a);
  EXPECT_DOUBLE_EQ(turbo.schedule.safety, 1.02);
  // --steps N counts from step 2 of the extended schedule.
  const auto t6 = Orthogonalizer::from_name("turbo-polar-express", 6);
  ASSERT_EQ(t6.schedule.steps.size(), 6u);
  EXPECT_DOUBLE_EQ(t6.schedule.steps[0].a, pe.steps[1].a);
  EXPECT_DOUBLE_EQ(t6.schedule.steps[5].a, 1.875);
  EXPECT_EQ(Orthogonalizer::from_name("turbo-you6").schedule.steps.size(), 5u);
  EXPECT_DOUBLE_EQ(Orthogonalizer::from_name("turbo-you6").schedule.steps[0].a, 3735.0 / 1024);
  EXPECT_THROW(Orthogonalizer::from_name("turbo-keller", 0), std::invalid_argument);

  // Polar Express's steps 2…5 map σ ∈ [0.01, 1] into ≈ [0.86, 1.14]; the AOL start
  // puts a Gaussian's σ there. Keeping steps 1…4 instead overshoots to ≈ 1.5.
  at::manual_seed(10);
  for (auto shape : {std::pair<int64_t, int64_t>{64, 256}, {256, 64}, {128, 384}}) {
    const auto X = at::randn({shape.first, shape.second});
    Cost c;
    const auto O = turbo(X, &c);
    EXPECT_EQ(c.gemms, 4 * 3);  // the AOL Gram matrix is the first step's A
    EXPECT_EQ(c.gemms, turbo.cost(shape.first, shape.second).gemms);
    const auto S = at::linalg_svdvals(O);
    EXPECT_GT(S.min().item<double>(), 0.85) << shape.first << "x" << shape.second;
    EXPECT_LT(S.max().item<double>(), 1.15) << shape.first << "x" << shape.second;
    EXPECT_LT(testing::rel_err(turbo(X * 37.0), O), 1e-4);  // eps 1e-6 ≪ the row sums
    // The caveat: the row scaling moves the polar factor, but only a little.
    const auto P = polar_svd(X);
    EXPECT_GT(((O * P).sum() / (O.norm() * P.norm())).item<double>(), 0.95);
  }
}

// The safety factor sits inside the root, as in the reference: rsqrt(1.02·d + 1e-6).
TEST(TurboNewtonSchulz, AolStartIsBoundedBySafety) {
  at::manual_seed(11);
  const auto X = at::randn({32, 128}, at::kDouble);
  NsOptions pre;
  pre.precondition = true;
  // One step of the identity polynomial returns the AOL start itself.
  NsSchedule identity{"identity", {{1.0, 0.0, 0.0}}, 1.02, 1e-6};
  const auto start = newton_schulz(X, identity, pre);
  const auto A = at::mm(X, X.t());
  const auto d = A.abs().sum(-1);
  EXPECT_LT(testing::rel_err(start, X * (1.02 * d + 1e-6).rsqrt().unsqueeze(-1)), 1e-12);
  EXPECT_LE(at::linalg_matrix_norm(start, 2).item<double>(), 1.0 / std::sqrt(1.02) + 1e-12);
  // A zero row stays zero (and nothing is NaN).
  auto Z = X.clone();
  Z[3].zero_();
  const auto z = newton_schulz(Z, identity, pre);
  EXPECT_EQ(z[3].abs().max().item<double>(), 0.0);
  EXPECT_TRUE(at::isfinite(z).all().item<bool>());
}

// Gram Newton–Schulz honours the Turbo start through the direct API.
TEST(TurboNewtonSchulz, GramIterationHonoursThePreconditioner) {
  at::manual_seed(12);
  const auto X = at::randn({32, 256}, at::kDouble);  // α = 8: the Gram path runs
  const auto s = Orthogonalizer::from_name("turbo-polar-express").schedule;
  GramNsOptions g;
  g.ns.precondition = true;
  Cost cg;
  const auto G = gram_newton_schulz(X, s, g, &cg);
  const auto N = newton_schulz(X, s, g.ns);
  EXPECT_LT(testing::rel_err(G, N), 1e-9);
  EXPECT_GT(testing::rel_err(G, gram_newton_schulz(X, s)), 1e-3);  // it is not ignored
  EXPECT_EQ(cg.gemms, gram_newton_schulz_cost(32, 256, s, g).gemms);
}

TEST(Orthogonalizer, StepsOverride) {
  EXPECT_EQ(Orthogonalizer::from_name("keller", 3).schedule.steps.size(), 3u);
  EXPECT_EQ(Orthogonalizer::from_name("gram-you6", 8).schedule.steps.size(), 8u);
}

}  // namespace
}  // namespace steepest
