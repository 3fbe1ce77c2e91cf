#include "steepest/norms/duality_maps.h"

#include <c10/util/Exception.h>

#include <cmath>

#include <functional>

#include "steepest/linalg/polar_svd.h"
#include "steepest/linalg/spectral_maps.h"

namespace steepest {
namespace {

void check_matrix(const at::Tensor& W, const char* fn) {
  TORCH_CHECK(W.defined() && W.dim() == 2, fn, ": expects a matrix (n_out, n_in), got ",
              W.defined() ? W.sizes() : at::IntArrayRef{}, "; flatten conv weights to 2-D first");
  TORCH_CHECK(at::isFloatingType(W.scalar_type()), fn, ": expects a floating tensor, got ",
              W.scalar_type());
}

// Duality maps take one matrix or a (k, m, n) batch.
void check_matrices(const at::Tensor& G, const char* fn) {
  TORCH_CHECK(G.defined() && (G.dim() == 2 || G.dim() == 3), fn,
              ": expects a matrix (n_out, n_in) or a batch (k, n_out, n_in), got ",
              G.defined() ? G.sizes() : at::IntArrayRef{}, "; flatten conv weights to 2-D first");
  TORCH_CHECK(at::isFloatingType(G.scalar_type()), fn, ": expects a floating tensor, got ",
              G.scalar_type());
}

void check_q(double q, const char* fn) {
  TORCH_CHECK(q > 1.0 && std::isfinite(q), fn, ": Schatten q must be in (1, inf), got ", q,
              "; q = 2 is Frobenius, q -> inf is spectral");
}

// x / n where n > 0, else 0: zero inputs dualize to zero rather than NaN.
at::Tensor safe_divide(const at::Tensor& x, const at::Tensor& n) {
  return at::where(n > 0, x / at::where(n > 0, n, at::ones_like(n)), at::zeros_like(x));
}

// Norms are absolutely homogeneous and duality maps scale-invariant, so each
// is computed on x/2^e with 2^e ≤ max|x| < 2^(e+1) over the entries that a
// norm combines (a matrix, a row or a column): in fp32 the squares of entries
// near 1e20 overflow and σ^(1/(q−1)) of small σ underflows, which turned the
// Frobenius, row and column maps of G ~ 1e30 into 0 and Schatten's near q = 1
// into 0 or NaN. Powers of two scale exactly. 1 where the max is 0 or not finite.
at::Tensor power_of_two_scale(const at::Tensor& x, at::IntArrayRef dims) {
  const at::Tensor m = x.abs().amax(dims, /*keepdim=*/true);
  const at::Tensor ok = (m > 0).logical_and(at::isfinite(m));
  return at::where(ok, at::exp2(at::floor(at::log2(at::where(ok, m, at::ones_like(m))))),
                   at::ones_like(m));
}

// ‖x‖₂ over `dims` (kept), computed on the scaled entries.
at::Tensor scaled_l2(const at::Tensor& x, at::IntArrayRef dims) {
  const at::Tensor s = power_of_two_scale(x, dims);
  return at::linalg_vector_norm(x / s, 2, dims, /*keepdim=*/true) * s;
}

// f of the singular values of the matrix W/2^e, times 2^e (f homogeneous).
at::Tensor scaled_svdvals_norm(const at::Tensor& W,
                               const std::function<at::Tensor(const at::Tensor&)>& f) {
  const at::Tensor s = power_of_two_scale(W, {-2, -1});
  return f(at::linalg_svdvals(W / s)) * s.squeeze();
}

double rms_factor(const at::Tensor& W) {  // √(n_out/n_in)
  return std::sqrt(double(W.size(-2)) / double(W.size(-1)));
}

double sqrt_fan_in(const at::Tensor& W) {
  return std::sqrt(double(W.size(-1)));
}

}  // namespace

at::Tensor frobenius_norm(const at::Tensor& W) {
  check_matrix(W, "frobenius_norm");
  return scaled_l2(W, {-2, -1}).squeeze();
}
at::Tensor dualize_frobenius(const at::Tensor& G) {
  check_matrices(G, "dualize_frobenius");
  return safe_divide(G, scaled_l2(G, {-2, -1}));
}

at::Tensor linf_norm(const at::Tensor& W) {
  check_matrix(W, "linf_norm");
  return W.abs().max();
}
at::Tensor l1_norm(const at::Tensor& G) {
  check_matrix(G, "l1_norm");
  return G.abs().sum();
}
at::Tensor dualize_linf(const at::Tensor& G) {
  check_matrices(G, "dualize_linf");
  return G.sign();
}

at::Tensor spectral_norm(const at::Tensor& W) {
  check_matrix(W, "spectral_norm");
  return scaled_svdvals_norm(W, [](const at::Tensor& s) { return s.max(); });
}
at::Tensor nuclear_norm(const at::Tensor& G) {
  check_matrix(G, "nuclear_norm");
  return scaled_svdvals_norm(G, [](const at::Tensor& s) { return s.sum(); });
}
at::Tensor dualize_spectral(const at::Tensor& G, Cost* cost) {
  check_matrices(G, "dualize_spectral");
  return polar_svd(G, cost);
}

at::Tensor rms_rms_norm(const at::Tensor& W) {
  return steepest::spectral_norm(W) / rms_factor(W);
}
at::Tensor rms_rms_dual_norm(const at::Tensor& G) {
  return steepest::nuclear_norm(G) * rms_factor(G);
}
at::Tensor dualize_rms_rms(const at::Tensor& G, Cost* cost) {
  return dualize_spectral(G, cost) * rms_factor(G);
}

at::Tensor row_l2_norm(const at::Tensor& W) {
  check_matrix(W, "row_l2_norm");
  return scaled_l2(W, {1}).max();
}
at::Tensor row_l2_dual_norm(const at::Tensor& G) {
  check_matrix(G, "row_l2_dual_norm");
  return scaled_l2(G, {1}).sum();
}
at::Tensor dualize_row_l2(const at::Tensor& G) {
  check_matrices(G, "dualize_row_l2");
  return safe_divide(G, scaled_l2(G, {-1}));
}

at::Tensor row_rms_norm(const at::Tensor& W) {
  return row_l2_norm(W) / sqrt_fan_in(W);
}
at::Tensor row_rms_dual_norm(const at::Tensor& G) {
  return row_l2_dual_norm(G) * sqrt_fan_in(G);
}
at::Tensor dualize_row_rms(const at::Tensor& G) {
  return dualize_row_l2(G) * sqrt_fan_in(G);
}

at::Tensor col_l2_norm(const at::Tensor& W) {
  check_matrix(W, "col_l2_norm");
  return scaled_l2(W, {0}).max();
}
at::Tensor col_l2_dual_norm(const at::Tensor& G) {
  check_matrix(G, "col_l2_dual_norm");
  return scaled_l2(G, {0}).sum();
}
at::Tensor dualize_col_l2(const at::Tensor& G) {
  check_matrices(G, "dualize_col_l2");
  return safe_divide(G, scaled_l2(G, {-2}));
}

at::Tensor schatten_norm(const at::Tensor& W, double q) {
  check_matrix(W, "schatten_norm");
  check_q(q, "schatten_norm");
  return scaled_svdvals_norm(W, [q](const at::Tensor& s) { return at::linalg_vector_norm(s, q); });
}
at::Tensor schatten_dual_norm(const at::Tensor& G, double q) {
  check_matrix(G, "schatten_dual_norm");
  check_q(q, "schatten_dual_norm");
  return scaled_svdvals_norm(
      G, [q](const at::Tensor& s) { return at::linalg_vector_norm(s, q / (q - 1.0)); });
}
at::Tensor dualize_schatten(const at::Tensor& G, double q, Cost* cost) {
  check_matrices(G, "dualize_schatten");
  check_q(q, "dualize_schatten");
  return svd_power(G, 1.0 / (q - 1.0), q, cost);
}

}  // namespace steepest
