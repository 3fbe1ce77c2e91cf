// DynMuon's staged mode against a port of fzwark/DynMuon's update
// (dynmuon/dynmuon.py: DynMuon.step, muon_update_pre_orthogonalize,
// dynmuon_spectral_transform, fast_spectral, muon_update_post_orthogonalize;
// dynmuon/newton_schulz_triton.py for msign), stepped side by side for 20 steps
// in fp64 so that only the algorithm is compared (the reference casts the
// msign input to bf16: `--opt dtype=bf16` here).
#include <gtest/gtest.h>

#include <cmath>

#include "steepest/optim/registry.h"
#include "test_util.h"

namespace steepest {
namespace {

using testing::rel_err;

struct ReferenceRecipe {
  double lr = 0.01, mu = 0.95, wd = 0.01;
  bool nesterov = false;
  int64_t total_steps = 20;
  double p_max = 1.0, p_min = -0.25, tau = 0.3, w = 0.1;
};

// Logistic_Scheduler.get_p at the 1-based step.
double reference_p(const ReferenceRecipe& r, int64_t step) {
  const double u = (static_cast<double>(step) / static_cast<double>(r.total_steps) - r.tau) /
                   std::max(r.w, 1e-8);
  return r.p_min + (r.p_max - r.p_min) / (1.0 + std::exp(u));
}

// newton_schulz_triton without the bf16 cast: on the wide orientation,
// X/(‖X‖_F + eps), five tuned quintics. The msign phase passes the group's
// epsilon (1e-8), fast_spectral its own default (1e-7).
at::Tensor reference_msign(const at::Tensor& G, double eps) {
  const bool tall = G.size(-2) > G.size(-1);
  at::Tensor X = tall ? G.mT() : G;
  X = X / (X.norm() + eps);
  const double k[5][3] = {{4.0848, -6.8946, 2.9270},
                          {3.9505, -6.3029, 2.6377},
                          {3.7418, -5.5913, 2.3037},
                          {2.8769, -3.1427, 1.2046},
                          {2.8366, -3.0525, 1.2012}};
  for (const auto& c : k) {
    const at::Tensor A = at::matmul(X, X.mT());
    const at::Tensor B = c[1] * A + c[2] * at::matmul(A, A);
    X = c[0] * X + at::matmul(B, X);
  }
  return tall ? X.mT() : X;
}

// fast_spectral(order=2): C·msign(Xn)·(‖X‖_F + eps)^p, C = I + δE + ½δ(δ−1)E².
at::Tensor reference_fast_spectral(const at::Tensor& G, double p, double eps = 1e-7) {
  const bool tall = G.size(-2) > G.size(-1);
  const at::Tensor X = tall ? G.mT() : G;
  const at::Tensor scale = X.norm() + eps;
  const at::Tensor Xn = X / scale;
  const at::Tensor Y = reference_msign(Xn, eps);
  const at::Tensor A = at::matmul(Xn, Xn.mT());
  const at::Tensor I = at::eye(A.size(-1), A.options());
  const double d = 0.5 * p;
  const at::Tensor E = A - I;
  const at::Tensor C = I + d * E + 0.5 * d * (d - 1.0) * at::matmul(E, E);
  const at::Tensor U = at::matmul(C, Y) * scale.pow(p);
  return tall ? U.mT() : U;
}

// One reference step of weight W (fan_out × fan_in) with momentum M.
void reference_step(const ReferenceRecipe& r, int64_t step, at::Tensor& W, at::Tensor& M,
                    const at::Tensor& G) {
  M.mul_(r.mu).add_(G);
  const at::Tensor U = r.nesterov ? M * r.mu + G : M;
  const double p = reference_p(r, step);
  const at::Tensor O = p >= 0.25  ? U
                       : p >= 0.0 ? reference_msign(U, 1e-8)
                                  : reference_fast_spectral(U, p);
  const double adjusted = r.lr * std::sqrt(static_cast<double>(W.size(0)) / W.size(1));
  W.mul_(1.0 - r.lr * r.wd);
  W.sub_(O * adjusted);
}

void expect_matches_reference(int64_t m, int64_t n, bool nesterov) {
  ReferenceRecipe r;
  r.nesterov = nesterov;
  at::manual_seed(11);
  const auto f64 = at::TensorOptions().dtype(at::kDouble);
  at::Tensor ref_W = at::randn({m, n}, f64) / std::sqrt(static_cast<double>(n));
  at::Tensor ref_M = at::zeros_like(ref_W);
  at::Tensor W = ref_W.clone();
  auto opt = make_optimizer("dynmuon", {{"w", W}}, r.lr,
                            {{"mode", "staged"},
                             {"nesterov", nesterov},
                             {"orthogonalizer", "dion"},
                             {"dtype", "fp64"},
                             {"scale", "spectral"},
                             {"p_max", r.p_max},
                             {"p_min", r.p_min},
                             {"tau", r.tau},
                             {"w", r.w}},
                            r.total_steps, r.wd);
  bool phases[3] = {false, false, false};  // raw, msign, Taylor
  for (int64_t t = 1; t <= r.total_steps; ++t) {
    const at::Tensor G = at::randn({m, n}, f64);
    const double p = reference_p(r, t);
    phases[p >= 0.25 ? 0 : p >= 0.0 ? 1 : 2] = true;
    W.mutable_grad() = G.clone();
    opt->step();
    reference_step(r, t, ref_W, ref_M, G);
    // The reference adds eps to ‖M‖_F where we clamp it: 1e-7/‖M‖_F apart.
    ASSERT_LT(rel_err(W, ref_W), 1e-7)
        << m << "x" << n << " nesterov=" << nesterov << " step " << t << " p=" << p;
  }
  EXPECT_TRUE(phases[0] && phases[1] && phases[2]) << "the schedule must cross all three phases";
}

TEST(DynMuonReference, StagedModeMatchesThePortOver20Steps) {
  for (bool nesterov : {false, true}) {
    expect_matches_reference(16, 8, nesterov);
    expect_matches_reference(8, 24, nesterov);
  }
}

}  // namespace
}  // namespace steepest
