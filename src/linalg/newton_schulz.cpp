#include "steepest/linalg/newton_schulz.h"

#include <c10/util/Exception.h>

#include "linalg/aol.h"
#include "linalg/gemm.h"
#include "linalg/input_checks.h"

namespace steepest {

at::Tensor newton_schulz(const at::Tensor& X, const NsSchedule& schedule, const NsOptions& options,
                         Cost* cost) {
  detail::check_matrix_input(X, "newton_schulz");
  TORCH_CHECK(!options.precondition || !schedule.steps.empty(),
              "newton_schulz: the Turbo (AOL) preconditioner needs at least one step");
  const bool tall = X.size(-2) > X.size(-1);
  const auto compute =
      options.compute_dtype == at::ScalarType::Undefined ? X.scalar_type() : options.compute_dtype;
  // Work on the short side: x is r×c with r ≤ c, so A = x·xᵀ is r×r.
  at::Tensor x = tall ? detail::mT(X) : X;
  at::Tensor A;  // the Gram matrix of the next step, when already known
  if (options.input_normalized) {
    TORCH_CHECK(!tall && !options.precondition && X.scalar_type() == compute,
                "newton_schulz: input_normalized needs a short-side input in the compute dtype "
                "and no preconditioner");
    x = X.contiguous();
  } else if (options.precondition) {
    auto start = detail::aol_precondition(x.to(compute), schedule.safety, schedule.eps, cost);
    x = start.x;
    A = start.A;
  } else {
    x = detail::frobenius_normalize(x.to(compute), schedule.safety, schedule.eps).contiguous();
  }
  for (const auto& s : schedule.steps) {
    if (!A.defined()) A = detail::matmul(x, detail::mT(x), cost);
    // B = b·A + c·A² in one fused GEMM; the cubic step (c = 0) skips it.
    const at::Tensor B = s.c != 0.0 ? detail::gemm(A, A, A, s.b, s.c, cost) : A * s.b;
    x = detail::gemm(x, B, x, s.a, 1.0, cost);
    A = at::Tensor();
  }
  if (tall) x = detail::mT(x);
  return x.to(X.scalar_type()).contiguous();
}

Cost newton_schulz_cost(int64_t m, int64_t n, const NsSchedule& schedule, int64_t batch) {
  const int64_t r = std::min(m, n), c = std::max(m, n);
  Cost cost;
  for (const auto& s : schedule.steps) {
    count_gemm(&cost, r, c, r, batch);
    if (s.c != 0.0) count_gemm(&cost, r, r, r, batch);
    count_gemm(&cost, r, r, c, batch);
  }
  return cost;
}

}  // namespace steepest
