// Each Muon-family rule's defining property on matrices with a known SVD
// (X = U·diag(σ)·Vᵀ from random orthonormal U, V), its cost, and its state.
#include <gtest/gtest.h>

#include <cmath>

#include "steepest/linalg/polar_svd.h"
#include "steepest/linalg/spectral_maps.h"
#include "steepest/optim/muon.h"
#include "steepest/optim/update_rule.h"
#include "test_util.h"

namespace steepest {
namespace {

using testing::known_svd;
using testing::KnownSvd;
using testing::rel_err;

at::Tensor sigmas() {
  return at::tensor({3.0, 2.0, 1.2, 0.8, 0.5, 0.3, 0.2, 0.1}, at::kDouble);
}

at::Tensor with_spectrum(const KnownSvd& k, const at::Tensor& f) {
  return at::matmul(k.U * f.to(at::kDouble).unsqueeze(0), k.V.t());
}

at::Tensor at_msign_norm(const at::Tensor& f) {
  return f * std::sqrt(static_cast<double>(f.numel())) / f.norm();
}

// Runs `rule` on one matrix at `step`, with `state` kept across calls; checks
// that the predicted cost is what was spent.
struct RuleRunner {
  explicit RuleRunner(const UpdateRule& r) : rule(r) {}
  const UpdateRule& rule;
  Orthogonalizer ortho = Orthogonalizer::from_name("svd");
  double momentum = 0.9;
  TensorState state;
  at::Tensor run(const at::Tensor& M, int64_t step = 1) {
    RuleBatch b;
    b.M = M.unsqueeze(0);
    b.states = {&state};
    b.step = step;
    b.ortho = &ortho;
    b.momentum = momentum;
    Cost spent;
    const auto O = rule.direction(b, &spent);
    const Cost predicted = rule.cost(M.size(0), M.size(1), step, ortho);
    EXPECT_EQ(spent.gemms, predicted.gemms) << rule.describe();
    EXPECT_DOUBLE_EQ(spent.flops, predicted.flops) << rule.describe();
    EXPECT_DOUBLE_EQ(spent.other_flops, predicted.other_flops) << rule.describe();
    EXPECT_EQ(O.sizes(), b.M.sizes());
    return O[0];
  }
};

TEST(DualizeRule, SpectralIsThePolarFactor) {
  at::manual_seed(1);
  const auto k = known_svd(24, 8, sigmas(), at::kDouble);
  DualizeRule rule(make_norm("spectral"), "muon");
  RuleRunner r(rule);
  EXPECT_LT(rel_err(r.run(k.X), with_spectrum(k, at::ones({8}))), 1e-10);
}

TEST(HtMuonRule, SvdNsAndIntervalForms) {
  at::manual_seed(2);
  const auto k = known_svd(32, 8, sigmas(), at::kDouble);
  const auto expected = with_spectrum(k, at_msign_norm((sigmas() / 3.0).pow(0.125)));
  HtMuonRule svd(0.125, "svd", 10, 12, true);
  RuleRunner rs(svd);
  EXPECT_LT(rel_err(rs.run(k.X), expected), 1e-10);
  // SVD-free: within 1% with an exact msign (square-root error only).
  HtMuonRule ns(0.125, "ns", 10, 12, true);
  RuleRunner rn(ns);
  EXPECT_LT(rel_err(rn.run(k.X), expected), 0.01);
  // Interval k = 3: exact on steps 1, 4, 7; msign (Muon) between.
  HtMuonRule interval(0.125, "interval", 3, 12, true);
  RuleRunner ri(interval);
  const auto msign = with_spectrum(k, at::ones({8}));
  EXPECT_LT(rel_err(ri.run(k.X, 1), expected), 1e-10);
  EXPECT_LT(rel_err(ri.run(k.X, 2), msign), 1e-10);
  EXPECT_LT(rel_err(ri.run(k.X, 3), msign), 1e-10);
  EXPECT_LT(rel_err(ri.run(k.X, 4), expected), 1e-10);
  EXPECT_THROW(HtMuonRule(0.125, "nope", 10, 12, true), c10::Error);
  EXPECT_THROW(HtMuonRule(0.0, "svd", 10, 12, true), c10::Error);
}

// normalize=false is the reference code's raw U Σ^p Vᵀ: no rescale, so the
// update's size follows ‖M‖^p (×1000 in M → ×1000^p in O).
TEST(HtMuonRule, ReferenceRawMagnitude) {
  at::manual_seed(2);
  const auto k = known_svd(32, 8, sigmas(), at::kDouble);
  const auto raw = with_spectrum(k, sigmas().pow(0.125));
  HtMuonRule svd(0.125, "svd", 10, 12, /*normalize=*/false);
  RuleRunner rs(svd);
  EXPECT_LT(rel_err(rs.run(k.X), raw), 1e-10);
  EXPECT_LT(rel_err(rs.run(k.X * 1000.0), raw * std::pow(1000.0, 0.125)), 1e-10);
  HtMuonRule ns(0.125, "ns", 10, 12, /*normalize=*/false);
  RuleRunner rn(ns);
  EXPECT_LT(rel_err(rn.run(k.X), raw), 0.01);
  // Interval mode alternates with msign, whose scale a raw step would not match.
  EXPECT_THROW(HtMuonRule(0.125, "interval", 10, 12, false), c10::Error);
  EXPECT_NE(svd.describe().find("normalize=false"), std::string::npos);
}

TEST(DynMuonRule, ExponentFollowsTheScheduleAtEachStep) {
  at::manual_seed(3);
  const auto k = known_svd(16, 8, sigmas(), at::kDouble);
  DynMuonRule rule(1000, 1.0, -0.25, 0.04, 0.04, "svd");
  RuleRunner r(rule);
  for (int64_t t : {1, 40, 100, 1000}) {
    const double p = dynmuon_exponent(t, 1000);
    EXPECT_DOUBLE_EQ(rule.exponent(t), p);
    const auto f = at_msign_norm((sigmas() / 3.0).pow(p));
    EXPECT_LT(rel_err(r.run(k.X, t), with_spectrum(k, f)), 1e-10) << "t=" << t;
  }
  EXPECT_NEAR(rule.exponent(40), 0.375, 1e-12);
  EXPECT_LT(rule.exponent(1000), -0.24);
}

// The reference modes: "taylor" (modded-nanogpt track 3) is C·msign(Xn)·‖M‖_F^p with
// C = I + δE + ½δ(δ−1)E², E = XnXnᵀ − I; "staged" (fzwark/DynMuon) is the raw
// momentum for p ≥ 0.25, msign for 0 ≤ p < 0.25 and the Taylor form below 0.
TEST(DynMuonRule, ReferenceModes) {
  at::manual_seed(3);
  const auto k = known_svd(16, 8, sigmas(), at::kDouble);
  // The Taylor form's spectrum: σ ↦ c(σ̂²)·‖M‖_F^p with σ̂ = σ/‖σ‖₂.
  auto taylor = [&](double p) {
    const double nrm = sigmas().norm().item<double>();
    const auto e = (sigmas() / nrm).square() - 1.0;
    const double d = p / 2.0;
    return with_spectrum(k, (1.0 + d * e + 0.5 * d * (d - 1.0) * e.square()) * std::pow(nrm, p));
  };
  const auto msign = with_spectrum(k, at::ones({8}, at::kDouble));
  DynMuonRule tay(1000, 1.0, -0.25, 0.04, 0.04, "taylor");
  RuleRunner rt(tay);
  DynMuonRule staged(1000, 1.0, -0.25, 0.04, 0.04, "staged");
  RuleRunner rst(staged);
  for (int64_t t : {1, 55, 60, 1000}) {
    const double p = tay.exponent(t);
    EXPECT_LT(rel_err(rt.run(k.X, t), taylor(p)), 1e-9) << "t=" << t;
    const auto want = p >= 0.25 ? k.X : (p >= 0 ? msign : taylor(p));
    EXPECT_LT(rel_err(rst.run(k.X, t), want), 1e-9) << "t=" << t << " p=" << p;
  }
  // The second-order form expands around σ̂ = 1, far from a Frobenius-normalized
  // spectrum: 38% from U Σ^p Vᵀ at p = −0.25 here (the caveat in docs/OPTIMIZERS.md),
  // and exact at p = 0.
  const double p = tay.exponent(1000);
  EXPECT_NEAR(rel_err(taylor(p), with_spectrum(k, sigmas().pow(p))), 0.38, 0.02);
  EXPECT_LT(rel_err(taylor(0.0), msign), 1e-12);
  // A zero momentum gives a zero step, also where ‖M‖^p has p < 0.
  const auto zero = rt.run(at::zeros_like(k.X), 1000);
  EXPECT_TRUE(at::isfinite(zero).all().item<bool>());
  EXPECT_EQ(zero.abs().max().item<double>(), 0.0);
  EXPECT_THROW(DynMuonRule(1000, 1.0, -0.25, 0.04, 0.04, "nope"), c10::Error);
}

TEST(MuConRule, ClipsTheRmsNormalizedSpectrumAtTau) {
  at::manual_seed(4);
  const auto k = known_svd(24, 8, sigmas(), at::kDouble);
  // σ̂ = σ·√r/‖σ‖₂, then min(σ̂, τ).
  const auto sh = sigmas() * std::sqrt(8.0) / sigmas().norm();
  const auto expected = with_spectrum(k, sh.clamp_max(1.0));
  MuConRule svd(1.0, "svd");
  RuleRunner rs(svd);
  EXPECT_LT(rel_err(rs.run(k.X), expected), 1e-10);
  MuConRule msign(1.0, "msign");
  RuleRunner rm(msign);
  EXPECT_LT(rel_err(rm.run(k.X), expected), 1e-9);  // exact msign: the identity holds
  rm.ortho = Orthogonalizer::from_name("convergent");
  EXPECT_LT(rel_err(rm.run(k.X), expected), 0.05);
  // Scale-invariant in M: the normalization comes first.
  EXPECT_LT(rel_err(rs.run(k.X * 1e-3), expected), 1e-10);
}

TEST(ContraMuonRule, SvdAndNsFormsAgree) {
  at::manual_seed(5);
  const auto k = known_svd(24, 8, sigmas(), at::kDouble);
  const auto expected = with_spectrum(k, at_msign_norm(1.0 - 0.2 * sigmas() / 3.0));
  ContraMuonRule svd(0.4, 5, "svd", 0.0, 0.0, "contra-muon");
  RuleRunner rs(svd);
  EXPECT_LT(rel_err(rs.run(k.X), expected), 1e-10);
  ContraMuonRule ns(0.4, 5, "ns", 0.0, 0.0, "contra-muon");
  RuleRunner rn(ns);
  // 5 power iterations with σ₂/σ₁ = 2/3: ‖M‖₂ within ~2%, which moves O by < 0.5%.
  EXPECT_LT(rel_err(rn.run(k.X), expected), 0.005);
}

// The record's recipe on top of the contraction: per-neuron variance
// normalization on the longer side, Frobenius norm restored, then the
// update-to-weight floor ‖scale·U‖_F ≥ floor·‖W‖_F.
TEST(ContraMuonRule, RecordRecipeNormalizesNeuronsAndFloorsTheStep) {
  at::manual_seed(5);
  for (auto shape : {std::pair<int64_t, int64_t>{24, 8}, {8, 24}}) {
    const auto k = known_svd(shape.first, shape.second, sigmas(), at::kDouble);
    ContraMuonRule plain(0.4, 5, "svd", 0.0, 0.0, "contra-muon");
    ContraMuonRule record(0.4, 5, "svd", 0.95, 0.35, "contra-muon-record");
    EXPECT_TRUE(record.needs_weights());
    EXPECT_FALSE(plain.needs_weights());
    TensorState st_plain, st;
    const Orthogonalizer ortho = Orthogonalizer::from_name("svd");
    auto batch = [&](TensorState* s, const at::Tensor& W, double scale) {
      RuleBatch b;
      b.M = k.X.unsqueeze(0);
      b.states = {s};
      b.ortho = &ortho;
      b.scale = scale;
      b.W = W.unsqueeze(0);
      return b;
    };
    const auto small_w = at::randn({shape.first, shape.second}, at::kDouble) * 1e-3;
    const auto U = plain.direction(batch(&st_plain, small_w, 1.0), nullptr)[0];
    const auto O = record.direction(batch(&st, small_w, 1.0), nullptr)[0];
    // After step 1 (v = 0.05·mean(U²)) every neuron of the longer side has the same norm.
    const bool rows = shape.first >= shape.second;
    const auto norms = at::linalg_vector_norm(O, 2, {rows ? 1 : 0});
    EXPECT_LT((norms.max() / norms.min()).item<double>() - 1.0, 1e-9);
    EXPECT_EQ(st.buffers.at("neuron_second_moment").numel(), std::max(shape.first, shape.second));
    EXPECT_NEAR(O.norm().item<double>(), U.norm().item<double>(), 1e-9);  // norm restored
    // Floor: with ‖W‖_F large the step is lifted to 0.35·‖W‖_F / scale; small W: no change.
    TensorState st2;
    const auto big_w = at::randn({shape.first, shape.second}, at::kDouble) * 10.0;
    const auto F = record.direction(batch(&st2, big_w, 2.0), nullptr)[0];
    EXPECT_NEAR(2.0 * F.norm().item<double>(), 0.35 * big_w.norm().item<double>(), 1e-9);
    EXPECT_LT(rel_err(F / F.norm(), O / O.norm()), 1e-9);  // only the size changes
  }
  EXPECT_THROW(ContraMuonRule(0.4, 5, "ns", 1.0, 0.0, "contra-muon"), c10::Error);
  EXPECT_THROW(ContraMuonRule(0.4, 5, "ns", 0.0, -1.0, "contra-muon"), c10::Error);
}

TEST(FreonRule, SpectrumPowerOneMinusTwoC) {
  at::manual_seed(6);
  const auto k = known_svd(16, 8, sigmas(), at::kDouble);
  for (double c : {0.0, 0.5, 0.75, 1.0}) {
    FreonRule rule(c);
    RuleRunner r(rule);
    const auto f = at_msign_norm((sigmas() / 3.0).pow(1.0 - 2.0 * c));
    EXPECT_LT(rel_err(r.run(k.X), with_spectrum(k, f)), 1e-10) << "c=" << c;
  }
  // c = ½ is Muon.
  FreonRule half(0.5);
  RuleRunner r(half);
  EXPECT_LT(rel_err(r.run(k.X), polar_svd(k.X)), 1e-10);
}

TEST(KaonRule, KeepsSingularVectorsScramblesValues) {
  at::manual_seed(7);
  const auto k = known_svd(16, 8, sigmas(), at::kDouble);
  KaonRule rule(5);
  RuleRunner r(rule);
  const auto O = r.run(k.X);
  // Uᵀ O V is diagonal: the vectors are kept.
  const auto D = at::matmul(at::matmul(k.U.t(), O), k.V);
  EXPECT_LT((D - at::diag(at::diagonal(D))).abs().max().item<double>(), 1e-8);
  const auto f = at::diagonal(D);
  EXPECT_GE(f.min().item<double>(), 0.0);
  EXPECT_LE(f.max().item<double>(), 1.0);
  // Not monotone in σ (scrambled): the map is not Muon's flattening.
  EXPECT_GT((f - 1.0).abs().max().item<double>(), 0.1);
}

TEST(DualizeRule, RmnpRowsHaveUnitNormAndKeepTheirDirection) {
  at::manual_seed(8);
  const auto M = at::randn({12, 5}, at::kDouble);
  DualizeRule rule(make_norm("row-l2"), "rmnp");
  RuleRunner r(rule);
  const auto O = r.run(M);
  EXPECT_LT((O.norm(2, {1}) - 1.0).abs().max().item<double>(), 1e-12);
  EXPECT_LT(rel_err(O * M.norm(2, {1}, true), M), 1e-12);
  EXPECT_EQ(rule.cost(12, 5, 1, r.ortho).gemms, 0);
}

TEST(NorMuonRule, EqualizesRowRmsAndKeepsTheFrobeniusNorm) {
  at::manual_seed(9);
  const auto k = known_svd(24, 8, sigmas(), at::kDouble);
  NorMuonRule rule(0.95, 1e-8);
  RuleRunner r(rule);
  const auto O = r.run(k.X);
  const auto P = polar_svd(k.X);
  EXPECT_NEAR(O.norm().item<double>(), P.norm().item<double>(), 1e-9);
  // Step 1: v = (1−β₂)·mean_row(P²), so every row of O has the same norm.
  const auto rows = O.norm(2, {1});
  EXPECT_LT(((rows - rows.mean()).abs().max() / rows.mean()).item<double>(), 1e-6);
  EXPECT_EQ(r.state.buffers.at("row_second_moment").sizes(), at::IntArrayRef({24}));
  const auto v = P.square().mean(1) * 0.05;
  EXPECT_LT(rel_err(r.state.buffers.at("row_second_moment"), v), 1e-10);
  // Second step: the EMA, not a reset.
  r.run(k.X);
  EXPECT_LT(rel_err(r.state.buffers.at("row_second_moment"), v * 0.95 + P.square().mean(1) * 0.05),
            1e-10);
}

TEST(AdaMuonRule, ElementwiseVarianceOnMsignOfSignAtRms) {
  at::manual_seed(10);
  const auto M = at::randn({16, 8}, at::kDouble);
  AdaMuonRule rule(0.95, 1e-30, 0.2);
  RuleRunner r(rule);
  const auto O = r.run(M);
  EXPECT_NEAR(O.square().mean().sqrt().item<double>(), 0.2, 1e-12);
  // Step 1: v = (1−β₂)·P², P = msign(sign(M)), so O = 0.2·sign(P).
  const auto P = polar_svd(M.sign());
  EXPECT_LT(rel_err(O, P.sign() * 0.2), 1e-9);
  EXPECT_DOUBLE_EQ(rule.scale(1.7, 16, 8), 1.0);
  EXPECT_EQ(r.state.buffers.at("second_moment").sizes(), M.sizes());
}

TEST(DionRule, CapturesALowRankMomentumAndFeedsBackTheRest) {
  at::manual_seed(11);
  // Rank-2 gradient, rank-2 Dion: one power iteration spans range(G) exactly.
  const auto k = known_svd(20, 12, at::tensor({2.0, 1.0}, at::kDouble), at::kDouble);
  DionRule rule(2, 0.25);
  RuleRunner r(rule);
  r.momentum = 0.9;
  const auto O = r.run(k.X);
  // Column space of O ⊆ span(U), row space ⊆ span(V).
  const auto PU = at::matmul(k.U, k.U.t()), PV = at::matmul(k.V, k.V.t());
  EXPECT_LT(rel_err(at::matmul(PU, O), O), 1e-10);
  EXPECT_LT(rel_err(at::matmul(O, PV), O), 1e-10);
  // Error feedback: the captured part decays by (1 − μ): B = G − 0.1·G = 0.9·G.
  EXPECT_LT(rel_err(r.state.buffers.at("momentum_buffer"), k.X * 0.9), 1e-10);
  EXPECT_EQ(r.state.buffers.at("dion_q").sizes(), at::IntArrayRef({12, 2}));
  // Q's columns are unit norm; the scale is √(m/n).
  EXPECT_LT((r.state.buffers.at("dion_q").norm(2, {0}) - 1).abs().max().item<double>(), 1e-12);
  EXPECT_DOUBLE_EQ(rule.scale(1.0, 20, 12), std::sqrt(20.0 / 12.0));
  EXPECT_EQ(rule.cost(20, 12, 1, r.ortho).gemms, 4);
  EXPECT_EQ(DionRule(0, 0.25).rank_for(128, 512), 32);
  EXPECT_EQ(DionRule(500, 0.25).rank_for(128, 512), 128);
}

// Through the optimizer: momentum 0, one step is −lr·scale·O.
TEST(MuonWithRule, OneStepIsMinusLrScaleDirection) {
  at::manual_seed(12);
  const auto k = known_svd(32, 8, sigmas(), at::kFloat);
  auto W = at::zeros({32, 8}).set_requires_grad(true);
  W.mutable_grad() = k.X.clone();
  auto rule = std::make_shared<HtMuonRule>(0.125, "svd", 10, 12, true);
  Muon opt({{"w", W}}, MuonOptions(0.1).momentum(0.0).rule(rule));
  EXPECT_EQ(opt.kind(), "htmuon");
  opt.step();
  const auto expected = with_spectrum(k, at_msign_norm((sigmas() / 3.0).pow(0.125))) * (-0.1 * 2.0);
  EXPECT_LT(rel_err(W.detach(), expected), 1e-5);
  EXPECT_EQ(opt.last_step_cost().gemms, opt.predicted_cost(32, 8).gemms);
}

// Spectral descent: μ = 0 steps on G itself and holds no state.
TEST(MuonWithRule, ZeroMomentumKeepsNoBuffer) {
  at::manual_seed(14);
  auto W = at::zeros({8, 8}).set_requires_grad(true);
  const auto G = at::randn({8, 8});
  W.mutable_grad() = G.clone();
  Muon opt({{"w", W}}, MuonOptions(0.5).momentum(0.0).orthogonalizer("svd"));
  opt.step();
  EXPECT_EQ(opt.state_bytes(), 0);
  EXPECT_LT(rel_err(W.detach(), polar_svd(G) * -0.5), 1e-5);
}

TEST(MuonNsStepsMap, PerLayerStepCountsByNamePattern) {
  at::manual_seed(13);
  auto A = at::zeros({16, 8}).set_requires_grad(true);
  auto B = at::zeros({16, 8}).set_requires_grad(true);
  const auto G = at::randn({16, 8});
  A.mutable_grad() = G.clone();
  B.mutable_grad() = G.clone();
  Muon opt({{"blocks.0.attn.q.weight", A}, {"blocks.0.mlp.fc.weight", B}},
           MuonOptions(1.0)
               .orthogonalizer("ns-keller")
               .momentum(0.0)
               .scale(MuonScale::Spectral)
               .ns_steps_map({{"attn", 2}}));
  EXPECT_EQ(opt.ns_steps_for(A, static_cast<const MuonOptions&>(opt.defaults())), 2);
  EXPECT_EQ(opt.ns_steps_for(B, static_cast<const MuonOptions&>(opt.defaults())), -1);
  opt.step();
  // plain NS (ns-keller): 2 steps × 3 GEMMs for q, 5 × 3 for fc.
  EXPECT_EQ(opt.last_step_cost().gemms, 6 + 15);
  const double s = std::sqrt(2.0);  // spectral scale √(m/n)
  EXPECT_LT(rel_err(A.detach(), Orthogonalizer::from_name("keller", 2)(G) * -s), 1e-5);
  EXPECT_LT(rel_err(B.detach(), Orthogonalizer::from_name("keller")(G) * -s), 1e-5);
  EXPECT_THROW(Muon({{"w", at::zeros({4, 4}).set_requires_grad(true)}},
                    MuonOptions().ns_steps_map({{"(", 2}})),
               c10::Error);
  EXPECT_THROW(Muon({{"w", at::zeros({4, 4}).set_requires_grad(true)}},
                    MuonOptions().ns_steps_map({{"w", 0}})),
               c10::Error);
}

}  // namespace
}  // namespace steepest
