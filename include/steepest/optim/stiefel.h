// Optimizers that keep each weight on the Stiefel manifold St = {W : WᵀW = I}
// (manifold Muon from Bernstein, "Modular Manifolds", 2025; the tangent-projection
// family with polar, Cayley and QR retractions).
#pragma once

#include <ATen/ATen.h>
#include <torch/optim/optimizer.h>

#include <cstdint>
#include <string>
#include <vector>

#include "steepest/linalg/cost.h"
#include "steepest/optim/named_optimizer.h"

namespace steepest {

// How the update direction is found from the momentum M (W tall m×n, m ≥ n).
enum class StiefelMethod {
  Tangent,     // "tangent": D = ξ·√n/‖ξ‖_F, ξ = M − W·sym(WᵀM); 2 GEMMs
  DualAscent,  // "dual-ascent": manifold Muon, A = msign(M + 2WΛ) with WᵀA + AᵀW → 0
};
// How W − lr·D is brought back onto St.
enum class StiefelRetraction {
  Polar,   // "polar": quintic Newton–Schulz (15/8, −10/8, 3/8) steps; the exact polar
           // factor (SVD) where a Gershgorin bound says σ_max² > 1.5 (large lr·‖D‖₂)
  Cayley,  // "cayley": the Cayley transform, step clipped to min(lr, 1/‖A_s‖₁) (Li,
           // Fuxin & Todorovic 2020, Cayley SGD); exact, or their fixed-point form
  Qr,      // "qr": Q of the QR factorization, signs fixed so that diag(R) > 0
};
// Parse a name; std::invalid_argument listing the valid names otherwise.
StiefelMethod stiefel_method_from_name(const std::string& name);  // "tangent" | "dual-ascent"
StiefelRetraction stiefel_retraction_from_name(
    const std::string& name);  // "polar" | "cayley" | "qr"

struct StiefelOptions : torch::optim::OptimizerCloneableOptions<StiefelOptions> {
  StiefelOptions(double lr = 0.02) : lr_(lr) {}
  TORCH_ARG(double, lr);
  // EMA momentum like Muon: B ← lerp(B, G, 1−μ); the update uses lerp(G, B, μ)
  // with Nesterov, B without.
  TORCH_ARG(double, momentum) = 0.95;
  TORCH_ARG(bool, nesterov) = true;
  // "tangent" (kind() "stiefel") | "dual-ascent" (kind() "manifold-muon").
  TORCH_ARG(std::string, method) = "tangent";
  TORCH_ARG(std::string, retraction) = "polar";  // "polar" | "cayley" | "qr"
  // polar: quintic steps; cayley: fixed-point iterations after the Euler start
  // (Cayley SGD's form; 5 in its code); qr: unused. 0 is allowed (polar: no
  // retraction; cayley: explicit Euler); -1: the retraction's own (polar 2
  // steps; cayley the exact transform by a 2n×2n solve; stiefel_retraction_steps()).
  TORCH_ARG(int, retraction_steps) = -1;
  // Dual-ascent only: K iterations on Λ, with step α_k = α·(1 − k/K) (the
  // decay of Bernstein's reference code). M is rescaled to ‖M‖_F = √n first
  // (the dual problem's solution A does not depend on M's scale), so α is
  // dimensionless. α = 0.2 measured best or near it on random 32×16 … 512×128
  // problems with the reference's Λ₀ (mean of 5 seeds, 2026-11-30): residual
  // ‖WᵀA + AᵀW‖_F 0.69 / 0.12 / 0.032 at K = 3 / 10 / 30 for 32×16 (α 0.1:
  // 0.71 / 0.24 / 0.048; α 0.3: 1.46 / 0.35 / 0.063). Square weights: the first
  // candidate is already nearly tangent (0.06 at K = 3 for 64×64) but more dual
  // steps make it worse (3.6 at K = 10), so use few dual steps there.
  TORCH_ARG(int, dual_steps) = 10;
  TORCH_ARG(double, dual_lr) = 0.2;
  // msign inside dual ascent: any orthogonalizer_names() entry.
  TORCH_ARG(std::string, orthogonalizer) = "polar-express";
  // The constructor moves each non-zero weight onto St by exact polar (SVD).
  // A zero weight (e.g. a GPT output projection) is left alone and lands on St
  // at its first step, whose retraction is then the exact msign(W − lr·D).
  TORCH_ARG(bool, project_init) = true;

