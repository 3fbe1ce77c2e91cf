// What a Muon-family optimizer does between momentum and the weight update:
// the map from the momentum M of a hidden matrix to its update direction O.
// Where the rule is a duality map (Muon's msign, RMNP's row normalization, any
// norm of norms/norm.h) it is a DualizeRule over that Norm; the other variants
// shape the spectrum (HTMuon, DynMuon, MuCon, Contra-Muon, Freon, Kaon), adapt
// per neuron or entry (NorMuon, AdaMuon) or go low-rank (Dion). The
// optimizer (steepest::Muon) owns momentum, weight decay, the shape scale and
// the step; a rule only maps M to O and may keep per-parameter buffers.
// Constructors take every hyperparameter: the defaults live in one place, the
// optimizer's registry row (registry.cpp).
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "steepest/linalg/cost.h"
#include "steepest/linalg/orthogonalizer.h"
#include "steepest/norms/norm.h"
#include "steepest/optim/named_optimizer.h"

namespace steepest {

// k parameters of one m×n shape (rows = fan_out), stepped together.
struct RuleBatch {
  at::Tensor M;                           // (k, m, n): momentum-processed updates (raw gradients
                                          // for rules that own their momentum)
  std::vector<TensorState*> states;       // the k parameters' states (their step already counted)
  int64_t step = 1;                       // the parameters' step, 1-based
  const Orthogonalizer* ortho = nullptr;  // msign for this layer (per-layer NS steps applied)
  double momentum = 0.0;                  // the group's μ, for rules that own momentum
  double scale = 1.0;                     // the step's shape factor (lr·scale·O is applied)
  at::Tensor W;  // (k, m, n): the weights before the step, only for rules with needs_weights()
};

// How the optimizer accumulates momentum for a rule (step_prologue.h).
enum class MomentumForm {
  Ema,  // B ← lerp(B, G, 1−μ), Nesterov lerp(G, B, μ): KellerJordan/Muon
  Sum,  // B ← μB + G, Nesterov G + μB: fzwark/DynMuon, microsoft/dion's muon.py
};

// B after one step from `b` (undefined: zero) and G, out of place.
inline at::Tensor next_momentum(MomentumForm form, const at::Tensor& b, const at::Tensor& g,
                                double mu) {
  if (form == MomentumForm::Sum) return b.defined() ? b * mu + g : g;
  return b.defined() ? b.lerp(g, 1.0 - mu) : g * (1.0 - mu);
}

// What the step orthogonalizes given the updated B: B, or with Nesterov
// lerp(G, B, μ) (Ema) or G + μB (Sum).
inline at::Tensor momentum_input(MomentumForm form, const at::Tensor& g, const at::Tensor& b,
                                 double mu, bool nesterov) {
  if (!nesterov) return b;
  return form == MomentumForm::Sum ? g.add(b, mu) : g.lerp(b, mu);
}

class UpdateRule {
 public:
  virtual ~UpdateRule() = default;
  // The optimizer name this rule implements ("muon", "htmuon", …).
  virtual std::string name() const = 0;
  // O for the batch, (k, m, n), before lr × scale.
  virtual at::Tensor direction(const RuleBatch& batch, Cost* cost) const = 0;
  // What direction() spends on one m×n matrix at `step`.
  virtual Cost cost(int64_t m, int64_t n, int64_t step, const Orthogonalizer& ortho) const = 0;
  // The shape factor the step is multiplied by (Muon's rule by default).
  virtual double scale(double muon_scale, int64_t m, int64_t n) const {
    (void)m;
    (void)n;
    return muon_scale;
  }
  // True if direction() receives raw gradients and keeps its own momentum (Dion).
  virtual bool owns_momentum() const { return false; }
  // The momentum the optimizer forms for direction() (unless owns_momentum()).
  virtual MomentumForm momentum_form() const { return MomentumForm::Ema; }
  // True if direction() reads RuleBatch::W (an update-to-weight floor).
  virtual bool needs_weights() const { return false; }
  // "p=0.125 mode=svd", for tables and logs.
  virtual std::string describe() const { return name(); }
};

// Steepest descent in a norm: O = norm.dualize(M), with msign (where the map
// needs U Vᵀ) from the layer's orthogonalizer. Muon is the spectral norm's rule,
// RMNP the row-ℓ2 norm's, and every norm_entries() entry is "steepest-<name>".
class DualizeRule : public UpdateRule {
 public:
  DualizeRule(NormPtr norm, std::string name);
  std::string name() const override { return name_; }
  at::Tensor direction(const RuleBatch& batch, Cost* cost) const override;
  Cost cost(int64_t m, int64_t n, int64_t step, const Orthogonalizer& ortho) const override;
  std::string describe() const override;
  const Norm& norm() const { return *norm_; }

