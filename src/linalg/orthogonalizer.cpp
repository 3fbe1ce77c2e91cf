#include "steepest/linalg/orthogonalizer.h"

#include <algorithm>
#include <stdexcept>

#include "steepest/linalg/newton_schulz.h"
#include "steepest/linalg/polar_svd.h"

namespace steepest {
namespace {
const std::string kGramPrefix = "gram-";
const std::string kTurboPrefix = "turbo-";
const std::string kPlainPrefix = "ns-";

// A bare schedule name with compute dtype fp32 runs the Gram form when it is
// cheaper: both compute the same polynomial of X, and at 512×128 in fp32 the
// Gram form is 1.6× faster at the same distance from U Vᵀ (bench_msign_gpt,
// docs/BENCHMARKS.md, issue #13). bf16 keeps plain NS (its band differs
// there), fp64 too (it is the accuracy setting), and so does an unset compute
// dtype, so that cost() knows what operator() will run without seeing X.
// Muon sets fp32 explicitly for fp32 parameters.
bool gram_form_applies(const Orthogonalizer& o) {
  return o.kind == Orthogonalizer::Kind::NewtonSchulz && o.gram_when_cheaper &&
         !o.options.ns.precondition && o.options.ns.compute_dtype == at::kFloat;
}
}  // namespace

Orthogonalizer Orthogonalizer::from_name(const std::string& method, int steps,
                                         at::ScalarType compute_dtype) {
  Orthogonalizer o;
  o.options.ns.compute_dtype = compute_dtype;
  if (method == "svd") {
    o.kind = Kind::Svd;
    o.schedule.name = "svd";
    return o;
  }
  std::string schedule = method;
  bool turbo = false;
  if (method.rfind(kGramPrefix, 0) == 0) {
    o.kind = Kind::GramNewtonSchulz;
    schedule = method.substr(kGramPrefix.size());
  } else if (method.rfind(kPlainPrefix, 0) == 0) {
    schedule = method.substr(kPlainPrefix.size());
  } else if (method.rfind(kTurboPrefix, 0) == 0) {
    turbo = true;
    o.options.ns.precondition = true;
    schedule = method.substr(kTurboPrefix.size());
  }
  try {
    if (turbo) {
      // Turbo-Muon (modded-nanogpt record 2025-11-11) drops the schedule's FIRST step: the
      // AOL start already does its job of lifting the small singular values, and steps
      // 2…n are fitted to the range step 1 leaves. `steps` counts from step 2 on, so
      // turbo with N steps runs steps 2…N+1 of the (extended) schedule.
      o.schedule = ns_schedule(schedule, steps <= 0 ? steps : steps + 1);
      if (o.schedule.steps.size() < 2)
        throw std::invalid_argument("turbo-" + schedule +
                                    ": the schedule has one step and Turbo drops it");
      o.schedule.steps.erase(o.schedule.steps.begin());
    } else {
      o.schedule = ns_schedule(schedule, steps);
      o.gram_when_cheaper = o.kind == Kind::NewtonSchulz && method == schedule;
    }
  } catch (const std::invalid_argument& e) {
    std::string known;
    bool is_known = false;
    for (const auto& n : orthogonalizer_names()) {
      known += (known.empty() ? "" : ", ") + n;
      is_known |= n == method;
    }
    // A known method with bad arguments (say steps = 0) is not an unknown method.
    if (is_known)
      throw std::invalid_argument("orthogonalization method '" + method + "': " + e.what());
    throw std::invalid_argument("unknown orthogonalization method '" + method +
                                "'; known: " + known + " (" + e.what() + ")");
  }
  return o;
}

std::string Orthogonalizer::name() const {
  switch (kind) {
    case Kind::Svd:
      return "svd";
    case Kind::GramNewtonSchulz:
      return kGramPrefix + schedule.name;
    case Kind::NewtonSchulz:
      break;
  }
  if (options.ns.precondition) return kTurboPrefix + schedule.name;
  return (gram_when_cheaper ? std::string() : kPlainPrefix) + schedule.name;
}

at::Tensor Orthogonalizer::operator()(const at::Tensor& X, Cost* cost) const {
  switch (kind) {
    case Kind::Svd: {
      // fp64 compute runs LAPACK in double; bf16/half inputs are lifted to fp32 inside.
      const auto dt = options.ns.compute_dtype;
      if (dt == at::ScalarType::Undefined || dt == X.scalar_type()) return polar_svd(X, cost);
      return polar_svd(X.to(dt), cost).to(X.scalar_type());
    }
    case Kind::GramNewtonSchulz:
      return gram_newton_schulz(X, schedule, options, cost);
    case Kind::NewtonSchulz:
      break;
  }
  if (gram_form_applies(*this)) return gram_newton_schulz(X, schedule, options, cost);
  return newton_schulz(X, schedule, options.ns, cost);
}

Cost Orthogonalizer::cost(int64_t m, int64_t n, int64_t batch) const {
  switch (kind) {
    case Kind::Svd:
      return polar_svd_cost(m, n, batch);
    case Kind::GramNewtonSchulz:
      return gram_newton_schulz_cost(m, n, schedule, options, batch);
    case Kind::NewtonSchulz:
      break;
  }
  if (gram_form_applies(*this)) return gram_newton_schulz_cost(m, n, schedule, options, batch);
  return newton_schulz_cost(m, n, schedule, batch);
}

std::vector<std::string> orthogonalizer_names() {
  std::vector<std::string> names = ns_schedule_names();
  for (const auto& s : ns_schedule_names()) names.push_back(kGramPrefix + s);
  for (const auto& s : ns_schedule_names()) names.push_back(kTurboPrefix + s);
  for (const auto& s : ns_schedule_names()) names.push_back(kPlainPrefix + s);
  names.push_back("svd");
  return names;
}

}  // namespace steepest
