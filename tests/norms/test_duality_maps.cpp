#include <gtest/gtest.h>

#include <cmath>

#include "steepest/norms/duality_maps.h"
#include "steepest/norms/norm.h"
#include "test_util.h"

namespace steepest {
namespace {

double v(const at::Tensor& t) {
  return t.item<double>();
}
double frobenius_inner(const at::Tensor& a, const at::Tensor& b) {
  return v((a * b).sum());
}

class EveryNorm : public ::testing::TestWithParam<size_t> {};

// ‖D(G)‖ = 1, ⟨G, D(G)⟩ = ‖G‖†, and ⟨G, T⟩ ≤ ‖G‖† for 100 random unit-norm T.
TEST_P(EveryNorm, SatisfiesTheDualityIdentities) {
  const NormPtr map = all_norms()[GetParam()];
  at::manual_seed(13);
  for (auto [m, n] : {std::pair<int64_t, int64_t>{12, 20}, {20, 12}, {9, 9}}) {
    const auto G = at::randn({m, n}, at::kDouble);
    const auto D = map->dualize(G);
    ASSERT_EQ(D.sizes(), G.sizes());
    const double dual = v(map->dual_norm(G));
    EXPECT_NEAR(v(map->norm(D)), 1.0, 1e-9) << map->name();
    EXPECT_NEAR(frobenius_inner(G, D), dual, 1e-9 * std::max(1.0, dual)) << map->name();
    for (int t = 0; t < 100; ++t) {
      auto T = at::randn({m, n}, at::kDouble);
      if (t % 2) T = T.sign();  // corners of the ℓ∞ ball too
      T = T / map->norm(T);
      EXPECT_LE(frobenius_inner(G, T), dual * (1 + 1e-12)) << map->name() << " trial " << t;
    }
    // A small perturbation of D (renormalized) never does better than D.
    const auto P = D + 1e-3 * at::randn({m, n}, at::kDouble);
    EXPECT_LE(frobenius_inner(G, P / map->norm(P)), dual * (1 + 1e-12)) << map->name();
  }
}

TEST_P(EveryNorm, ZeroDualizesToZero) {
  const NormPtr map = all_norms()[GetParam()];
  const auto D = map->dualize(at::zeros({4, 6}, at::kDouble));
  EXPECT_TRUE(at::isfinite(D).all().item<bool>()) << map->name();
  EXPECT_EQ(v(D.abs().max()), 0.0) << map->name();
}

// The optimizers dualize (k, m, n) batches: each matrix as on its own, and the
// cost spent is k times the predicted cost of one matrix.
TEST_P(EveryNorm, DualizesABatchMatrixByMatrixAtThePredictedCost) {
  const NormPtr map = all_norms()[GetParam()];
  at::manual_seed(17);
  const auto G = at::randn({3, 10, 6}, at::kDouble);
  Cost spent;
  const auto D = map->dualize(G, nullptr, &spent);
  ASSERT_EQ(D.sizes(), G.sizes());
  for (int64_t i = 0; i < 3; ++i)
    EXPECT_LT(testing::rel_err(D[i], map->dualize(G[i])), 1e-12) << map->name() << " " << i;
  const Cost one = map->cost(10, 6);
  EXPECT_EQ(spent.gemms, 3 * one.gemms) << map->name();
  EXPECT_DOUBLE_EQ(spent.total_flops(), 3 * one.total_flops()) << map->name();
}

// With an iterative msign the maps built on U Vᵀ follow it, and cost what it costs.
TEST_P(EveryNorm, UsesTheGivenMsign) {
  const NormPtr map = all_norms()[GetParam()];
  at::manual_seed(19);
  const auto G = at::randn({12, 8}, at::kDouble);
  const Orthogonalizer ns = Orthogonalizer::from_name("polar-express");
  Cost spent;
  const auto D = map->dualize(G, &ns, &spent);
  const Cost predicted = map->cost(12, 8, &ns);
  EXPECT_EQ(spent.gemms, predicted.gemms) << map->name();
  EXPECT_DOUBLE_EQ(spent.total_flops(), predicted.total_flops()) << map->name();
  if (map->name() == "spectral" || map->name() == "rms-rms") {
    EXPECT_LT(testing::rel_err(D, map->dualize(G)), 0.2) << "NS is approximate";
    EXPECT_GT(spent.gemms, 0);
  } else {
    EXPECT_LT(testing::rel_err(D, map->dualize(G)), 1e-12) << map->name() << " ignores msign";
  }
}

// fp32 inputs far from unit scale: G·10^k, k = −8 … 30. Every map is scale-
// invariant and every norm homogeneous, so D(G·10^k) = D(G) and ‖G·10^k‖† =
// 10^k‖G‖† wherever that is representable (it is, for these sizes). Raw
// squares (Frobenius, row, column norms) overflowed at 1e30, and Schatten's
// σ^(1/(q−1)) left fp32's range near q = 1 (0 at 1e-4, NaN at 1e3).
void expect_scale_free(const NormPtr& map) {
  at::manual_seed(23);
  const auto G = at::randn({12, 20});
  const auto D1 = map->dualize(G);
  const double dual1 = v(map->dual_norm(G));
  for (int k = -8; k <= 30; ++k) {
    const double s = std::pow(10.0, k);
    const auto Gk = G * s;
    const auto D = map->dualize(Gk);
    ASSERT_TRUE(at::isfinite(D).all().item<bool>()) << map->name() << " k " << k;
    EXPECT_LT(testing::rel_err(D, D1), 1e-4) << map->name() << " k " << k;
    EXPECT_NEAR(v(map->norm(D)), 1.0, 1e-4) << map->name() << " k " << k;
    const double dual = v(map->dual_norm(Gk));
    EXPECT_NEAR(dual / s, dual1, 1e-4 * dual1) << map->name() << " k " << k;
    EXPECT_NEAR(frobenius_inner(Gk.to(at::kDouble), D.to(at::kDouble)) / s, dual1, 1e-4 * dual1)
        << map->name() << " k " << k;
  }
}

TEST_P(EveryNorm, IdentitiesHoldInFp32FromTinyToHugeScales) {
  expect_scale_free(all_norms()[GetParam()]);
}

TEST(DualityMaps, SchattenNearQ1IsScaleFreeInFp32) {
  for (const char* q : {"1.05", "1.1", "1.5", "20"})
    expect_scale_free(make_norm(std::string("schatten-") + q));
}

INSTANTIATE_TEST_SUITE_P(All, EveryNorm, ::testing::Range<size_t>(0, all_norms().size()),
                         [](const ::testing::TestParamInfo<size_t>& i) {
                           std::string n = all_norms()[i.param]->name();
                           for (auto& c : n)
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(DualityMaps, KnownValues) {
  const auto G = at::tensor({3.0, 0.0, 0.0, -4.0}, at::kDouble).reshape({2, 2});
  EXPECT_DOUBLE_EQ(v(steepest::frobenius_norm(G)), 5.0);
  EXPECT_DOUBLE_EQ(v(l1_norm(G)), 7.0);
  EXPECT_DOUBLE_EQ(v(linf_norm(G)), 4.0);
  EXPECT_NEAR(v(steepest::nuclear_norm(G)), 7.0, 1e-12);
  EXPECT_NEAR(v(steepest::spectral_norm(G)), 4.0, 1e-12);
  EXPECT_DOUBLE_EQ(v(row_l2_dual_norm(G)), 7.0);
  // Schatten-2 is Frobenius.
  EXPECT_NEAR(v(schatten_norm(G, 2.0)), 5.0, 1e-12);
  EXPECT_LT(testing::rel_err(dualize_schatten(G, 2.0), dualize_frobenius(G)), 1e-12);
  // RMS→RMS of a 2×8 matrix scales by √(n_in/n_out) = 2.
  const auto W = at::randn({2, 8}, at::kDouble);
  EXPECT_NEAR(v(rms_rms_norm(W)), 2.0 * v(steepest::spectral_norm(W)), 1e-12);
  // Row RMS (modula's Embed): max row norm over √n_in; rows of (3, -4, 0, 0) → 5/2.
  const auto E = at::tensor({3.0, -4.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0}, at::kDouble).reshape({2, 4});
  EXPECT_DOUBLE_EQ(v(row_rms_norm(E)), 2.5);
  EXPECT_NEAR(v(dualize_row_rms(E).norm(2, {1}).max()), 2.0, 1e-12);
}

// HTMuon's q = 9 (p = 1/8) on a rank-2 matrix: roundoff singular values must not
// become update directions (σ^(1/8) of 1e-16 is 0.01, of 1e-7 is 0.13).
TEST(DualityMaps, SchattenDualizeKeepsTheRankOfG) {
  at::manual_seed(3);
  for (auto dtype : {at::kDouble, at::kFloat}) {
    const auto G = at::matmul(at::randn({16, 2}, dtype), at::randn({2, 12}, dtype));
    const auto D = dualize_schatten(G, 9.0);
    const auto S = at::linalg_svdvals(D.to(at::kDouble));
    EXPECT_LT(v(S[2]), 1e-5 * v(S[0])) << "dtype " << dtype;
    // Still the duality map: unit Schatten-9 norm, ⟨G, D⟩ = the dual norm.
    EXPECT_NEAR(v(schatten_norm(D.to(at::kDouble), 9.0)), 1.0, 1e-5);
    const double dual = v(schatten_dual_norm(G.to(at::kDouble), 9.0));
    EXPECT_NEAR(frobenius_inner(G.to(at::kDouble), D.to(at::kDouble)), dual, 1e-5 * dual);
  }
}

TEST(DualityMaps, BadInputIsNamed) {
  EXPECT_THROW(dualize_row_l2(at::randn({3})), c10::Error);
  EXPECT_THROW(dualize_schatten(at::randn({3, 3}), 1.0), c10::Error);
  EXPECT_THROW(make_norm("nope"), std::invalid_argument);
  EXPECT_THROW(make_norm("schatten-x"), std::invalid_argument);
  EXPECT_THROW(make_norm("schatten-1"), c10::Error);
  EXPECT_EQ(make_norm("schatten-3")->name(), "schatten-3");
  EXPECT_EQ(make_norm("schatten")->name(), "schatten-9");
  try {
    make_norm("nope");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("row-l2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace steepest
