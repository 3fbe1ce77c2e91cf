#include "steepest/norms/duality_maps.h"

#include <c10/util/Exception.h>

#include <cmath>

#include <functional>

#include "linalg/gemm.h"
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

// A norm is absolutely homogeneous and a duality map scale-invariant, so both
// are evaluated on G/max|G| (per matrix of a batch): in fp32, squares of
// entries near 1e20 overflow and powers σ^(1/(q−1)) of small σ underflow,
// which turned Frobenius, row and column maps of G ~ 1e30 into 0. A zero or
// non-finite G is passed through unscaled.
at::Tensor on_unit_scale(const at::Tensor& G, const std::function<at::Tensor(const at::Tensor&)>& f,
                         bool homogeneous) {
  const at::Tensor m = detail::max_abs_scale(G);
  const at::Tensor out = f(G / m);
  if (!homogeneous) return out;
  // A norm's value is a scalar: the matrix's (single) scale, in double so
  // that a representable result is not lost to an fp32 product's rounding.
  return (out.to(at::kDouble) * m.to(at::kDouble).reshape(out.sizes())).to(out.scalar_type());
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
  return on_unit_scale(
      W, [](const at::Tensor& x) { return at::linalg_vector_norm(x, 2); }, true);
}
at::Tensor dualize_frobenius(const at::Tensor& G) {
  check_matrices(G, "dualize_frobenius");
  return on_unit_scale(
      G,
      [](const at::Tensor& x) {
        return safe_divide(x, at::linalg_vector_norm(x, 2, {-2, -1}, /*keepdim=*/true));
      },
      false);
}

at::Tensor linf_norm(const at::Tensor& W) {
  check_matrix(W, "linf_norm");
  return W.abs().max();
}
at::Tensor l1_norm(const at::Tensor& G) {
  check_matrix(G, "l1_norm");
  return on_unit_scale(
      G, [](const at::Tensor& x) { return x.abs().sum(); }, true);
}
at::Tensor dualize_linf(const at::Tensor& G) {
  check_matrices(G, "dualize_linf");
  return G.sign();
}

at::Tensor spectral_norm(const at::Tensor& W) {
  check_matrix(W, "spectral_norm");
  return on_unit_scale(
      W, [](const at::Tensor& x) { return at::linalg_svdvals(x).max(); }, true);
}
at::Tensor nuclear_norm(const at::Tensor& G) {
  check_matrix(G, "nuclear_norm");
  return on_unit_scale(
      G, [](const at::Tensor& x) { return at::linalg_svdvals(x).sum(); }, true);
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
  return on_unit_scale(
      W, [](const at::Tensor& x) { return at::linalg_vector_norm(x, 2, at::IntArrayRef{1}).max(); },
      true);
}
at::Tensor row_l2_dual_norm(const at::Tensor& G) {
  check_matrix(G, "row_l2_dual_norm");
  return on_unit_scale(
      G, [](const at::Tensor& x) { return at::linalg_vector_norm(x, 2, at::IntArrayRef{1}).sum(); },
      true);
}
at::Tensor dualize_row_l2(const at::Tensor& G) {
  check_matrices(G, "dualize_row_l2");
  return on_unit_scale(
      G,
      [](const at::Tensor& x) {
        return safe_divide(x, at::linalg_vector_norm(x, 2, at::IntArrayRef{-1}, /*keepdim=*/true));
      },
      false);
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
  return on_unit_scale(
      W, [](const at::Tensor& x) { return at::linalg_vector_norm(x, 2, at::IntArrayRef{0}).max(); },
      true);
}
at::Tensor col_l2_dual_norm(const at::Tensor& G) {
  check_matrix(G, "col_l2_dual_norm");
  return on_unit_scale(
      G, [](const at::Tensor& x) { return at::linalg_vector_norm(x, 2, at::IntArrayRef{0}).sum(); },
      true);
}
at::Tensor dualize_col_l2(const at::Tensor& G) {
  check_matrices(G, "dualize_col_l2");
  return on_unit_scale(
      G,
      [](const at::Tensor& x) {
        return safe_divide(x, at::linalg_vector_norm(x, 2, at::IntArrayRef{-2}, /*keepdim=*/true));
      },
      false);
}

at::Tensor schatten_norm(const at::Tensor& W, double q) {
  check_matrix(W, "schatten_norm");
  check_q(q, "schatten_norm");
  return on_unit_scale(
      W, [q](const at::Tensor& x) { return at::linalg_vector_norm(at::linalg_svdvals(x), q); },
      true);
}
at::Tensor schatten_dual_norm(const at::Tensor& G, double q) {
  check_matrix(G, "schatten_dual_norm");
  check_q(q, "schatten_dual_norm");
  return on_unit_scale(
      G,
      [q](const at::Tensor& x) {
        return at::linalg_vector_norm(at::linalg_svdvals(x), q / (q - 1.0));
      },
      true);
}
at::Tensor dualize_schatten(const at::Tensor& G, double q, Cost* cost) {
  check_matrices(G, "dualize_schatten");
  check_q(q, "dualize_schatten");
  return svd_power(G, 1.0 / (q - 1.0), q, cost);
}

}  // namespace steepest
