#include "steepest/linalg/gram_newton_schulz.h"

#include <algorithm>

#include "linalg/aol.h"
#include "linalg/gemm.h"
#include "linalg/input_checks.h"

namespace steepest {
namespace {

bool restarts_after(const GramNsOptions& o, size_t step_1based) {
  return std::find(o.restart_after.begin(), o.restart_after.end(), static_cast<int>(step_1based)) !=
         o.restart_after.end();
}

// GEMMs of the Gram iteration. A dry run (no tensors) only counts, so the
// cost model and the kernel share one loop and cannot drift apart.
struct GramOps {
  bool dry;
  int64_t batch;
  Cost* cost;
  // beta·self + alpha·(a @ b) for m×k · k×n operands; self undefined = plain product.
  at::Tensor gemm(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, double beta,
                  double alpha, int64_t m, int64_t k, int64_t n) const {
    count_gemm(cost, m, k, n, batch);
    if (dry) return {};
    // Counted above (a dry run has no tensors to count from).
    return self.defined() ? detail::gemm(self, a, b, beta, alpha, nullptr)
                          : detail::matmul(a, b, nullptr);
  }
};

// The Gram iteration on a normalized short-side x (r×c, r ≤ c). R0, when given,
// is x·xᵀ already formed (the AOL start's); it is counted as the first GEMM.
at::Tensor gram_iterate(at::Tensor x, int64_t r, int64_t c, const NsSchedule& schedule,
                        const GramNsOptions& options, const GramOps& ops,
                        const at::Tensor& R0 = {}) {
  auto gram = [&] { return ops.gemm({}, x, ops.dry ? x : detail::mT(x), 0, 1, r, c, r); };
  at::Tensor R = R0.defined() ? R0 : gram();
  at::Tensor P;  // accumulated product of Q's since the last (re)start
  bool p_is_identity = true;
  const size_t n = schedule.steps.size();
  for (size_t k = 0; k < n; ++k) {
    const auto& s = schedule.steps[k];
    // Q = aI + bR + cR² (one fused GEMM when c ≠ 0).
    // aI + bR with a added on the diagonal: no identity matrix (at::eye has
    // no bf16 kernel in libtorch 1.13).
    at::Tensor Q;
    if (!ops.dry) {
      Q = R * s.b;
      Q.diagonal(0, -2, -1).add_(s.a);
    }
    if (s.c != 0.0) Q = ops.gemm(Q, R, R, 1.0, s.c, r, r, r);
    P = p_is_identity ? Q : ops.gemm({}, Q, P, 0, 1, r, r, r);
    p_is_identity = false;
    const bool last = k + 1 == n;
    if (!last && restarts_after(options, k + 1)) {
      x = ops.gemm({}, P, x, 0, 1, r, r, c);
      R = gram();
      p_is_identity = true;
    } else if (!last) {
      // R ← Q·R·Q (Q and R commute: both are polynomials in the same R).
      R = ops.gemm({}, ops.gemm({}, Q, R, 0, 1, r, r, r), Q, 0, 1, r, r, r);
    }
  }
  if (!p_is_identity) x = ops.gemm({}, P, x, 0, 1, r, r, c);
  return x;
}

bool gram_is_cheaper(int64_t m, int64_t n, const NsSchedule& s, const GramNsOptions& o) {
  Cost g;
  gram_iterate({}, std::min(m, n), std::max(m, n), s, o, GramOps{true, 1, &g});
  return g.flops < newton_schulz_cost(m, n, s).flops;
}

}  // namespace

at::Tensor gram_newton_schulz(const at::Tensor& X, const NsSchedule& schedule,
                              const GramNsOptions& options, Cost* cost) {
  detail::check_matrix_input(X, "gram_newton_schulz");
  if (!gram_is_cheaper(X.size(-2), X.size(-1), schedule, options))
    return newton_schulz(X, schedule, options.ns, cost);
  const bool tall = X.size(-2) > X.size(-1);
  const auto compute = options.ns.compute_dtype == at::ScalarType::Undefined
                           ? X.scalar_type()
                           : options.ns.compute_dtype;
  at::Tensor x = tall ? detail::mT(X) : X;
  const int64_t batch = x.dim() == 3 ? x.size(0) : 1;
  const GramOps ops{false, batch, cost};
  at::Tensor R0;
  if (options.ns.input_normalized) {
    TORCH_CHECK(!tall && !options.ns.precondition && X.scalar_type() == compute,
                "gram_newton_schulz: input_normalized needs a short-side input in the compute "
                "dtype and no preconditioner");
    x = X.contiguous();
  } else if (options.ns.precondition) {
    // Turbo start: its x·xᵀ is exactly the R the iteration begins with.
    auto start = detail::aol_precondition(x.to(compute), schedule.safety, schedule.eps, cost);
    x = start.x;
    R0 = start.A;
  } else {
    x = detail::frobenius_normalize(x.to(compute), schedule.safety, schedule.eps).contiguous();
  }
  x = gram_iterate(x, x.size(-2), x.size(-1), schedule, options, ops, R0);
  if (tall) x = detail::mT(x);
  return x.to(X.scalar_type()).contiguous();
}

Cost gram_newton_schulz_cost(int64_t m, int64_t n, const NsSchedule& schedule,
                             const GramNsOptions& options, int64_t batch) {
  if (!gram_is_cheaper(m, n, schedule, options)) return newton_schulz_cost(m, n, schedule, batch);
  Cost cost;
  gram_iterate({}, std::min(m, n), std::max(m, n), schedule, options, GramOps{true, batch, &cost});
  return cost;
}

}  // namespace steepest