 private:
  NormPtr norm_;
  std::string name_;
};

// HTMuon (Findings ACL 2026): O = U (Σ/σ_max)^p Vᵀ at the norm of U Vᵀ.
//   mode "svd": exact SVD every step; "ns": msign(M)·(MᵀM)^{p/2} without SVD;
//   "interval": exact SVD on steps 1, 1+k, 1+2k, …, plain msign (Muon) between.
//   normalize = false gives the reference code's raw U Σ^p Vᵀ (no rescale; the
//   update's size then follows ‖M‖^p), for "svd" and "ns".
class HtMuonRule : public UpdateRule {
 public:
  HtMuonRule(double p, std::string mode, int interval, int sqrt_steps, bool normalize);
  std::string name() const override { return "htmuon"; }
  at::Tensor direction(const RuleBatch& batch, Cost* cost) const override;
  Cost cost(int64_t m, int64_t n, int64_t step, const Orthogonalizer& ortho) const override;
  std::string describe() const override;
  bool exact_at(int64_t step) const;

 private:
  double p_;
  std::string mode_;
  int interval_, sqrt_steps_;
  bool normalize_;
};

// DynMuon: the sigmoid schedule p(t) of dynmuon_exponent() over `total_steps`
// (t = the parameter's step), applied by `mode`:
//   "svd"    (ours) exact U (Σ/σ_max)^{p(t)} Vᵀ at the norm of U Vᵀ;
//   "taylor" the modded-nanogpt track-3 script: dynmuon_taylor() at every step
//            (msign alone where |p| < 1e-12), raw magnitude;
//   "staged" fzwark/DynMuon: the raw momentum while p ≥ 0.25, msign(M) for
//            0 ≤ p < 0.25, dynmuon_taylor() for p < 0; its momentum is the
//            reference's running sum (MomentumForm::Sum), whose size the raw
//            and ‖M‖^p phases step by.
// "taylor" and "staged" take msign from the layer's orthogonalizer.
class DynMuonRule : public UpdateRule {
 public:
  DynMuonRule(int64_t total_steps, double p_max, double p_min, double tau, double w,
              std::string mode);
  std::string name() const override { return "dynmuon"; }
  at::Tensor direction(const RuleBatch& batch, Cost* cost) const override;
  MomentumForm momentum_form() const override {
    return mode_ == "staged" ? MomentumForm::Sum : MomentumForm::Ema;
  }
  Cost cost(int64_t m, int64_t n, int64_t step, const Orthogonalizer& ortho) const override;
  std::string describe() const override;
  double exponent(int64_t step) const;

 private:
  int64_t total_steps_;
  double p_max_, p_min_, tau_, w_;
  std::string mode_;
};

// MuCon: M̂ = M·√r/‖M‖_F (RMS singular value 1), O = U min(Σ̂, τ) Vᵀ; mode "svd"
// or "msign" (the SVD-free formula, both msign by the layer's orthogonalizer).
class MuConRule : public UpdateRule {
 public:
  MuConRule(double tau, std::string mode);
  std::string name() const override { return "mucon"; }
  at::Tensor direction(const RuleBatch& batch, Cost* cost) const override;
  Cost cost(int64_t m, int64_t n, int64_t step, const Orthogonalizer& ortho) const override;
  std::string describe() const override;

 private:
  double tau_;
  std::string mode_;
};

// Contra-Muon: U = contra_msign(M, κ); mode "ns" (the layer's orthogonalizer and
// a power-iteration ‖M‖₂) or "svd" (exact σ ↦ 1 − (κ/2)σ/σ_max, rescaled). The
// rest of the modded-nanogpt record's recipe, off by default:
//   beta2 > 0: per-neuron variance normalization on the longer side (one EMA of
//     mean(U²) per row if m ≥ n, per column otherwise; buffer "neuron_second_moment",
//     zero start, no bias correction), U ← U/√max(v, 1e-10), Frobenius norm restored;
//   floor > 0: if ‖scale·U‖_F < floor·‖W‖_F, U is scaled up to that (needs W).
class ContraMuonRule : public UpdateRule {
 public:
  ContraMuonRule(double kappa, int power_iters, std::string mode, double beta2, double floor,
                 std::string name);
  std::string name() const override { return name_; }
  at::Tensor direction(const RuleBatch& batch, Cost* cost) const override;
  Cost cost(int64_t m, int64_t n, int64_t step, const Orthogonalizer& ortho) const override;
  bool needs_weights() const override { return floor_ > 0; }
  std::string describe() const override;

