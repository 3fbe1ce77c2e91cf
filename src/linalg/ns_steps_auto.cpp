#include "steepest/linalg/ns_steps_auto.h"

#include <c10/util/Exception.h>

#include <cmath>

#include "linalg/gemm.h"
#include "linalg/input_checks.h"

namespace steepest {

std::vector<double> ns_error_by_step(const at::Tensor& X, const NsSchedule& schedule) {
  detail::check_matrix_input(X, "ns_error_by_step");
  TORCH_CHECK(X.dim() == 2, "ns_error_by_step: one matrix (m, n), got ", X.sizes());
  at::Tensor x = X.size(0) > X.size(1) ? X.t() : X;
  x = detail::frobenius_normalize(x.to(at::kFloat), schedule.safety, schedule.eps).contiguous();
  const int64_t r = x.size(0);
  const at::Tensor I = at::eye(r, x.options());
  std::vector<double> errors;
  at::Tensor A = detail::matmul(x, x.t(), nullptr);
  for (const auto& s : schedule.steps) {
    const at::Tensor B = s.c != 0.0 ? detail::gemm(A, A, A, s.b, s.c, nullptr) : A * s.b;
    x = detail::gemm(x, B, x, s.a, 1.0, nullptr);
    A = detail::matmul(x, x.t(), nullptr);  // the next step's Gram matrix is also this step's error
    errors.push_back((A - I).norm().item<double>() / std::sqrt(static_cast<double>(r)));
  }
  return errors;
}

int fewest_ns_steps(const std::vector<double>& errors, double tolerance) {
  TORCH_CHECK(!errors.empty(), "fewest_ns_steps: no errors given");
  TORCH_CHECK(tolerance >= 0, "fewest_ns_steps: tolerance must be >= 0, got ", tolerance);
  const double bound = (1.0 + tolerance) * errors.back();
  for (size_t s = 0; s < errors.size(); ++s)
    if (errors[s] <= bound) return static_cast<int>(s) + 1;
  return static_cast<int>(errors.size());
}

}  // namespace steepest
