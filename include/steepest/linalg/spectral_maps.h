// Shaped spectra: maps M = U Σ Vᵀ ↦ U f(Σ) Vᵀ other than msign, by exact SVD and,
// where the literature gives one, without an SVD. The building blocks of the
// spectral Muon variants (HTMuon, DynMuon, MuCon, Contra-Muon, Freon, Kaon).
//
// Every function takes M of shape (m, n) or a batch (B, m, n), floating, and
// returns the same shape and dtype; each matrix of a batch is handled on its
// own. `cost`, if non-null, receives the GEMMs and FLOPs spent (SVD/QR as
// other_flops). Singular values below LAPACK's rank tolerance count as zero
// and stay zero, so a zero matrix maps to zero.
#pragma once

#include <ATen/ATen.h>

#include <functional>

#include "steepest/linalg/cost.h"
#include "steepest/linalg/orthogonalizer.h"

namespace steepest {

// Smallest σ/σ_max a negative power sees: (σ/σ_max)^p with p < 0 is evaluated
// at max(σ/σ_max, this), so near-null directions cannot blow up the update.
constexpr double kNegativePowerFloor = 1e-3;

// U·g(Σ/σ_max)·Vᵀ rescaled to Frobenius norm √rank (the norm of U Vᵀ), by exact
// SVD: the common form of the spectral variants. g maps the (…, r) relative
// singular values elementwise; null singular values stay 0.
at::Tensor shaped_spectrum_svd(const at::Tensor& M,
                               const std::function<at::Tensor(const at::Tensor&)>& g,
                               Cost* cost = nullptr);

// U·(Σ/σ_max)^p·Vᵀ rescaled to Frobenius norm √rank, the norm of U Vᵀ, so that
// a learning rate tuned for Muon transfers (p = 0 gives exactly U Vᵀ).
// p > 0 keeps part of the spectrum's shape (HTMuon, Schatten-q with p = 1/(q−1));
// p < 0 inverts it (DynMuon late in training, Freon with c > ½).
at::Tensor spectral_power_svd(const at::Tensor& M, double p, Cost* cost = nullptr);

// U·Σ^p·Vᵀ on the numerical rank (null singular values stay 0), by exact SVD;
// with schatten_q > 1 each matrix is divided by ‖Σ^p‖_q. The one Schatten map:
// with p = 1/(q−1) it is the Schatten-q duality map (norms/duality_maps.h), and
// with schatten_q = 0 the raw U Σ^p Vᵀ of HTMuon's reference code. p > 0.
at::Tensor svd_power(const at::Tensor& M, double p, double schatten_q = 0.0, Cost* cost = nullptr);

// The SVD-free HTMuon form, for 0 < p ≤ 1 (HTMuon's reference code, htmuon_ns):
//   msign(M)·(MᵀM)^{p/2}   (tall or square; the wide case uses (MMᵀ)^{p/2}·msign(M)),
// msign by `ortho`, the power by nested coupled Newton–Schulz square roots of the
// Frobenius-normalized Gram matrix: p/2 is taken to `depth` binary digits, so
// dyadic p (HTMuon's 1/8) is exact. Rescaled to Frobenius norm √min(m,n);
// normalize = false returns the raw msign(M)·(MᵀM)^{p/2} (HTMuon's reference).
// Accuracy: σ/σ_max ≳ 0.05 follow (σ/σ_max)^p to a few per cent with 12
// square-root steps; smaller σ converge slowly (see tests/linalg/test_spectral_maps.cpp).
at::Tensor spectral_power_ns(const at::Tensor& M, double p, const Orthogonalizer& ortho,
                             int sqrt_steps = 12, int depth = 6, Cost* cost = nullptr,
                             bool normalize = true);
Cost spectral_power_ns_cost(int64_t m, int64_t n, double p, const Orthogonalizer& ortho,
                            int sqrt_steps = 12, int depth = 6, int64_t batch = 1);

// Coupled Newton–Schulz square root (Higham, "Functions of Matrices" §6.3) of a
// symmetric positive semi-definite A with eigenvalues in [0, 1]: returns A^{1/2}.
//   A: (r, r) or (B, r, r). 3 GEMMs per step; eigenvalue λ converges once
//   λ·(9/4)^k ≈ 1, so tiny eigenvalues need more steps.
at::Tensor sqrt_newton_schulz(const at::Tensor& A, int steps, Cost* cost = nullptr);

// Singular-value clipping U·min(Σ, τ)·Vᵀ (MuCon), the Frobenius projection onto
// {‖X‖₂ ≤ τ}. Exact SVD form.
at::Tensor clip_spectrum_svd(const at::Tensor& M, double tau, Cost* cost = nullptr);
// The same without an SVD (MuCon): P = msign(M), S = PᵀM − τI,
// clip = ½[M + τP − P·S·msign(S)], both msign by `ortho`. Ill-conditioned when
// some σ ≈ τ: msign(S) must resolve the sign of σ − τ ≈ 0.
at::Tensor clip_spectrum_msign(const at::Tensor& M, double tau, const Orthogonalizer& ortho,
                               Cost* cost = nullptr);
Cost clip_spectrum_msign_cost(int64_t m, int64_t n, const Orthogonalizer& ortho, int64_t batch = 1);

// ‖M‖₂ estimate by `iters` power iterations on MᵀM from a fixed, seeded Gaussian
// v₀ (deterministic, independent of the global RNG; a structured start such as
// the record's ones vector fails when M·1 = 0, e.g. for centred M).
//   Returns shape () for (m, n) input or (B) for a batch. 2 matrix–vector
//   products per iteration (+1 for the final ‖M·v‖), counted as GEMMs with one column.
at::Tensor spectral_norm_power(const at::Tensor& M, int iters = 5, Cost* cost = nullptr);

// Contra-Muon (modded-nanogpt optimization track #11): O = msign(M) − (κ/2)·M/‖M‖₂
// (‖M‖₂ by `power_iters` power iterations), rescaled to ‖msign(M)‖_F.
// Spectrally σ ↦ 1 − (κ/2)·σ/σ_max before the rescale, so the top direction gets
// the smallest step only with an accurate msign (`convergent`, `svd`): keller's
// non-monotone band [0.68, 1.13] is wider than the contraction.
at::Tensor contra_msign(const at::Tensor& M, double kappa, const Orthogonalizer& ortho,
                        int power_iters = 5, Cost* cost = nullptr);
Cost contra_msign_cost(int64_t m, int64_t n, const Orthogonalizer& ortho, int power_iters = 5,
                       int64_t batch = 1);

// Kaon: X ← 4.1·(I − X Xᵀ)²·X iterated `steps` times from X/‖X‖_F, output ÷ 1.175.
// The scalar map 4.1σ(1 − σ²)² peaks at 1.1735 (σ = 1/√5), so every σ stays in
// [0, 1] after the division; its orbit is chaotic (the spectrum is scrambled,
// U and V are kept). It is a quintic NS step with (a, b, c) = (4.1, −8.2, 4.1).
at::Tensor kaon(const at::Tensor& M, int steps = 5, Cost* cost = nullptr);
NsSchedule kaon_schedule(int steps = 5);

// DynMuon's second-order form for a small exponent p (the modded-nanogpt track-3
// DynMuon script; fzwark/DynMuon's fast_spectral): Xn = M/‖M‖_F, Y = msign(Xn)
// by `ortho`, E = Xn·Xnᵀ − I (short side), C = I + δE + ½δ(δ−1)E² with δ = p/2,
// O = C·Y·‖M‖_F^p ≈ U Σ^p Vᵀ. Not normalized (raw magnitude, as the reference).
// Cost: one msign + 3 GEMMs (Gram, E², C·Y).
at::Tensor dynmuon_taylor(const at::Tensor& M, double p, const Orthogonalizer& ortho,
                          Cost* cost = nullptr);
Cost dynmuon_taylor_cost(int64_t m, int64_t n, const Orthogonalizer& ortho, int64_t batch = 1);

// DynMuon's exponent: p(t) = p_min + (p_max − p_min)/(1 + exp((t/T − τ)/w)).
double dynmuon_exponent(int64_t t, int64_t total_steps, double p_max = 1.0, double p_min = -0.25,
                        double tau = 0.04, double w = 0.04);

}  // namespace steepest
