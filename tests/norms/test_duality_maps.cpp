#include <gtest/gtest.h>

#include "steepest/norms/duality_maps.h"
#include "test_util.h"

namespace steepest {
namespace {

double v(const at::Tensor& t) {
  return t.item<double>();
}
double frobenius_inner(const at::Tensor& a, const at::Tensor& b) {
  return v((a * b).sum());
}

class EveryDualityMap : public ::testing::TestWithParam<size_t> {};

// ‖D(G)‖ = 1, ⟨G, D(G)⟩ = ‖G‖†, and ⟨G, T⟩ ≤ ‖G‖† for 100 random unit-norm T.
TEST_P(EveryDualityMap, SatisfiesTheDualityIdentities) {
  const auto map = duality_maps()[GetParam()];
  at::manual_seed(13);
  for (auto [m, n] : {std::pair<int64_t, int64_t>{12, 20}, {20, 12}, {9, 9}}) {
    const auto G = at::randn({m, n}, at::kDouble);
    const auto D = map.dualize(G);
    ASSERT_EQ(D.sizes(), G.sizes());
    const double dual = v(map.dual_norm(G));
    EXPECT_NEAR(v(map.norm(D)), 1.0, 1e-9) << map.name;
    EXPECT_NEAR(frobenius_inner(G, D), dual, 1e-9 * std::max(1.0, dual)) << map.name;
    for (int t = 0; t < 100; ++t) {
      auto T = at::randn({m, n}, at::kDouble);
      if (t % 2) T = T.sign();  // corners of the ℓ∞ ball too
      T = T / map.norm(T);
      EXPECT_LE(frobenius_inner(G, T), dual * (1 + 1e-12)) << map.name << " trial " << t;
    }
    // A small perturbation of D (renormalized) never does better than D.
    const auto P = D + 1e-3 * at::randn({m, n}, at::kDouble);
    EXPECT_LE(frobenius_inner(G, P / map.norm(P)), dual * (1 + 1e-12)) << map.name;
  }
}

TEST_P(EveryDualityMap, ZeroDualizesToZero) {
  const auto map = duality_maps()[GetParam()];
  const auto D = map.dualize(at::zeros({4, 6}, at::kDouble));
  EXPECT_TRUE(at::isfinite(D).all().item<bool>()) << map.name;
  EXPECT_EQ(v(D.abs().max()), 0.0) << map.name;
}

INSTANTIATE_TEST_SUITE_P(All, EveryDualityMap, ::testing::Range<size_t>(0, 7),
                         [](const ::testing::TestParamInfo<size_t>& i) {
                           std::string n = duality_maps()[i.param].name;
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
  EXPECT_THROW(duality_map("nope"), std::invalid_argument);
  EXPECT_EQ(duality_map("schatten", 3.0).name, "schatten-3");
}

}  // namespace
}  // namespace steepest