 private:
  double kappa_;
  int power_iters_;
  std::string mode_;
  double beta2_, floor_;
  std::string name_;
};

// Freon: O = (M Mᵀ)^{−c} M = U Σ^{1−2c} Vᵀ (c = 0 SGD direction, c = ½ Muon),
// exact SVD, at the norm of U Vᵀ.
class FreonRule : public UpdateRule {
 public:
  explicit FreonRule(double c);
  std::string name() const override { return "freon"; }
  at::Tensor direction(const RuleBatch& batch, Cost* cost) const override;
  Cost cost(int64_t m, int64_t n, int64_t step, const Orthogonalizer& ortho) const override;
  std::string describe() const override;

 private:
  double c_;
};

// Kaon: the chaotic iteration kaon(M, steps) (keeps U, V; scrambles Σ in [0, 1]).
class KaonRule : public UpdateRule {
 public:
  explicit KaonRule(int steps);
  std::string name() const override { return "kaon"; }
  at::Tensor direction(const RuleBatch& batch, Cost* cost) const override;
  Cost cost(int64_t m, int64_t n, int64_t step, const Orthogonalizer& ortho) const override;
  std::string describe() const override;

 private:
  int steps_;
};

// NorMuon: O = msign(M); v ← β₂v + (1−β₂)·mean_row(O²) (one value per output
// neuron, buffer "row_second_moment"); O ← O/(√v + eps), rescaled to ‖msign(M)‖_F.
class NorMuonRule : public UpdateRule {
 public:
  NorMuonRule(double beta2, double eps);
  std::string name() const override { return "normuon"; }
  at::Tensor direction(const RuleBatch& batch, Cost* cost) const override;
  Cost cost(int64_t m, int64_t n, int64_t step, const Orthogonalizer& ortho) const override;
  std::string describe() const override;

 private:
  double beta2_, eps_;
};

// AdaMuon: O = msign(sign(M)); v ← β₂v + (1−β₂)·O² (element-wise, buffer
// "second_moment"); O ← O/(√v + eps), then RMS(O) set to `rms` (0.2, AdamW's
// typical update RMS) — the scale is that RMS, not Muon's shape rule.
class AdaMuonRule : public UpdateRule {
 public:
  AdaMuonRule(double beta2, double eps, double rms);
  std::string name() const override { return "adamuon"; }
  at::Tensor direction(const RuleBatch& batch, Cost* cost) const override;
  Cost cost(int64_t m, int64_t n, int64_t step, const Orthogonalizer& ortho) const override;
  double scale(double muon_scale, int64_t m, int64_t n) const override;
  std::string describe() const override;

 private:
  double beta2_, eps_, rms_;
};

// Dion (Ahn et al. 2025, microsoft/dion): rank-r power iteration with error
// feedback. Per parameter: B ← B + G; P = QR(B·Q) (m×r); R = BᵀP (n×r);
// B ← B − (1−μ)·P·Rᵀ; Q ← colnorm(R); O = P·Qᵀ, scaled by √(m/n).
// Buffers "momentum_buffer" (m×n) and "dion_q" (n×r, seeded deterministically).
// rank 0 → max(1, round(rank_fraction·min(m, n))).
class DionRule : public UpdateRule {
 public:
  DionRule(int64_t rank, double rank_fraction);
  std::string name() const override { return "dion"; }
  at::Tensor direction(const RuleBatch& batch, Cost* cost) const override;
  Cost cost(int64_t m, int64_t n, int64_t step, const Orthogonalizer& ortho) const override;
  double scale(double muon_scale, int64_t m, int64_t n) const override;
  bool owns_momentum() const override { return true; }
  std::string describe() const override;
  int64_t rank_for(int64_t m, int64_t n) const;

 private:
  int64_t rank_;
  double rank_fraction_;
};

}  // namespace steepest
