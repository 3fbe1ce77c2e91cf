#include "steepest/linalg/spectral_maps.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>

#include <cmath>

#include "linalg/gemm.h"
#include "linalg/input_checks.h"
#include "linalg/rank.h"
#include "steepest/linalg/newton_schulz.h"
#include "steepest/linalg/polar_svd.h"

namespace steepest {
namespace {

at::Tensor eye_like(const at::Tensor& A) {
  at::Tensor I = at::eye(A.size(-1), A.options());
  return A.dim() == 3 ? I.expand_as(A).contiguous() : I;
}

// Binary digits of q ∈ (0, 1) to `depth` places: digit k (1-based) ↔ 2^{-k}.
std::vector<bool> dyadic_digits(double q, int depth) {
  std::vector<bool> bits;
  for (int k = 1; k <= depth; ++k) {
    q *= 2.0;
    const bool b = q >= 1.0 - 1e-12;
    if (b) q -= 1.0;
    bits.push_back(b);
  }
  while (!bits.empty() && !bits.back()) bits.pop_back();
  return bits;
}

void check_power(double p, int sqrt_steps, int depth) {
  TORCH_CHECK(p > 0.0 && p <= 1.0, "spectral_power_ns: p must be in (0, 1], got ", p,
              "; use spectral_power_svd for other exponents");
  TORCH_CHECK(sqrt_steps >= 1 && depth >= 1, "spectral_power_ns: sqrt_steps and depth must be ",
              ">= 1, got ", sqrt_steps, " and ", depth);
  TORCH_CHECK(!dyadic_digits(p / 2.0, depth).empty(), "spectral_power_ns: p = ", p,
              " rounds to 0 at depth ", depth, "; raise depth");
}

}  // namespace

at::Tensor shaped_spectrum_svd(const at::Tensor& M,
                               const std::function<at::Tensor(const at::Tensor&)>& g, Cost* cost) {
  detail::check_matrix_input(M, "shaped_spectrum_svd");
  return spectral_map_svd(
      M,
      [&g](const at::Tensor& S) {
        const at::Tensor keep = detail::nonzero_singular_values(S);
        const at::Tensor rel = S / S.amax(-1, /*keepdim=*/true).clamp_min(1e-30);
        const at::Tensor f = at::where(keep, g(rel), at::zeros_like(S));
        // ‖U f Vᵀ‖_F = ‖f‖₂: rescale to √rank, the Frobenius norm of U Vᵀ.
        const at::Tensor rank = keep.sum(-1, /*keepdim=*/true).to(S.scalar_type());
        return f * rank.sqrt() / at::linalg_vector_norm(f, 2, {-1}, true).clamp_min(1e-30);
      },
      cost);
}

at::Tensor spectral_power_svd(const at::Tensor& M, double p, Cost* cost) {
  return shaped_spectrum_svd(
      M,
      [p](const at::Tensor& rel) {
        return (p < 0 ? rel.clamp_min(kNegativePowerFloor) : rel).pow(p);
      },
      cost);
}

at::Tensor svd_power(const at::Tensor& M, double p, double schatten_q, Cost* cost) {
  detail::check_matrix_input(M, "svd_power");
  TORCH_CHECK(p > 0.0 && std::isfinite(p), "svd_power: p must be > 0, got ", p);
  TORCH_CHECK(schatten_q == 0.0 || (schatten_q > 1.0 && std::isfinite(schatten_q)),
              "svd_power: schatten_q must be 0 (raw) or in (1, inf), got ", schatten_q);
  return spectral_map_svd(
      M,
      [&](const at::Tensor& S) {
        // Roundoff singular values would get weight (1e-7)^p ≈ 0.13 at p = 1/8
        // along arbitrary directions: the shared rank rule sends them to 0.
        // Powers of σ/σ_max: at p = 20 (q = 1.05) raw σ^p leaves fp32's range
        // for any ‖G‖ far from 1, and the normalized map is scale-invariant.
        const at::Tensor smax = S.amax(-1, /*keepdim=*/true);
        const at::Tensor rel = S / at::where(smax > 0, smax, at::ones_like(smax));
        const at::Tensor Sp =
            at::where(detail::nonzero_singular_values(S), rel.pow(p), at::zeros_like(S));
        if (schatten_q == 0.0) return Sp * smax.pow(p);
        const at::Tensor n = at::linalg_vector_norm(Sp, schatten_q, {-1}, /*keepdim=*/true);
        return at::where(n > 0, Sp / at::where(n > 0, n, at::ones_like(n)), at::zeros_like(Sp));
      },
      cost);
}

at::Tensor sqrt_newton_schulz(const at::Tensor& A, int steps, Cost* cost) {
  detail::check_matrix_input(A, "sqrt_newton_schulz");
  TORCH_CHECK(A.size(-1) == A.size(-2), "sqrt_newton_schulz: A must be square, got ", A.sizes());
  const at::Tensor I = eye_like(A);
  at::Tensor Y = A, Z = I;
  for (int k = 0; k < steps; ++k) {
    const at::Tensor T = detail::gemm(I * 1.5, Z, Y, 1.0, -0.5, cost);  // ½(3I − Z·Y)
    Y = detail::matmul(Y, T, cost);
    Z = detail::matmul(T, Z, cost);
  }
  return Y;
}

at::Tensor spectral_power_ns(const at::Tensor& M, double p, const Orthogonalizer& ortho,
                             int sqrt_steps, int depth, Cost* cost, bool normalize) {
  detail::check_matrix_input(M, "spectral_power_ns");
  check_power(p, sqrt_steps, depth);
  const bool tall = M.size(-2) >= M.size(-1);
  const at::Tensor Mn = detail::frobenius_normalize(M, 1.0, 1e-30);
  // Gram matrix on the short side; eigenvalues σᵢ²/‖M‖_F² ∈ [0, 1].
  const at::Tensor A =
      tall ? detail::matmul(detail::mT(Mn), Mn, cost) : detail::matmul(Mn, detail::mT(Mn), cost);
  // A^{p/2} = Π over the binary digits k of p/2 of A^{2^{-k}} (they commute).
  at::Tensor R = A, P;
  for (bool bit : dyadic_digits(p / 2.0, depth)) {
    R = sqrt_newton_schulz(R, sqrt_steps, cost);
    if (bit) P = P.defined() ? detail::matmul(P, R, cost) : R;
  }
  const at::Tensor O = ortho(M, cost);
  at::Tensor out = tall ? detail::matmul(O, P.to(O.scalar_type()), cost)
                        : detail::matmul(P.to(O.scalar_type()), O, cost);
  if (!normalize) {
    // (MᵀM)^{p/2} = ‖M‖_F^p·(M̂ᵀM̂)^{p/2}: the raw msign(M)·(MᵀM)^{p/2}.
    return out *
           at::linalg_vector_norm(M, 2, {-2, -1}, /*keepdim=*/true).pow(p).to(out.scalar_type());
  }
  const double r = static_cast<double>(std::min(M.size(-1), M.size(-2)));
  return detail::frobenius_normalize(out, 1.0 / std::sqrt(r), 1e-30);
}

Cost spectral_power_ns_cost(int64_t m, int64_t n, double p, const Orthogonalizer& ortho,
                            int sqrt_steps, int depth, int64_t batch) {
  check_power(p, sqrt_steps, depth);
  const int64_t r = std::min(m, n), c = std::max(m, n);
  Cost cost = ortho.cost(m, n, batch);
  count_gemm(&cost, r, c, r, batch);
  bool first = true;
  for (bool bit : dyadic_digits(p / 2.0, depth)) {
    for (int k = 0; k < 3 * sqrt_steps; ++k) count_gemm(&cost, r, r, r, batch);
    if (bit && !first) count_gemm(&cost, r, r, r, batch);
    if (bit) first = false;
  }
  count_gemm(&cost, r, r, c, batch);
  return cost;
}

at::Tensor clip_spectrum_svd(const at::Tensor& M, double tau, Cost* cost) {
  detail::check_matrix_input(M, "clip_spectrum_svd");
  TORCH_CHECK(tau > 0, "clip_spectrum_svd: tau must be > 0, got ", tau);
  return spectral_map_svd(
      M,
      [tau](const at::Tensor& S) {
        return at::where(detail::nonzero_singular_values(S), S.clamp_max(tau), at::zeros_like(S));
      },
      cost);
}

at::Tensor clip_spectrum_msign(const at::Tensor& M, double tau, const Orthogonalizer& ortho,
                               Cost* cost) {
  detail::check_matrix_input(M, "clip_spectrum_msign");
  TORCH_CHECK(tau > 0, "clip_spectrum_msign: tau must be > 0, got ", tau);
  // Work on the tall orientation so S = PᵀM is the short side's n×n.
  const bool wide = M.size(-2) < M.size(-1);
  const at::Tensor B = wide ? detail::mT(M).contiguous() : M;
  const at::Tensor P = ortho(B, cost);
  const at::Tensor PtB = detail::matmul(detail::mT(P), B, cost);
  const at::Tensor S = PtB - eye_like(PtB) * tau;
  // S is symmetric: msign(S) = V·sign(Σ − τ)·Vᵀ, so S·msign(S) = |S|.
  const at::Tensor absS = detail::matmul(S, ortho(S, cost), cost);
  at::Tensor out = (B + P * tau - detail::matmul(P, absS, cost)) * 0.5;
  return wide ? detail::mT(out).contiguous() : out;
}

Cost clip_spectrum_msign_cost(int64_t m, int64_t n, const Orthogonalizer& ortho, int64_t batch) {
  const int64_t r = std::min(m, n), c = std::max(m, n);
  Cost cost = ortho.cost(c, r, batch);
  count_gemm(&cost, r, c, r, batch);
  cost += ortho.cost(r, r, batch);
  count_gemm(&cost, r, r, r, batch);
  count_gemm(&cost, c, r, r, batch);
  return cost;
}

namespace {

// Seed of the power iteration's fixed start vector.
constexpr uint64_t kPowerIterationSeed = 0x5eed;

at::Tensor power_iteration_start(int64_t n, const at::TensorOptions& options) {
  // A fixed Gaussian vector, drawn on the CPU from its own generator so that it
  // neither depends on nor advances the global RNG and is the same on every
  // device. Ones (the Contra-Muon record's start) fail for any M with M·1 = 0.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(kPowerIterationSeed);
  const at::Tensor v = at::randn({n, 1}, gen, at::TensorOptions().dtype(at::kDouble));
  return (v / v.norm()).to(options);
}

}  // namespace

at::Tensor spectral_norm_power(const at::Tensor& M, int iters, Cost* cost) {
  detail::check_matrix_input(M, "spectral_norm_power");
  TORCH_CHECK(iters >= 1, "spectral_norm_power: iters must be >= 1, got ", iters);
  const at::Tensor X = M.dim() == 2 ? M.unsqueeze(0) : M;
  const at::Tensor Xt = detail::mT(X);
  at::Tensor v = power_iteration_start(X.size(2), X.options()).expand({X.size(0), X.size(2), 1});
  for (int k = 0; k < iters; ++k) {
    v = detail::matmul(Xt, detail::matmul(X, v, cost), cost);
    v = v / at::linalg_vector_norm(v, 2, {-2, -1}, true).clamp_min(1e-30);
  }
  const at::Tensor sigma = at::linalg_vector_norm(detail::matmul(X, v, cost), 2, {-2, -1});
  return M.dim() == 2 ? sigma.squeeze(0) : sigma;
}

at::Tensor contra_msign(const at::Tensor& M, double kappa, const Orthogonalizer& ortho,
                        int power_iters, Cost* cost) {
  detail::check_matrix_input(M, "contra_msign");
  const at::Tensor O = ortho(M, cost);
  at::Tensor s = spectral_norm_power(M, power_iters, cost).clamp_min(1e-30);
  if (M.dim() == 3) s = s.view({-1, 1, 1});
  const at::Tensor U = O - M * (kappa / 2.0) / s;
  const at::Tensor o_norm = at::linalg_vector_norm(O, 2, {-2, -1}, true);
  return U * o_norm / at::linalg_vector_norm(U, 2, {-2, -1}, true).clamp_min(1e-30);
}

Cost contra_msign_cost(int64_t m, int64_t n, const Orthogonalizer& ortho, int power_iters,
                       int64_t batch) {
  Cost cost = ortho.cost(m, n, batch);
  for (int k = 0; k < power_iters; ++k) {
    count_gemm(&cost, m, n, 1, batch);
    count_gemm(&cost, n, m, 1, batch);
  }
  count_gemm(&cost, m, n, 1, batch);
  return cost;
}

at::Tensor dynmuon_taylor(const at::Tensor& M, double p, const Orthogonalizer& ortho, Cost* cost) {
  detail::check_matrix_input(M, "dynmuon_taylor");
  const at::Tensor norm = at::linalg_vector_norm(M, 2, {-2, -1}, /*keepdim=*/true);
  const at::Tensor Xn = M / norm.clamp_min(1e-30);
  const at::Tensor Y = ortho(Xn, cost);
  // The short-side Gram matrix: C·Y with C from XnXnᵀ equals Y·C' with C' from
  // XnᵀXn (Y has no part in either null space), so a tall M uses the latter.
  const bool tall = M.size(-2) > M.size(-1);
  const at::Tensor A =
      tall ? detail::matmul(detail::mT(Xn), Xn, cost) : detail::matmul(Xn, detail::mT(Xn), cost);
  const at::Tensor E = A - eye_like(A);
  const double d = p / 2.0;
  // C = I + δE + ½δ(δ−1)E²: (I + E)^δ to second order around I.
  const at::Tensor C = detail::gemm(eye_like(A) + E * d, E, E, 1.0, 0.5 * d * (d - 1.0), cost);
  const at::Tensor U = tall ? detail::matmul(Y, C.to(Y.scalar_type()), cost)
                            : detail::matmul(C.to(Y.scalar_type()), Y, cost);
  // A zero M maps to zero (‖M‖^p with p < 0 would be inf).
  const at::Tensor scale = at::where(norm > 0, norm.pow(p), at::zeros_like(norm));
  return U * scale.to(U.scalar_type());
}

Cost dynmuon_taylor_cost(int64_t m, int64_t n, const Orthogonalizer& ortho, int64_t batch) {
  const int64_t r = std::min(m, n), c = std::max(m, n);
  Cost cost = ortho.cost(m, n, batch);
  count_gemm(&cost, r, c, r, batch);  // Gram
  count_gemm(&cost, r, r, r, batch);  // E²
  count_gemm(&cost, r, r, c, batch);  // C·Y
  return cost;
}

// Kaon's constants (Shumaylov et al. 2026, "Muon is Not That Special", arXiv 2605.11181):
// 4.1·(I − XXᵀ)²·X, output ÷ 1.175.
NsSchedule kaon_schedule(int steps) {
  TORCH_CHECK(steps >= 1, "kaon: steps must be >= 1, got ", steps);
  NsSchedule s;
  s.name = "kaon";
  s.steps.assign(static_cast<size_t>(steps), NsCoefficients{4.1, -8.2, 4.1});
  s.safety = 1.0;
  s.eps = 1e-7;
  return s;
}

at::Tensor kaon(const at::Tensor& M, int steps, Cost* cost) {
  return newton_schulz(M, kaon_schedule(steps), {}, cost) / 1.175;
}

double dynmuon_exponent(int64_t t, int64_t total_steps, double p_max, double p_min, double tau,
                        double w) {
  TORCH_CHECK(total_steps > 0, "dynmuon_exponent: total_steps must be > 0, got ", total_steps);
  TORCH_CHECK(w > 0, "dynmuon_exponent: w must be > 0, got ", w);
  const double x = (static_cast<double>(t) / static_cast<double>(total_steps) - tau) / w;
  return p_min + (p_max - p_min) / (1.0 + std::exp(x));
}

}  // namespace steepest
