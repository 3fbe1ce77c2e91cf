#include "steepest/linalg/polar_svd.h"

#include "linalg/gemm.h"
#include "linalg/input_checks.h"
#include "linalg/rank.h"

namespace steepest {

at::Tensor spectral_map_svd(const at::Tensor& X,
                            const std::function<at::Tensor(const at::Tensor&)>& f, Cost* cost) {
  detail::check_matrix_input(X, "polar_svd");
  const auto in_dtype = X.scalar_type();
  const bool low = in_dtype == at::kHalf || in_dtype == at::kBFloat16;
  const at::Tensor x = low ? X.to(at::kFloat) : X;
  // LAPACK's fp32 SVD of entries near 1e38 overflows: decompose x/max|x| and
  // hand f the true singular values. In the input's dtype (f's rank rule uses
  // its eps) unless they overflow it; then in double, where they fit.
  const at::Tensor m = detail::max_abs_scale(x);
  at::Tensor U, S, Vh;
  std::tie(U, S, Vh) = at::linalg_svd(x / m, /*full_matrices=*/false);
  if (cost != nullptr)
    *cost += polar_svd_cost(X.size(-2), X.size(-1), X.dim() == 3 ? X.size(0) : 1);
  at::Tensor true_S = S * m.squeeze(-1);
  if (S.scalar_type() != at::kDouble && at::isfinite(S).all().item<bool>() &&
      !at::isfinite(true_S).all().item<bool>())
    true_S = S.to(at::kDouble) * m.squeeze(-1).to(at::kDouble);
  const at::Tensor fS = f(true_S).to(S.scalar_type());
  return at::matmul(U * fS.unsqueeze(-2), Vh).to(in_dtype);
}

Cost polar_svd_cost(int64_t m, int64_t n, int64_t batch) {
  Cost c;
  const int64_t r = std::min(m, n);
  count_gemm(&c, m, r, n, batch);
  // Golub & Van Loan, Matrix Computations, R-SVD with thin U: 6·c·r² + 20·r³.
  const double rr = static_cast<double>(r), cc = static_cast<double>(std::max(m, n));
  c.other_flops = (6.0 * cc * rr * rr + 20.0 * rr * rr * rr) * static_cast<double>(batch);
  return c;
}

at::Tensor polar_svd(const at::Tensor& X, Cost* cost) {
  // σ below this relative threshold counts as zero: LAPACK returns arbitrary
  // singular vectors for them, which must not become ±1 directions.
  return spectral_map_svd(
      X, [](const at::Tensor& S) { return detail::nonzero_singular_values(S).to(S.scalar_type()); },
      cost);
}

}  // namespace steepest
