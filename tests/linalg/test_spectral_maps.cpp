#include <gtest/gtest.h>

#include <cmath>

#include "steepest/linalg/newton_schulz.h"
#include "steepest/linalg/polar_svd.h"
#include "steepest/linalg/spectral_maps.h"
#include "test_util.h"

namespace steepest {
namespace {

using testing::known_svd;
using testing::KnownSvd;
using testing::rel_err;

// U·diag(f)·Vᵀ of a known SVD.
at::Tensor with_spectrum(const KnownSvd& k, const at::Tensor& f) {
  return at::matmul(k.U * f.to(at::kDouble).unsqueeze(0), k.V.t());
}

// f rescaled to ‖f‖₂ = √r (the Frobenius norm of U Vᵀ).
at::Tensor at_msign_norm(const at::Tensor& f) {
  return f * std::sqrt(static_cast<double>(f.numel())) / f.norm();
}

at::Tensor sigmas() {
  return at::tensor({4.0, 2.5, 1.0, 0.6, 0.3, 0.2, 0.12, 0.08}, at::kDouble);
}

TEST(SpectralPowerSvd, SingularValuesFollowNormalizedPowerAndVectorsAreKept) {
  at::manual_seed(1);
  const auto k = known_svd(24, 8, sigmas(), at::kDouble);
  for (double p : {0.0, 0.125, 0.5, 1.0, -0.25}) {
    const auto expected = with_spectrum(k, at_msign_norm((sigmas() / 4.0).pow(p)));
    EXPECT_LT(rel_err(spectral_power_svd(k.X, p), expected), 1e-10) << "p=" << p;
    // Wide input: the transpose.
    EXPECT_LT(rel_err(spectral_power_svd(k.X.t(), p), expected.t()), 1e-10) << "p=" << p;
  }
  EXPECT_LT(rel_err(spectral_power_svd(k.X, 0.0), polar_svd(k.X)), 1e-10);
}

TEST(SpectralPowerSvd, NegativePowersAreFlooredAndNullDirectionsStayZero) {
  at::manual_seed(2);
  // σ/σ_max = 1e-5 < kNegativePowerFloor: evaluated at the floor.
  const auto s = at::tensor({1.0, 0.5, 1e-5}, at::kDouble);
  const auto k = known_svd(12, 6, s, at::kDouble);
  const auto f =
      at::tensor({1.0, std::pow(0.5, -0.5), std::pow(kNegativePowerFloor, -0.5)}, at::kDouble);
  EXPECT_LT(rel_err(spectral_power_svd(k.X, -0.5), with_spectrum(k, at_msign_norm(f))), 1e-9);
  // Rank 3 of 6: the output has rank 3 too, and a zero matrix gives zero.
  const auto S = at::linalg_svdvals(spectral_power_svd(k.X, -0.5));
  EXPECT_LT(S.slice(0, 3).abs().max().item<double>(), 1e-9);
  EXPECT_EQ(spectral_power_svd(at::zeros({5, 3}), 0.5).abs().max().item<double>(), 0.0);
}

TEST(SqrtNewtonSchulz, ConvergesOnPositiveSpectrum) {
  at::manual_seed(3);
  const auto Q = testing::random_orthonormal(10, 10);
  const auto lam = at::linspace(0.05, 1.0, 10, at::kDouble);
  const auto A = at::matmul(Q * lam.unsqueeze(0), Q.t());
  const auto expected = at::matmul(Q * lam.sqrt().unsqueeze(0), Q.t());
  Cost c;
  EXPECT_LT(rel_err(sqrt_newton_schulz(A, 12, &c), expected), 1e-8);
  EXPECT_EQ(c.gemms, 36);
  // Batched: each matrix on its own.
  const auto B = at::stack({A, A * 0.25});
  const auto R = sqrt_newton_schulz(B, 12);
  EXPECT_LT(rel_err(R[1], expected * 0.5), 1e-8);
}

// The SVD-free HTMuon form against the exact one: σ/σ_max ∈ [0.08, 1] here.
TEST(SpectralPowerNs, AgreesWithSvdFormWithinStatedTolerance) {
  at::manual_seed(4);
  const auto k = known_svd(40, 8, sigmas(), at::kDouble);
  const auto exact = spectral_power_svd(k.X, 0.125);
  // With an exact msign the only error is the nested square roots.
  const auto svd = Orthogonalizer::from_name("svd");
  Cost c;
  EXPECT_LT(rel_err(spectral_power_ns(k.X, 0.125, svd, 12, 6, &c), exact), 0.01);
  EXPECT_LT(rel_err(spectral_power_ns(k.X.t(), 0.125, svd), exact.t()), 0.01);
  // 1/16 = 0.0001₂: four nested roots, one product with msign, one Gram.
  EXPECT_EQ(c.gemms, 1 + 4 * 36 + 1 + 1);  // Gram + roots + U Vᵀ (svd) + final product
  // The Newton–Schulz msign adds its own band: keller's σ ∈ [0.68, 1.13].
  const auto keller = Orthogonalizer::from_name("keller");
  EXPECT_LT(rel_err(spectral_power_ns(k.X.to(at::kFloat), 0.125, keller), exact), 0.2);
  const auto polar = Orthogonalizer::from_name("convergent");
  EXPECT_LT(rel_err(spectral_power_ns(k.X, 0.125, polar), exact), 0.02);
  // Predicted cost = spent cost.
  for (const auto& o : {svd, keller}) {
    Cost spent;
    spectral_power_ns(k.X, 0.125, o, 10, 6, &spent);
    const auto predicted = spectral_power_ns_cost(40, 8, 0.125, o, 10, 6);
    EXPECT_EQ(spent.gemms, predicted.gemms);
    EXPECT_DOUBLE_EQ(spent.flops, predicted.flops);
  }
  EXPECT_THROW(spectral_power_ns(k.X, 1.5, svd), c10::Error);
  EXPECT_THROW(spectral_power_ns(k.X, -0.1, svd), c10::Error);
}

TEST(ClipSpectrum, SvdFormClipsAtTauAndIsTheNearestPointOfTheBall) {
  at::manual_seed(5);
  const auto k = known_svd(16, 8, sigmas(), at::kDouble);
  const auto clipped = clip_spectrum_svd(k.X, 1.0);
  EXPECT_LT(rel_err(clipped, with_spectrum(k, sigmas().clamp_max(1.0))), 1e-10);
  // Frobenius projection onto ‖X‖₂ ≤ 1: no point of the ball is closer.
  const double d = (clipped - k.X).norm().item<double>();
  for (int t = 0; t < 20; ++t) {
    auto T = at::randn({16, 8}, at::kDouble);
    T = T / at::linalg_matrix_norm(T, 2);  // ‖T‖₂ = 1
    EXPECT_LE(d, (T - k.X).norm().item<double>() + 1e-12);
  }
}

TEST(ClipSpectrum, MsignFormAgreesWithSvdFormAwayFromTau) {
  at::manual_seed(6);
  const auto k = known_svd(24, 8, sigmas(), at::kDouble);
  const auto exact = clip_spectrum_svd(k.X, 1.5);
  Cost c;
  EXPECT_LT(rel_err(clip_spectrum_msign(k.X, 1.5, Orthogonalizer::from_name("svd"), &c), exact),
            1e-10);
  EXPECT_LT(rel_err(clip_spectrum_msign(k.X.t(), 1.5, Orthogonalizer::from_name("svd")), exact.t()),
            1e-10);
  // With Newton–Schulz msign: the accuracy of the msign (convergent quintic ×12).
  const auto ns = Orthogonalizer::from_name("convergent");
  EXPECT_LT(rel_err(clip_spectrum_msign(k.X, 1.5, ns), exact), 0.02);
  Cost spent;
  clip_spectrum_msign(k.X, 1.5, ns, &spent);
  const auto predicted = clip_spectrum_msign_cost(24, 8, ns);
  EXPECT_EQ(spent.gemms, predicted.gemms);
  EXPECT_DOUBLE_EQ(spent.flops, predicted.flops);
  // Ill-conditioned near τ: σ = τ(1 ± 1e-3) leaves msign(S) unresolved, so the
  // error grows by orders of magnitude (the caveat in docs/OPTIMIZERS.md).
  const auto near =
      known_svd(24, 4, at::tensor({1.001, 0.999, 0.5, 2.0}, at::kDouble), at::kDouble);
  EXPECT_GT(rel_err(clip_spectrum_msign(near.X, 1.0, ns), clip_spectrum_svd(near.X, 1.0)),
            10 * rel_err(clip_spectrum_msign(k.X, 1.5, ns), exact));
}

TEST(SpectralNormPower, MatchesLargestSingularValue) {
  at::manual_seed(7);
  const auto k = known_svd(30, 10, at::tensor({3.0, 1.5, 1.0, 0.5}, at::kDouble), at::kDouble);
  Cost c;
  EXPECT_NEAR(spectral_norm_power(k.X, 5, &c).item<double>(), 3.0, 3.0 * 1e-3);
  EXPECT_EQ(c.gemms, 2 * 5 + 1);
  const auto batch = spectral_norm_power(at::stack({k.X, 2 * k.X}), 5);
  EXPECT_NEAR(batch[1].item<double>(), 6.0, 6.0 * 1e-3);
  EXPECT_EQ(spectral_norm_power(at::zeros({4, 3}), 5).item<double>(), 0.0);
}

// A structured start fails on structured inputs: Mᵀ·1 = 0 for column-centred M,
// M·1 = 0 for row-centred M (the record's ones start). Then ‖M‖₂ came out ≈ 0 and
// Contra-Muon's −(κ/2)·M/‖M‖₂ term turned the step into gradient ascent.
TEST(SpectralNormPower, CentredMatricesAndContraStaysADescentDirection) {
  at::manual_seed(17);
  const auto X = at::randn({48, 16}, at::kDouble);
  for (const auto& M : {X - X.mean(0, true), X - X.mean(1, true)}) {
    const double exact = at::linalg_svdvals(M)[0].item<double>();
    EXPECT_NEAR(spectral_norm_power(M, 5).item<double>(), exact, 0.05 * exact);
    const auto O = contra_msign(M, 0.4, Orthogonalizer::from_name("svd"));
    EXPECT_GT((O * M).sum().item<double>(), 0.0);  // aligned with M: a descent step along −O
    const auto ref = shaped_spectrum_svd(M, [](const at::Tensor& rel) { return 1.0 - 0.2 * rel; });
    EXPECT_LT(rel_err(O, ref), 0.02);
  }
  // Deterministic: the start does not use (or move) the global RNG.
  const auto a = spectral_norm_power(X, 2);
  at::manual_seed(999);
  EXPECT_EQ(a.item<double>(), spectral_norm_power(X, 2).item<double>());
}

// With an accurate msign the top direction gets the smallest step; keller's own
// band (±0.2) is wider than the contraction, so with it the order is not kept.
TEST(ContraMsign, TopDirectionIsSuppressedMostWithAnAccurateMsign) {
  at::manual_seed(18);
  const auto k = known_svd(64, 8, sigmas(), at::kDouble);
  const auto O = contra_msign(k.X, 0.4, Orthogonalizer::from_name("convergent"));
  const auto f = at::diagonal(at::matmul(at::matmul(k.U.t(), O), k.V));  // spectrum in σ's order
  for (int64_t i = 0; i + 1 < f.size(0); ++i)
    EXPECT_LT(f[i].item<double>(), f[i + 1].item<double>()) << i;
}

TEST(ContraMsign, SpectrumIsOneMinusHalfKappaRelativeSigma) {
  at::manual_seed(8);
  const auto k = known_svd(32, 8, sigmas(), at::kDouble);
  const auto f = at_msign_norm(1.0 - 0.2 * sigmas() / 4.0);
  Cost c;
  const auto O = contra_msign(k.X, 0.4, Orthogonalizer::from_name("svd"), 20, &c);
  EXPECT_LT(rel_err(O, with_spectrum(k, f)), 1e-6);
  const auto predicted = contra_msign_cost(32, 8, Orthogonalizer::from_name("svd"), 20);
  EXPECT_EQ(c.gemms, predicted.gemms);
  EXPECT_DOUBLE_EQ(c.flops, predicted.flops);
  // Rescaled to ‖msign(M)‖_F even with an inexact msign.
  const auto Ok = contra_msign(k.X, 0.4, Orthogonalizer::from_name("keller"));
  EXPECT_NEAR(Ok.norm().item<double>(),
              Orthogonalizer::from_name("keller")(k.X).norm().item<double>(), 1e-9);
}

TEST(Kaon, SpectrumIsTheIteratedScalarMapAndStaysInUnitInterval) {
  at::manual_seed(9);
  const auto k = known_svd(20, 8, sigmas(), at::kDouble);
  const auto sched = kaon_schedule(5);
  const double fro = sigmas().norm().item<double>();
  std::vector<double> f;
  for (int i = 0; i < 8; ++i) {
    const double s = sched.apply_scalar(sigmas()[i].item<double>() / (fro + sched.eps)) / 1.175;
    EXPECT_GE(s, 0.0);
    EXPECT_LE(s, 1.0);
    f.push_back(s);
  }
  Cost c;
  EXPECT_LT(rel_err(kaon(k.X, 5, &c), with_spectrum(k, at::tensor(f, at::kDouble))), 1e-8);
  EXPECT_EQ(c.gemms, 15);
  // The map's peak: 4.1·σ(1 − σ²)² at σ = 1/√5 is just under 1.175.
  const double peak = 4.1 / std::sqrt(5.0) * std::pow(1.0 - 0.2, 2);
  EXPECT_LT(peak, 1.175);
  EXPECT_GT(peak, 1.17);
}

TEST(DynMuonExponent, SigmoidScheduleValues) {
  // p(0) = p_min + (p_max − p_min)/(1 + e^{−τ/w}) = −0.25 + 1.25/(1 + e^{−1}).
  EXPECT_NEAR(dynmuon_exponent(0, 1000), -0.25 + 1.25 / (1.0 + std::exp(-1.0)), 1e-12);
  EXPECT_NEAR(dynmuon_exponent(40, 1000), 0.375, 1e-12);  // t/T = τ: the midpoint
  EXPECT_NEAR(dynmuon_exponent(1000, 1000), -0.25, 1e-9);
  EXPECT_NEAR(dynmuon_exponent(80, 1000), -0.25 + 1.25 / (1.0 + std::exp(1.0)), 1e-12);
  EXPECT_GT(dynmuon_exponent(10, 1000), dynmuon_exponent(50, 1000));  // decreasing
  EXPECT_THROW(dynmuon_exponent(1, 0), c10::Error);
}

}  // namespace
}  // namespace steepest
