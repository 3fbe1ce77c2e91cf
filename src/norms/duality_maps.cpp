#include "steepest/norms/duality_maps.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <stdexcept>

#include "linalg/rank.h"
#include "steepest/linalg/polar_svd.h"

namespace steepest {
namespace {

void check_matrix(const at::Tensor& W, const char* fn) {
  TORCH_CHECK(W.defined() && W.dim() == 2, fn, ": expects a matrix (n_out, n_in), got ",
              W.defined() ? W.sizes() : at::IntArrayRef{}, "; flatten conv weights to 2-D first");
  TORCH_CHECK(at::isFloatingType(W.scalar_type()), fn, ": expects a floating tensor, got ",
              W.scalar_type());
}

void check_q(double q, const char* fn) {
  TORCH_CHECK(q > 1.0 && std::isfinite(q), fn, ": Schatten q must be in (1, inf), got ", q,
              "; q = 2 is Frobenius, q -> inf is spectral");
}

// x / n where n > 0, else 0: zero inputs dualize to zero rather than NaN.
at::Tensor safe_divide(const at::Tensor& x, const at::Tensor& n) {
  return at::where(n > 0, x / at::where(n > 0, n, at::ones_like(n)), at::zeros_like(x));
}

at::Tensor rms_factor(const at::Tensor& W) {  // √(n_out/n_in)
  return at::scalar_tensor(std::sqrt(double(W.size(0)) / double(W.size(1))), W.options());
}

}  // namespace

at::Tensor frobenius_norm(const at::Tensor& W) {
  check_matrix(W, "frobenius_norm");
  return at::linalg_vector_norm(W, 2);
}
at::Tensor dualize_frobenius(const at::Tensor& G) {
  return safe_divide(G, steepest::frobenius_norm(G));
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
  check_matrix(G, "dualize_linf");
  return G.sign();
}

at::Tensor spectral_norm(const at::Tensor& W) {
  check_matrix(W, "spectral_norm");
  return at::linalg_svdvals(W).max();
}
at::Tensor nuclear_norm(const at::Tensor& G) {
  check_matrix(G, "nuclear_norm");
  return at::linalg_svdvals(G).sum();
}
at::Tensor dualize_spectral(const at::Tensor& G) {
  check_matrix(G, "dualize_spectral");
  return polar_svd(G);
}

at::Tensor rms_rms_norm(const at::Tensor& W) {
  return steepest::spectral_norm(W) / rms_factor(W);
}
at::Tensor rms_rms_dual_norm(const at::Tensor& G) {
  return steepest::nuclear_norm(G) * rms_factor(G);
}
at::Tensor dualize_rms_rms(const at::Tensor& G) {
  return dualize_spectral(G) * rms_factor(G);
}

at::Tensor row_l2_norm(const at::Tensor& W) {
  check_matrix(W, "row_l2_norm");
  return at::linalg_vector_norm(W, 2, at::IntArrayRef{1}).max();
}
at::Tensor row_l2_dual_norm(const at::Tensor& G) {
  check_matrix(G, "row_l2_dual_norm");
  return at::linalg_vector_norm(G, 2, at::IntArrayRef{1}).sum();
}
at::Tensor dualize_row_l2(const at::Tensor& G) {
  check_matrix(G, "dualize_row_l2");
  return safe_divide(G, at::linalg_vector_norm(G, 2, at::IntArrayRef{1}, /*keepdim=*/true));
}

at::Tensor col_l2_norm(const at::Tensor& W) {
  check_matrix(W, "col_l2_norm");
  return at::linalg_vector_norm(W, 2, at::IntArrayRef{0}).max();
}
at::Tensor col_l2_dual_norm(const at::Tensor& G) {
  check_matrix(G, "col_l2_dual_norm");
  return at::linalg_vector_norm(G, 2, at::IntArrayRef{0}).sum();
}
at::Tensor dualize_col_l2(const at::Tensor& G) {
  check_matrix(G, "dualize_col_l2");
  return safe_divide(G, at::linalg_vector_norm(G, 2, at::IntArrayRef{0}, /*keepdim=*/true));
}

at::Tensor schatten_norm(const at::Tensor& W, double q) {
  check_matrix(W, "schatten_norm");
  check_q(q, "schatten_norm");
  return at::linalg_vector_norm(at::linalg_svdvals(W), q);
}
at::Tensor schatten_dual_norm(const at::Tensor& G, double q) {
  check_matrix(G, "schatten_dual_norm");
  check_q(q, "schatten_dual_norm");
  return at::linalg_vector_norm(at::linalg_svdvals(G), q / (q - 1.0));
}
at::Tensor dualize_schatten(const at::Tensor& G, double q) {
  check_matrix(G, "dualize_schatten");
  check_q(q, "dualize_schatten");
  const double p = 1.0 / (q - 1.0);
  return spectral_map_svd(G, [&](const at::Tensor& S) {
    // Roundoff singular values would get weight (1e-7)^p ≈ 0.13 at p = 1/8 along
    // arbitrary directions: the shared rank rule sends them to 0.
    const at::Tensor Sp =
        at::where(detail::nonzero_singular_values(S), S.pow(p), at::zeros_like(S));
    return safe_divide(Sp, at::linalg_vector_norm(Sp, q));
  });
}

std::vector<DualityMap> duality_maps(double q) {
  check_q(q, "duality_maps");
  char qname[32];
  std::snprintf(qname, sizeof(qname), "schatten-%g", q);
  return {
      {"frobenius", "SGD", frobenius_norm, frobenius_norm, dualize_frobenius},
      {"linf", "signSGD / Lion / Adam without EMA", linf_norm, l1_norm, dualize_linf},
      {"spectral", "Muon (no scale)", spectral_norm, nuclear_norm, dualize_spectral},
      {"rms-rms", "Muon, spectral scale", rms_rms_norm, rms_rms_dual_norm, dualize_rms_rms},
      {"row-l2", "RMNP", row_l2_norm, row_l2_dual_norm, dualize_row_l2},
      {"col-l2", "embedding normalization", col_l2_norm, col_l2_dual_norm, dualize_col_l2},
      {qname, "HTMuon", [q](const at::Tensor& W) { return schatten_norm(W, q); },
       [q](const at::Tensor& G) { return schatten_dual_norm(G, q); },
       [q](const at::Tensor& G) { return dualize_schatten(G, q); }},
  };
}

DualityMap duality_map(const std::string& name, double q) {
  std::string known;
  for (auto& m : duality_maps(q)) {
    if (m.name == name || (name == "schatten" && m.name.rfind("schatten-", 0) == 0)) return m;
    known += (known.empty() ? "" : ", ") + m.name;
  }
  throw std::invalid_argument("unknown norm '" + name + "'; known: " + known +
                              " (or 'schatten' with q)");
}

}  // namespace steepest
