#include "steepest/linalg/orthogonality_report.h"

#include <cmath>
#include <cstdio>

#include "linalg/input_checks.h"

namespace steepest {

std::string OrthogonalityReport::to_json() const {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "{\"sigma_min\": %.9g, \"sigma_max\": %.9g, \"orth_error\": %.6g, \"gemms\": "
                "%lld, \"flops\": %.6g, \"other_flops\": %.6g}",
                sigma_min, sigma_max, orth_error, static_cast<long long>(cost.gemms), cost.flops,
                cost.other_flops);
  return buf;
}

OrthogonalityReport orthogonality_report(const at::Tensor& O, const Cost& cost) {
  detail::check_matrix_input(O, "orthogonality_report");
  const at::Tensor o = O.to(at::kDouble);
  const at::Tensor S = at::linalg_svdvals(o);
  // ‖OᵀO − I‖_F = ‖σ² − 1‖₂ over the r singular values, so no extra GEMM is needed.
  const int64_t r = S.size(-1);
  const at::Tensor err =
      at::linalg_vector_norm(S * S - 1.0, 2, at::IntArrayRef{-1}, false) / std::sqrt(double(r));
  OrthogonalityReport rep;
  rep.sigma_min = S.min().item<double>();
  rep.sigma_max = S.max().item<double>();
  rep.orth_error = err.max().item<double>();
  rep.cost = cost;
  return rep;
}

}  // namespace steepest
