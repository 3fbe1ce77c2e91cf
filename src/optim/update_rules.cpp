#include <c10/util/Exception.h>

#include <cmath>
#include <sstream>

#include "linalg/gemm.h"
#include "steepest/linalg/newton_schulz.h"
#include "steepest/linalg/polar_svd.h"
#include "steepest/linalg/spectral_maps.h"
#include "steepest/optim/update_rule.h"

namespace steepest {
namespace {

const Orthogonalizer& ortho_of(const RuleBatch& b) {
  TORCH_CHECK(b.ortho != nullptr, "update rule: RuleBatch.ortho is not set");
  return *b.ortho;
}

void check_mode(const std::string& rule, const std::string& mode,
                std::initializer_list<const char*> valid) {
  std::string known;
  for (const char* v : valid) {
    if (mode == v) return;
    known += (known.empty() ? "" : ", ") + std::string(v);
  }
  TORCH_CHECK(false, rule, ": unknown mode '", mode, "'; valid: ", known);
}

std::string fmt(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

// Frobenius norm of each matrix of a (k, m, n) batch, keepdim.
at::Tensor fro(const at::Tensor& x) {
  return at::linalg_vector_norm(x, 2, {-2, -1}, /*keepdim=*/true);
}

// Per-neuron second moment of O (k, m, n): for each matrix i, the EMA
// v ← lerp(v, mean(O_i²), 1−β₂) in states[i]'s buffer `name` (zero start), one
// value per row (per_row) or per column. Returns the k vectors stacked as
// (k, m, 1) or (k, 1, n), to broadcast against O.
at::Tensor neuron_second_moment(const RuleBatch& b, const at::Tensor& O, double beta2, bool per_row,
                                const char* name) {
  std::vector<at::Tensor> vs;
  for (size_t i = 0; i < b.states.size(); ++i) {
    const at::Tensor Oi = O[static_cast<int64_t>(i)];
    auto& v = b.states[i]->buffers[name];
    if (!v.defined()) v = at::zeros({per_row ? Oi.size(0) : Oi.size(1)}, O.options());
    v.lerp_(Oi.square().mean(per_row ? -1 : 0), 1.0 - beta2);
    vs.push_back(v);
  }
  return at::stack(vs).unsqueeze(per_row ? -1 : -2);
}

}  // namespace

// --- Duality maps (Muon, RMNP, steepest-<norm>) -------------------------------------------------

DualizeRule::DualizeRule(NormPtr norm, std::string name)
    : norm_(std::move(norm)), name_(std::move(name)) {
  TORCH_CHECK(norm_ != nullptr, "DualizeRule '", name_, "': no norm given");
}

at::Tensor DualizeRule::direction(const RuleBatch& b, Cost* cost) const {
  return norm_->dualize(b.M, b.ortho, cost);
}

Cost DualizeRule::cost(int64_t m, int64_t n, int64_t, const Orthogonalizer& ortho) const {
  return norm_->cost(m, n, &ortho);
}

std::string DualizeRule::describe() const {
  return name_ + " norm=" + norm_->name();
}

// --- HTMuon -------------------------------------------------------------------------------------

HtMuonRule::HtMuonRule(double p, std::string mode, int interval, int sqrt_steps, bool normalize)
    : p_(p),
      mode_(std::move(mode)),
      interval_(interval),
      sqrt_steps_(sqrt_steps),
      normalize_(normalize) {
  check_mode("htmuon", mode_, {"svd", "ns", "interval"});
  TORCH_CHECK(p_ > 0 && p_ <= 1, "htmuon: p must be in (0, 1], got ", p_,
              " (p = 1/(q-1) for the Schatten-q norm)");
  TORCH_CHECK(interval_ >= 1, "htmuon: interval must be >= 1, got ", interval_);
  TORCH_CHECK(sqrt_steps_ >= 1, "htmuon: sqrt_steps must be >= 1, got ", sqrt_steps_);
  TORCH_CHECK(normalize_ || mode_ != "interval",
              "htmuon: normalize=false (the reference's raw U S^p V^T) needs mode svd or ns; "
              "interval mode alternates with msign, whose scale would not match");
}

bool HtMuonRule::exact_at(int64_t step) const {
  return mode_ == "svd" || (mode_ == "interval" && (step - 1) % interval_ == 0);
}

at::Tensor HtMuonRule::direction(const RuleBatch& b, Cost* cost) const {
  if (mode_ == "ns")
    return spectral_power_ns(b.M, p_, ortho_of(b), sqrt_steps_, 6, cost, normalize_);
  if (!normalize_) return svd_power(b.M, p_, /*schatten_q=*/0.0, cost);
  if (exact_at(b.step)) return spectral_power_svd(b.M, p_, cost);
  return ortho_of(b)(b.M, cost);
}

Cost HtMuonRule::cost(int64_t m, int64_t n, int64_t step, const Orthogonalizer& ortho) const {
  if (mode_ == "ns") return spectral_power_ns_cost(m, n, p_, ortho, sqrt_steps_, 6);
  return exact_at(step) ? polar_svd_cost(m, n) : ortho.cost(m, n);
}

std::string HtMuonRule::describe() const {
  return "htmuon p=" + fmt(p_) + " mode=" + mode_ +
         (mode_ == "interval" ? " interval=" + std::to_string(interval_) : "") +
         (normalize_ ? "" : " normalize=false");
}

// --- DynMuon ------------------------------------------------------------------------------------

DynMuonRule::DynMuonRule(int64_t total_steps, double p_max, double p_min, double tau, double w,
                         std::string mode)
    : total_steps_(total_steps),
      p_max_(p_max),
      p_min_(p_min),
      tau_(tau),
      w_(w),
      mode_(std::move(mode)) {
  check_mode("dynmuon", mode_, {"svd", "taylor", "staged"});
  TORCH_CHECK(total_steps_ > 0, "dynmuon: total_steps must be > 0 (the length of training), got ",
              total_steps_);
  TORCH_CHECK(w_ > 0, "dynmuon: w must be > 0, got ", w_);
}

double DynMuonRule::exponent(int64_t step) const {
  return dynmuon_exponent(step, total_steps_, p_max_, p_min_, tau_, w_);
}

namespace {
// The branch a reference mode takes at exponent p.
enum class DynBranch { Svd, Raw, Msign, Taylor };
DynBranch dyn_branch(const std::string& mode, double p) {
  if (mode == "svd") return DynBranch::Svd;
  if (mode == "taylor") return std::abs(p) < 1e-12 ? DynBranch::Msign : DynBranch::Taylor;
  // fzwark/DynMuon's stages.
  if (p >= 0.25) return DynBranch::Raw;
  return p >= 0.0 ? DynBranch::Msign : DynBranch::Taylor;
}
}  // namespace

at::Tensor DynMuonRule::direction(const RuleBatch& b, Cost* cost) const {
  const double p = exponent(b.step);
  switch (dyn_branch(mode_, p)) {
    case DynBranch::Svd:
      return spectral_power_svd(b.M, p, cost);
    case DynBranch::Raw:
      return b.M;
    case DynBranch::Msign:
      return ortho_of(b)(b.M, cost);
    case DynBranch::Taylor:
      break;
  }
  return dynmuon_taylor(b.M, p, ortho_of(b), cost);
}

Cost DynMuonRule::cost(int64_t m, int64_t n, int64_t step, const Orthogonalizer& ortho) const {
  switch (dyn_branch(mode_, exponent(step))) {
    case DynBranch::Svd:
      return polar_svd_cost(m, n);
    case DynBranch::Raw:
      return {};
    case DynBranch::Msign:
      return ortho.cost(m, n);
    case DynBranch::Taylor:
      break;
  }
  return dynmuon_taylor_cost(m, n, ortho);
}

std::string DynMuonRule::describe() const {
  return "dynmuon T=" + std::to_string(total_steps_) + " p_max=" + fmt(p_max_) +
         " p_min=" + fmt(p_min_) + " tau=" + fmt(tau_) + " w=" + fmt(w_) + " mode=" + mode_;
}

// --- MuCon --------------------------------------------------------------------------------------

MuConRule::MuConRule(double tau, std::string mode) : tau_(tau), mode_(std::move(mode)) {
  check_mode("mucon", mode_, {"svd", "msign"});
  TORCH_CHECK(tau_ > 0, "mucon: tau must be > 0, got ", tau_);
}

at::Tensor MuConRule::direction(const RuleBatch& b, Cost* cost) const {
  // RMS singular value 1: σ̂ = σ·√r/‖M‖_F, so τ = 1 clips the above-average directions.
  const double r = static_cast<double>(std::min(b.M.size(-1), b.M.size(-2)));
  const at::Tensor Mh = detail::frobenius_normalize(b.M, 1.0 / std::sqrt(r), 1e-30);
  if (mode_ == "svd") return clip_spectrum_svd(Mh, tau_, cost);
  return clip_spectrum_msign(Mh, tau_, ortho_of(b), cost);
}

Cost MuConRule::cost(int64_t m, int64_t n, int64_t, const Orthogonalizer& ortho) const {
  return mode_ == "svd" ? polar_svd_cost(m, n) : clip_spectrum_msign_cost(m, n, ortho);
}

std::string MuConRule::describe() const {
  return "mucon tau=" + fmt(tau_) + " mode=" + mode_;
}

// --- Contra-Muon --------------------------------------------------------------------------------

ContraMuonRule::ContraMuonRule(double kappa, int power_iters, std::string mode, double beta2,
                               double floor, std::string name)
    : kappa_(kappa),
      power_iters_(power_iters),
      mode_(std::move(mode)),
      beta2_(beta2),
      floor_(floor),
      name_(std::move(name)) {
  check_mode("contra-muon", mode_, {"ns", "svd"});
  TORCH_CHECK(kappa_ >= 0 && kappa_ < 2, "contra-muon: kappa must be in [0, 2), got ", kappa_);
  TORCH_CHECK(power_iters_ >= 1, "contra-muon: power_iters must be >= 1, got ", power_iters_);
  TORCH_CHECK(beta2_ >= 0 && beta2_ < 1, "contra-muon: beta2 must be in [0, 1) (0 = off), got ",
              beta2_);
  TORCH_CHECK(floor_ >= 0, "contra-muon: floor must be >= 0 (0 = off), got ", floor_);
}

at::Tensor ContraMuonRule::direction(const RuleBatch& b, Cost* cost) const {
  at::Tensor U;
  if (mode_ == "ns") {
    U = contra_msign(b.M, kappa_, ortho_of(b), power_iters_, cost);
  } else {
    const double k = kappa_;
    U = shaped_spectrum_svd(
        b.M, [k](const at::Tensor& rel) { return 1.0 - (k / 2.0) * rel; }, cost);
  }
  if (beta2_ > 0) {
    // The record's NorMuon-lite: one second moment per neuron of the longer side.
    const bool per_row = b.M.size(1) >= b.M.size(2);
    const at::Tensor before = fro(U);
    const at::Tensor v = neuron_second_moment(b, U, beta2_, per_row, "neuron_second_moment");
    U = U * v.clamp_min(1e-10).rsqrt();
    U = U * before / fro(U).clamp_min(1e-30);
  }
  if (floor_ > 0) {
    TORCH_CHECK(b.W.defined() && b.W.sizes() == U.sizes(),
                "contra-muon: floor needs the weights in RuleBatch::W, shape ", U.sizes());
    // ‖scale·U‖_F ≥ floor·‖W‖_F: a weight never moves by less than this relative step.
    const at::Tensor want = fro(b.W.to(U.scalar_type())) * (floor_ / b.scale);
    U = U * at::clamp_min(want / fro(U).clamp_min(1e-30), 1.0);
  }
  return U;
}

Cost ContraMuonRule::cost(int64_t m, int64_t n, int64_t, const Orthogonalizer& ortho) const {
  return mode_ == "ns" ? contra_msign_cost(m, n, ortho, power_iters_) : polar_svd_cost(m, n);
}

std::string ContraMuonRule::describe() const {
  std::string d = name_ + " kappa=" + fmt(kappa_) + " mode=" + mode_;
  if (beta2_ > 0) d += " beta2=" + fmt(beta2_);
  if (floor_ > 0) d += " floor=" + fmt(floor_);
  return d;
}

// --- Freon / Kaon -------------------------------------------------------------------------------

FreonRule::FreonRule(double c) : c_(c) {
  TORCH_CHECK(std::isfinite(c_) && c_ >= 0 && c_ <= 1.5, "freon: c must be in [0, 1.5], got ", c_);
}

at::Tensor FreonRule::direction(const RuleBatch& b, Cost* cost) const {
  return spectral_power_svd(b.M, 1.0 - 2.0 * c_, cost);
}

Cost FreonRule::cost(int64_t m, int64_t n, int64_t, const Orthogonalizer&) const {
  return polar_svd_cost(m, n);
}

std::string FreonRule::describe() const {
  return "freon c=" + fmt(c_);
}

KaonRule::KaonRule(int steps) : steps_(steps) {
  TORCH_CHECK(steps_ >= 1, "kaon: steps must be >= 1, got ", steps_);
}

at::Tensor KaonRule::direction(const RuleBatch& b, Cost* cost) const {
  return kaon(b.M, steps_, cost);
}

Cost KaonRule::cost(int64_t m, int64_t n, int64_t, const Orthogonalizer&) const {
  return newton_schulz_cost(m, n, kaon_schedule(steps_));
}

std::string KaonRule::describe() const {
  return "kaon steps=" + std::to_string(steps_);
}

// --- NorMuon / AdaMuon --------------------------------------------------------------------------

NorMuonRule::NorMuonRule(double beta2, double eps) : beta2_(beta2), eps_(eps) {
  TORCH_CHECK(beta2_ >= 0 && beta2_ < 1, "normuon: beta2 must be in [0, 1), got ", beta2_);
  TORCH_CHECK(eps_ > 0, "normuon: eps must be > 0, got ", eps_);
}

at::Tensor NorMuonRule::direction(const RuleBatch& b, Cost* cost) const {
  at::Tensor O = ortho_of(b)(b.M, cost);
  const at::Tensor target = fro(O);
  const at::Tensor v = neuron_second_moment(b, O, beta2_, /*per_row=*/true, "row_second_moment");
  O = O / (v.sqrt() + eps_);
  return O * target / fro(O).clamp_min(1e-30);
}

Cost NorMuonRule::cost(int64_t m, int64_t n, int64_t, const Orthogonalizer& ortho) const {
  return ortho.cost(m, n);
}

std::string NorMuonRule::describe() const {
  return "normuon beta2=" + fmt(beta2_);
}

AdaMuonRule::AdaMuonRule(double beta2, double eps, double rms)
    : beta2_(beta2), eps_(eps), rms_(rms) {
  TORCH_CHECK(beta2_ >= 0 && beta2_ < 1, "adamuon: beta2 must be in [0, 1), got ", beta2_);
  TORCH_CHECK(eps_ > 0, "adamuon: eps must be > 0, got ", eps_);
  TORCH_CHECK(rms_ > 0, "adamuon: rms must be > 0, got ", rms_);
}

at::Tensor AdaMuonRule::direction(const RuleBatch& b, Cost* cost) const {
  at::Tensor O = ortho_of(b)(b.M.sign(), cost);
  std::vector<at::Tensor> vs;
  for (size_t i = 0; i < b.states.size(); ++i) {
    auto& v = b.states[i]->buffers["second_moment"];
    if (!v.defined()) v = at::zeros(b.M.sizes().slice(1), b.M.options());
    v.lerp_(O[static_cast<int64_t>(i)].square(), 1.0 - beta2_);
    vs.push_back(v);
  }
  O = O / (at::stack(vs).sqrt() + eps_);
  // RMS(O) = rms: ‖O‖_F = rms·√(m·n).
  const double target = rms_ * std::sqrt(static_cast<double>(b.M.size(1) * b.M.size(2)));
  return O * target / fro(O).clamp_min(1e-30);
}

Cost AdaMuonRule::cost(int64_t m, int64_t n, int64_t, const Orthogonalizer& ortho) const {
  return ortho.cost(m, n);
}

double AdaMuonRule::scale(double, int64_t, int64_t) const {
  return 1.0;
}

std::string AdaMuonRule::describe() const {
  return "adamuon beta2=" + fmt(beta2_) + " rms=" + fmt(rms_);
}

// --- Dion ---------------------------------------------------------------------------------------

DionRule::DionRule(int64_t rank, double rank_fraction)
    : rank_(rank), rank_fraction_(rank_fraction) {
  TORCH_CHECK(rank_ >= 0, "dion: rank must be >= 0 (0: rank_fraction·min(m, n)), got ", rank_);
  TORCH_CHECK(rank_fraction_ > 0 && rank_fraction_ <= 1,
              "dion: rank_fraction must be in (0, 1], got ", rank_fraction_);
}

int64_t DionRule::rank_for(int64_t m, int64_t n) const {
  const int64_t r = std::min(m, n);
  if (rank_ > 0) return std::min(rank_, r);
  return std::max<int64_t>(1, std::llround(rank_fraction_ * static_cast<double>(r)));
}

at::Tensor DionRule::direction(const RuleBatch& b, Cost* cost) const {
  const int64_t m = b.M.size(1), n = b.M.size(2), r = rank_for(m, n);
  std::vector<at::Tensor> out;
  for (size_t i = 0; i < b.states.size(); ++i) {
    auto& buffers = b.states[i]->buffers;
    auto& B = buffers["momentum_buffer"];
    auto& Q = buffers["dion_q"];
    if (!B.defined()) B = at::zeros({m, n}, b.M.options());
    if (!Q.defined()) {
      // Deterministic start: same shape → same Q₀, whatever the global RNG did.
      auto gen = at::make_generator<at::CPUGeneratorImpl>(0x5eed + 1000003 * m + n);
      Q = at::randn({n, r}, gen, at::TensorOptions().dtype(at::kFloat)).to(b.M.options());
      Q = Q / at::linalg_vector_norm(Q, 2, {0}, true);
    }
    B.add_(b.M[static_cast<int64_t>(i)]);
    const at::Tensor P = std::get<0>(at::linalg_qr(detail::matmul(B, Q, cost)));  // m×r
    if (cost != nullptr) {
      // Householder QR of m×r: 2·m·r² − (2/3)·r³ (Golub & Van Loan).
      const double dm = static_cast<double>(m), dr = static_cast<double>(r);
      cost->other_flops += 2.0 * dm * dr * dr - 2.0 / 3.0 * dr * dr * dr;
    }
    const at::Tensor R = detail::matmul(detail::mT(B), P, cost);  // n×r
    B = detail::gemm(B, P, detail::mT(R), 1.0, -(1.0 - b.momentum), cost);
    Q = R / at::linalg_vector_norm(R, 2, {0}, true).clamp_min(1e-30);
    out.push_back(detail::matmul(P, detail::mT(Q), cost));
  }
  return at::stack(out);
}

Cost DionRule::cost(int64_t m, int64_t n, int64_t, const Orthogonalizer&) const {
  const int64_t r = rank_for(m, n);
  Cost c;
  count_gemm(&c, m, n, r);
  count_gemm(&c, n, m, r);
  count_gemm(&c, m, r, n);
  count_gemm(&c, m, r, n);
  const double dm = static_cast<double>(m), dr = static_cast<double>(r);
  c.other_flops = 2.0 * dm * dr * dr - 2.0 / 3.0 * dr * dr * dr;
  return c;
}

double DionRule::scale(double, int64_t m, int64_t n) const {
  return std::sqrt(static_cast<double>(m) / static_cast<double>(n));
}

std::string DionRule::describe() const {
  return rank_ > 0 ? "dion rank=" + std::to_string(rank_)
                   : "dion rank_fraction=" + fmt(rank_fraction_);
}

}  // namespace steepest