 public:
  double get_lr() const override { return lr(); }
  void set_lr(const double lr) override { this->lr(lr); }
};

// The GEMMs (and QR/SVD FLOP estimates) one step() spends on one m×n weight
// (either orientation), equal to what last_step_cost() reports for it. Not
// included: the one exact SVD of a zero weight's first step, and the polar
// retraction's SVD of a step too large for its quintic steps. GEMMs per step
// (default retraction steps): tangent+polar 8, tangent+cayley 10 (+ the
// solve's FLOPs; Cayley SGD's 5 fixed-point iterations: 17), tangent+qr 2
// (+ QR FLOPs); dual-ascent (10 steps, polar-express msign = 15) + polar: 177.
Cost stiefel_step_cost(const StiefelOptions& options, int64_t m, int64_t n);

// The building blocks, on a tall W (m×n, m ≥ n, WᵀW ≈ I) and M of the same shape.
// Tangent direction ξ·√n/‖ξ‖_F with ξ = M − W·sym(WᵀM) (zero if ξ = 0). 2 GEMMs.
at::Tensor stiefel_tangent_direction(const at::Tensor& W, const at::Tensor& M,
                                     Cost* cost = nullptr);
// Manifold Muon direction A ≈ argmin ⟨M, A⟩ s.t. ‖A‖₂ ≤ 1, WᵀA + AᵀW = 0, by
// `dual_steps` (≥ 1) ascent steps on Λ (n×n, from Λ₀ = −¼(WᵀM + MᵀW) as in the reference, so
// the first candidate is msign of M's tangent projection; step sizes as in StiefelOptions). A is
// the last candidate; `residual` (if non-null) receives ‖WᵀA + AᵀW‖_F as a 0-d tensor (no sync).
at::Tensor stiefel_dual_ascent_direction(const at::Tensor& W, const at::Tensor& M, int dual_steps,
                                         double dual_lr, const std::string& orthogonalizer,
                                         Cost* cost = nullptr, at::Tensor* residual = nullptr);
// The steps a retraction runs for `requested` (-1: polar 2; cayley -1, the
// exact transform).
int stiefel_retraction_steps(StiefelRetraction retraction, int requested);
// A point of St near W − lr·D (`steps` resolved). cayley uses D itself (its
// skew generator A_s = D̂Wᵀ − WD̂ᵀ, D̂ = D − ½W(WᵀD), is applied in low-rank
// form; its ‖A_s‖₁ is taken over m×512 column blocks) and steps by
// α = min(lr, 1/‖A_s‖₁), as Cayley SGD does, so it may step less than lr;
// steps -1: the exact transform (Woodbury, a 2n×2n solve), ≥ 0: Cayley SGD's
// fixed-point iterations.
// polar runs `steps` quintic steps where σ_max(W − lr·D)² ≤ 1.5 by a
// Gershgorin bound, and takes the exact polar factor (SVD) above: it lands on
// St to 1e-3 at any lr (steps ≥ 2).
at::Tensor stiefel_retract(StiefelRetraction retraction, const at::Tensor& W, const at::Tensor& D,
                           double lr, int steps, Cost* cost = nullptr);
// ‖WᵀW − I‖_F for a tall W, ‖WWᵀ − I‖_F for a wide one (fp64).
double stiefel_distance(const at::Tensor& W);

// Every parameter must be ≥ 2-D (conv weights are treated as (out, in·kh·kw));
// a wide weight (out < in) is kept with orthonormal rows (its transpose on St).
// No weight decay: it has no meaning on the manifold.
class Stiefel : public NamedOptimizer {
 public:
  Stiefel(const std::vector<NamedParameter>& params, StiefelOptions defaults = {});
  Stiefel(std::vector<torch::optim::OptimizerParamGroup> groups, StiefelOptions defaults = {},
          std::vector<std::string> names = {});

  // "stiefel" (tangent) or "manifold-muon" (dual-ascent), from the defaults' method.
  std::string kind() const override;
  at::Tensor step(LossClosure closure = nullptr) override;
  // stiefel_step_cost() of the first group's options.
  Cost predicted_step_cost(int64_t m, int64_t n) const override;

  // Largest ‖WᵀA + AᵀW‖_F over the dual-ascent parameters of the last step
  // (A = the direction taken); NaN if none ran dual ascent. Syncs on a GPU.
  double last_tangency_residual() const;

 private:
  std::vector<at::Tensor> residuals_;
};

}  // namespace steepest
