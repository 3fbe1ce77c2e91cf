#include "steepest/optim/stiefel.h"

#include <c10/util/Exception.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "linalg/gemm.h"
#include "optim/param_groups.h"
#include "optim/step_prologue.h"
#include "steepest/linalg/orthogonalizer.h"
#include "steepest/linalg/polar_svd.h"

namespace steepest {
namespace {

// Convergent quintic p(σ) = σ(15/8 − 10/8σ² + 3/8σ⁴): p(1) = 1, p'(1) = p''(1) = 0
// (the final step of the Polar Express paper's list, Amsel et al. 2025).
constexpr double kPolarA = 15.0 / 8.0, kPolarB = -10.0 / 8.0, kPolarC = 3.0 / 8.0;
// The largest σ² from which the polar retraction's two default steps reach 1e-3 of 1
// (σ² = 1.5: 1.0333, then 1.0001).
constexpr double kPolarSafeSquare = 1.5;

// Householder QR of an m×n matrix plus forming its thin Q, each
// 2mn² − (2/3)n³ FLOPs (Trefethen & Bau, Lecture 10).
double qr_flops(int64_t m, int64_t n) {
  const double dm = static_cast<double>(m), dn = static_cast<double>(n);
  return 2.0 * (2.0 * dm * dn * dn - 2.0 / 3.0 * dn * dn * dn);
}

// X·√n/‖X‖_F (X is tall m×n, so √n = ‖W‖_F for W on St); a zero X stays zero.
at::Tensor normalize_to_stiefel_scale(const at::Tensor& X) {
  // fp32 or fp64 norm (half/bf16 would lose the √n to rounding).
  const bool low = X.scalar_type() != at::kDouble && X.scalar_type() != at::kFloat;
  const auto norm = at::linalg_vector_norm(low ? X.to(at::kFloat) : X).clamp_min(1e-30);
  const auto scale = std::sqrt(static_cast<double>(X.size(1))) / norm;
  return X * scale.to(X.scalar_type());
}

// ‖A_s‖₁ = max_j Σ_i |(U·Vᵀ)_ij| of the m×m skew generator, formed a block
// of columns at a time (memory m×512, not m×m), as a 0-d tensor (no sync).
at::Tensor cayley_generator_norm1(const at::Tensor& U, const at::Tensor& Vt, Cost* cost) {
  const int64_t m = Vt.size(1), block = 512;
  std::vector<at::Tensor> maxima;
  for (int64_t j = 0; j < m; j += block) {
    const auto cols = detail::matmul(U, Vt.narrow(1, j, std::min(block, m - j)), nullptr);
    maxima.push_back(cols.abs().sum(0).amax());
  }
  count_gemm(cost, m, U.size(1), m);
  return at::stack(maxima).amax().to(at::kDouble);
}

// LU of the 2n×2n Woodbury system and its n right-hand sides:
// (2/3)(2n)³ + 2·(2n)²·n FLOPs.
double cayley_solve_flops(int64_t n) {
  const double k = 2.0 * static_cast<double>(n);
  return 2.0 / 3.0 * k * k * k + 2.0 * k * k * static_cast<double>(n);
}

// The tall (m ≥ n) orientation of a 2-D view.
at::Tensor tall(const at::Tensor& X) {
  return X.size(0) < X.size(1) ? X.t() : X;
}

}  // namespace

StiefelMethod stiefel_method_from_name(const std::string& name) {
  if (name == "tangent") return StiefelMethod::Tangent;
  if (name == "dual-ascent") return StiefelMethod::DualAscent;
  throw std::invalid_argument("unknown Stiefel method '" + name + "'; known: tangent, dual-ascent");
}

StiefelRetraction stiefel_retraction_from_name(const std::string& name) {
  if (name == "polar") return StiefelRetraction::Polar;
  if (name == "cayley") return StiefelRetraction::Cayley;
  if (name == "qr") return StiefelRetraction::Qr;
  throw std::invalid_argument("unknown Stiefel retraction '" + name +
                              "'; known: polar, cayley, qr");
}

int stiefel_retraction_steps(StiefelRetraction retraction, int requested) {
  if (requested >= 0) return requested;
  // Polar: two quintic steps (σ² ≤ 1.5 within 1e-4). Cayley: -1, the exact
  // transform (a small solve) instead of fixed-point iterations.
  return retraction == StiefelRetraction::Cayley ? -1 : 2;
}

Cost stiefel_step_cost(const StiefelOptions& o, int64_t rows, int64_t cols) {
  const int64_t m = std::max(rows, cols), n = std::min(rows, cols);
  Cost c;
  switch (stiefel_method_from_name(o.method())) {
    case StiefelMethod::Tangent:
      count_gemm(&c, n, m, n);  // WᵀM
      count_gemm(&c, m, n, n);  // W·sym(WᵀM)
      break;
    case StiefelMethod::DualAscent: {
      const Orthogonalizer ortho = Orthogonalizer::from_name(o.orthogonalizer());
      count_gemm(&c, n, m, n);  // WᵀM for Λ₀
      for (int k = 0; k < o.dual_steps(); ++k) {
        count_gemm(&c, m, n, n);  // W·Λ
        c += ortho.cost(m, n);
        count_gemm(&c, n, m, n);  // WᵀA
      }
      break;
    }
  }
  const StiefelRetraction retraction = stiefel_retraction_from_name(o.retraction());
  const int steps = stiefel_retraction_steps(retraction, o.retraction_steps());
  switch (retraction) {
    case StiefelRetraction::Polar:
      for (int s = 0; s < steps; ++s) {
        count_gemm(&c, n, m, n);  // XᵀX
        count_gemm(&c, n, n, n);  // (XᵀX)²
        count_gemm(&c, m, n, n);  // X·poly
      }
      break;
    case StiefelRetraction::Cayley:
      count_gemm(&c, n, m, n);      // WᵀD
      count_gemm(&c, m, n, n);      // D̂ = D − ½W(WᵀD)
      count_gemm(&c, m, 2 * n, m);  // U·Vᵀ, for ‖A_s‖₁
      count_gemm(&c, 2 * n, m, n);  // VᵀW
      count_gemm(&c, m, 2 * n, n);  // U·(VᵀW)
      if (steps < 0) {
        count_gemm(&c, 2 * n, m, 2 * n);  // VᵀU
        count_gemm(&c, 2 * n, m, n);      // VᵀZ
        count_gemm(&c, m, 2 * n, n);      // U·R
        c.other_flops += cayley_solve_flops(n);
      }
      for (int s = 0; s < steps; ++s) {
        count_gemm(&c, 2 * n, m, n);  // Vᵀ·Y
        count_gemm(&c, m, 2 * n, n);  // U·(VᵀY)
      }
      break;
    case StiefelRetraction::Qr:
      c.other_flops += qr_flops(m, n);
      break;
  }
  return c;
}

at::Tensor stiefel_tangent_direction(const at::Tensor& W, const at::Tensor& M, Cost* cost) {
  // S = sym(WᵀM) (n×n); ξ = M − W·S removes the normal component W·S.
  auto S = detail::matmul(detail::mT(W), M, cost);
  S = (S + detail::mT(S)) * 0.5;
  return normalize_to_stiefel_scale(detail::gemm(M, W, S, 1.0, -1.0, cost));
}

at::Tensor stiefel_dual_ascent_direction(const at::Tensor& W, const at::Tensor& M, int dual_steps,
                                         double dual_lr, const std::string& orthogonalizer,
                                         Cost* cost, at::Tensor* residual) {
  TORCH_CHECK(dual_steps >= 1, "Stiefel dual ascent needs dual_steps >= 1, got ", dual_steps);
  const Orthogonalizer msign = Orthogonalizer::from_name(orthogonalizer);
  // The minimizer of ⟨M, A⟩ does not depend on M's scale; fixing ‖M‖_F = √n
  // puts Λ on a fixed scale, so one α serves every gradient magnitude.
  const at::Tensor Mn = normalize_to_stiefel_scale(M);
  // Λ₀ = −¼(WᵀM + MᵀW), as in Bernstein's reference code: then M + 2WΛ₀ =
  // M − W·sym(WᵀM), so the first candidate is msign of M's tangent projection.
  const auto WtM = detail::matmul(detail::mT(W), Mn, cost);
  at::Tensor Lambda = (WtM + detail::mT(WtM)) * -0.25;  // n×n symmetric
  at::Tensor A, H;                                      // A: m×n; H: n×n symmetric
  for (int k = 0; k < dual_steps; ++k) {
    A = msign(detail::gemm(Mn, W, Lambda, 1.0, 2.0, cost), cost);
    const auto WtA = detail::matmul(detail::mT(W), A, cost);
    H = WtA + detail::mT(WtA);  // ∂/∂Λ of the dual, up to sign: A's tangency violation
    // α_k = α·(1 − k/K): the linear decay of Bernstein's reference code, which
    // settles the non-smooth dual (a constant α stalls or oscillates).
    const double a = dual_lr * (1.0 - static_cast<double>(k) / dual_steps);
    if (k + 1 < dual_steps) Lambda = Lambda - H * a;
  }
  if (residual != nullptr) *residual = at::linalg_vector_norm(H.to(at::kFloat));
  return A;
}

at::Tensor stiefel_retract(StiefelRetraction retraction, const at::Tensor& W, const at::Tensor& D,
                           double lr, int steps, Cost* cost) {
  const int64_t m = W.size(0), n = W.size(1);
  switch (retraction) {
    case StiefelRetraction::Polar: {
      // X ← X·p(XᵀX): X's singular values are already ≈ 1 (√(1 + lr²σ(D)²) for a
      // tangent D), so no Frobenius normalization; the error cubes each step.
      // From σ² ≤ kPolarSafeSquare two steps land within 1e-4 of 1, and p maps
      // [1, kPolarSafeSquare^½] into itself. A larger step (Gershgorin bound b
      // of σ_max² above that, lr·‖D‖₂ ≳ 0.7) would need ever more steps, and a
      // rescale into σ ≤ 1 pushes the small σ down where two steps cannot lift
      // them: such a step takes the exact polar factor instead (one SVD, one
      // host sync per step to decide; rare at training learning rates).
      at::Tensor X = W - D * lr;
      if (steps == 0) return X;
      at::Tensor A = detail::matmul(detail::mT(X), X, cost);  // n×n
      const double b = A.abs().sum(-1).amax().item<double>();
      if (!(b <= kPolarSafeSquare)) return polar_svd(X, cost);
      for (int s = 0; s < steps; ++s) {
        if (s > 0) A = detail::matmul(detail::mT(X), X, cost);
        const auto B = detail::gemm(A, A, A, kPolarB, kPolarC, cost);  // b·A + c·A²
        X = detail::gemm(X, X, B, kPolarA, 1.0, cost);                 // a·X + X·B
      }
      return X;
    }
    case StiefelRetraction::Cayley: {
      // Li, Fuxin & Todorovic 2020: the Cayley transform Y = (I + α/2·A_s)⁻¹
      // (I − α/2·A_s)W, orthogonal for skew A_s = D̂Wᵀ − WD̂ᵀ, whose action on W
      // is the tangent part of D. A_s = U·Vᵀ with U = [D̂, W], V = [W, −D̂]
      // (m×2n), so A_s·X = U·(VᵀX) costs O(mn²). Their Cayley SGD clips the
      // step to α = min(lr, 2q/‖A_s‖₁), q = ½.
      const auto K = detail::matmul(detail::mT(W), D, cost);   // n×n
      const auto Dh = detail::gemm(D, W, K, 1.0, -0.5, cost);  // D − ½W(WᵀD)
      const auto U = at::cat({Dh, W}, 1);
      const auto Vt = detail::mT(at::cat({W, -Dh}, 1));  // 2n×m
      const auto alpha =
          (1.0 / (cayley_generator_norm1(U, Vt, cost) + 1e-8)).clamp_max(lr).to(W.scalar_type());
      const at::Tensor half = alpha * 0.5;
      const auto VtW = detail::matmul(Vt, W, cost);
      if (steps < 0) {
        // The transform itself, by Woodbury: (I + cUVᵀ)⁻¹ = I − cU(I + cVᵀU)⁻¹Vᵀ
        // (a 2n×2n solve), on St to rounding at any α.
        const auto Z = W - detail::matmul(U, VtW, cost) * half;  // (I − cA_s)W
        const auto S = at::eye(U.size(1), U.options()) + detail::matmul(Vt, U, cost) * half;
        const auto R = at::linalg_solve(S, detail::matmul(Vt, Z, cost));
        if (cost != nullptr) cost->other_flops += cayley_solve_flops(W.size(1));
        return Z - detail::matmul(U, R, cost) * half;
      }
      // Their fixed-point form: Y ← W − (α/2)·A_s(W + Y) from the Euler step,
      // `steps` times (5 in their code; it leaves up to ~1e-2 off St for an
      // A_s concentrated in a few entries, where ‖A_s‖₂ ≈ ‖A_s‖₁).
      const auto P = detail::matmul(U, VtW, cost);  // A_s·W
      at::Tensor Y = W - P * alpha;                 // explicit Euler start
      const at::Tensor base = W - P * half;
      for (int s = 0; s < steps; ++s)
        Y = base - detail::matmul(U, detail::matmul(Vt, Y, cost), cost) * half;
      return Y;
    }
    case StiefelRetraction::Qr: {
      const auto QR = at::linalg_qr(W - D * lr, "reduced");
      if (cost != nullptr) cost->other_flops += qr_flops(m, n);
      // Q·diag(sign(diag R)) makes R's diagonal positive: the unique Q that is
      // continuous in its input (and Q = W when D = 0).
      auto sign = at::sign(std::get<1>(QR).diagonal());
      sign = at::where(sign == 0, at::ones_like(sign), sign);
      return std::get<0>(QR) * sign.unsqueeze(0);
    }
  }
  return W;
}

double stiefel_distance(const at::Tensor& W) {
  const auto X = tall(W.reshape({W.size(0), -1}).to(at::kDouble));
  const auto I = at::eye(X.size(1), X.options());
  return at::linalg_vector_norm(at::mm(X.t(), X) - I).item<double>();
}

Stiefel::Stiefel(const std::vector<NamedParameter>& params, StiefelOptions defaults)
    : Stiefel({torch::optim::OptimizerParamGroup(detail::tensors_of(params))}, std::move(defaults),
              detail::names_of(params)) {}

Stiefel::Stiefel(std::vector<torch::optim::OptimizerParamGroup> groups, StiefelOptions defaults,
                 std::vector<std::string> names)
    : NamedOptimizer(std::move(groups), std::make_unique<StiefelOptions>(defaults),
                     std::move(names)) {
  at::NoGradGuard no_grad;
  for (const auto& group : param_groups_) {
    const auto& o = static_cast<const StiefelOptions&>(group.options());
    TORCH_CHECK(o.lr() >= 0, "Stiefel: learning rate must be >= 0, got ", o.lr());
    TORCH_CHECK(o.momentum() >= 0 && o.momentum() < 1, "Stiefel: momentum must be in [0, 1), got ",
                o.momentum());
    stiefel_method_from_name(o.method());  // validate the names
    stiefel_retraction_from_name(o.retraction());
    Orthogonalizer::from_name(o.orthogonalizer());
    TORCH_CHECK(o.retraction_steps() >= -1,
                "Stiefel: retraction_steps must be >= 0, or -1 for the retraction's own "
                "(polar: 2 steps; cayley: the exact transform), got ",
                o.retraction_steps());
    TORCH_CHECK(o.dual_steps() >= 1, "Stiefel: dual_steps must be >= 1, got ", o.dual_steps());
    TORCH_CHECK(o.dual_lr() > 0, "Stiefel: dual_lr must be > 0, got ", o.dual_lr());
    for (const auto& p : group.params()) {
      TORCH_CHECK(p.dim() >= 2, "Stiefel: parameter '", param_name(p), "' has shape ", p.sizes(),
                  "; only matrices live on the Stiefel manifold. Route 1-D parameters "
                  "(biases, gains) to AdamW, e.g. with steepest::HybridOptimizer (Python: "
                  "steepest.optim.Hybrid).");
    }
  }
  // Only once everything checked out, so that a rejected call changes no weight.
  for (const auto& group : param_groups_) {
    if (!static_cast<const StiefelOptions&>(group.options()).project_init()) continue;
    for (const auto& p : group.params()) {
      if (!p.any().item<bool>()) continue;  // zero: lands on St at its first step
      const auto W = tall(p.reshape({p.size(0), -1}));
      const auto P = polar_svd(W);
      p.copy_((W.size(0) == p.size(0) ? P : P.t()).reshape(p.sizes()));
    }
  }
}

std::string Stiefel::kind() const {
  const auto& o = static_cast<const StiefelOptions&>(defaults());
  return stiefel_method_from_name(o.method()) == StiefelMethod::Tangent ? "stiefel"
                                                                        : "manifold-muon";
}

double Stiefel::last_tangency_residual() const {
  double r = std::numeric_limits<double>::quiet_NaN();
  for (const auto& t : residuals_) {
    const double v = t.item<double>();
    r = std::isnan(r) ? v : std::max(r, v);
  }
  return r;
}

at::Tensor Stiefel::step(LossClosure closure) {
  at::NoGradGuard no_grad;
  at::Tensor loss = detail::run_closure(closure);
  check_gradients();
  step_cost_ = Cost{};
  residuals_.clear();
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const StiefelOptions&>(group.options());
    const StiefelMethod method = stiefel_method_from_name(o.method());
    const StiefelRetraction retraction = stiefel_retraction_from_name(o.retraction());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      // Also covers groups added later through add_param_group().
      TORCH_CHECK(p.dim() >= 2, "Stiefel: parameter '", param_name(p), "' has shape ", p.sizes(),
                  "; route 1-D parameters to AdamW");
      const at::Tensor& g = p.grad();
      auto& st = state_of(p);
      const bool first = st.step++ == 0;
      const at::Tensor u = detail::ema_momentum(st.buffers, g, o.momentum(), o.nesterov());
      // Work on the tall orientation (m×n, m ≥ n) of the (out, in·k…) matrix.
      const at::Tensor W = tall(p.reshape({p.size(0), -1}));
      const at::Tensor M = tall(u.reshape({u.size(0), -1}));
      at::Tensor D;
      if (method == StiefelMethod::Tangent) {
        D = stiefel_tangent_direction(W, M, &step_cost_);
      } else {
        at::Tensor residual;
        D = stiefel_dual_ascent_direction(W, M, o.dual_steps(), o.dual_lr(), o.orthogonalizer(),
                                          &step_cost_, &residual);
        residuals_.push_back(residual);
      }
      // A zero weight is off the manifold and has no retraction-friendly
      // spectrum: its first step takes the exact msign(W − lr·D) (one SVD).
      const at::Tensor Wn =
          first && !W.any().item<bool>()
              ? polar_svd(W - D * o.lr(), &step_cost_)
              : stiefel_retract(retraction, W, D, o.lr(),
                                stiefel_retraction_steps(retraction, o.retraction_steps()),
                                &step_cost_);
      p.copy_((W.size(0) == p.size(0) ? Wn : Wn.t()).reshape(p.sizes()));
    }
  }
  return loss;
}

Cost Stiefel::predicted_step_cost(int64_t m, int64_t n) const {
  return stiefel_step_cost(static_cast<const StiefelOptions&>(param_groups_.front().options()), m,
                           n);
}

}  // namespace steepest
