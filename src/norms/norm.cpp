#include "steepest/norms/norm.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <cstdio>
#include <stdexcept>

#include "steepest/linalg/polar_svd.h"
#include "steepest/norms/duality_maps.h"
#include "util/parse_number.h"

namespace steepest {
namespace {

using TensorFn = at::Tensor (*)(const at::Tensor&);

// Norms whose map needs no SVD or iteration: one pass over G.
class ElementwiseNorm : public Norm {
 public:
  ElementwiseNorm(std::string name, TensorFn norm, TensorFn dual, TensorFn dualize)
      : name_(std::move(name)), norm_(norm), dual_(dual), dualize_(dualize) {}
  std::string name() const override { return name_; }
  at::Tensor norm(const at::Tensor& W) const override { return norm_(W); }
  at::Tensor dual_norm(const at::Tensor& G) const override { return dual_(G); }
  at::Tensor dualize(const at::Tensor& G, const Orthogonalizer*, Cost*) const override {
    return dualize_(G);
  }

 private:
  std::string name_;
  TensorFn norm_, dual_, dualize_;
};

// Spectral (σ_max) and RMS→RMS (√(n_in/n_out)·σ_max): dualize is U Vᵀ, times
// √(n_out/n_in) for RMS→RMS; U Vᵀ from `msign` when given, else exact SVD.
class SpectralNorm : public Norm {
 public:
  explicit SpectralNorm(bool rms) : rms_(rms) {}
  std::string name() const override { return rms_ ? "rms-rms" : "spectral"; }
  at::Tensor norm(const at::Tensor& W) const override {
    return rms_ ? rms_rms_norm(W) : steepest::spectral_norm(W);
  }
  at::Tensor dual_norm(const at::Tensor& G) const override {
    return rms_ ? rms_rms_dual_norm(G) : steepest::nuclear_norm(G);
  }
  at::Tensor dualize(const at::Tensor& G, const Orthogonalizer* msign, Cost* cost) const override {
    if (msign == nullptr) return rms_ ? dualize_rms_rms(G, cost) : dualize_spectral(G, cost);
    const at::Tensor O = (*msign)(G, cost);
    return rms_ ? O * std::sqrt(double(G.size(-2)) / double(G.size(-1))) : O;
  }
  Cost cost(int64_t m, int64_t n, const Orthogonalizer* msign) const override {
    return msign != nullptr ? msign->cost(m, n) : polar_svd_cost(m, n);
  }

 private:
  bool rms_;
};

class SchattenNorm : public Norm {
 public:
  explicit SchattenNorm(double q) : q_(q) {
    TORCH_CHECK(q > 1.0 && std::isfinite(q), "Schatten norm: q must be in (1, inf), got ", q,
                "; q = 2 is Frobenius, q -> inf is spectral");
  }
  std::string name() const override {
    char s[48];
    std::snprintf(s, sizeof(s), "schatten-%g", q_);
    return s;
  }
  at::Tensor norm(const at::Tensor& W) const override { return schatten_norm(W, q_); }
  at::Tensor dual_norm(const at::Tensor& G) const override { return schatten_dual_norm(G, q_); }
  at::Tensor dualize(const at::Tensor& G, const Orthogonalizer*, Cost* cost) const override {
    return dualize_schatten(G, q_, cost);
  }
  Cost cost(int64_t m, int64_t n, const Orthogonalizer*) const override {
    return polar_svd_cost(m, n);
  }

 private:
  double q_;
};

NormPtr elementwise(const char* name, TensorFn norm, TensorFn dual, TensorFn dualize) {
  return std::make_shared<ElementwiseNorm>(name, norm, dual, dualize);
}

}  // namespace

Cost Norm::cost(int64_t, int64_t, const Orthogonalizer*) const {
  return {};
}

const std::vector<NormEntry>& norm_entries() {
  // Maps and their optimizers: Bernstein & Newhouse 2024, "Old Optimizer, New
  // Norm" (Frobenius, ℓ∞, spectral), "Deriving Muon" (RMS→RMS), RMNP (row ℓ2),
  // modula (Embed, row RMS), HTMuon (Schatten-q); docs/REFERENCES.md.
  static const std::vector<NormEntry> entries = {
      {"frobenius", "normalized SGD", "", 0.0, "", 0.2,
       [](double) {
         return elementwise("frobenius", steepest::frobenius_norm, steepest::frobenius_norm,
                            dualize_frobenius);
       }},
      {"linf", "signSGD / Lion / Adam without EMA", "", 0.0, "", 1e-3,
       [](double) { return elementwise("linf", linf_norm, l1_norm, dualize_linf); }},
      {"spectral", "Muon without a shape factor", "", 0.0, "", 0.02,
       [](double) { return std::make_shared<SpectralNorm>(false); }},
      {"rms-rms", "Muon with the spectral scale; modula's Linear", "", 0.0, "", 0.02,
       [](double) { return std::make_shared<SpectralNorm>(true); }},
      {"row-l2", "RMNP", "", 0.0, "", 0.02,
       [](double) { return elementwise("row-l2", row_l2_norm, row_l2_dual_norm, dualize_row_l2); }},
      {"row-rms", "modula's Embed (each row to length sqrt(n_in))", "", 0.0, "", 1e-3,
       [](double) {
         return elementwise("row-rms", row_rms_norm, row_rms_dual_norm, dualize_row_rms);
       }},
      {"col-l2", "column normalization", "", 0.0, "", 0.02,
       [](double) { return elementwise("col-l2", col_l2_norm, col_l2_dual_norm, dualize_col_l2); }},
      {"schatten", "HTMuon with p = 1/(q-1), unit Schatten-q step", "q", 9.0,
       "Schatten exponent in (1, inf): 2 Frobenius, inf spectral; 9 is HTMuon's p = 1/8", 0.02,
       [](double q) { return std::make_shared<SchattenNorm>(q); }},
  };
  return entries;
}

std::vector<NormPtr> all_norms() {
  std::vector<NormPtr> out;
  for (const auto& e : norm_entries()) out.push_back(e.make(e.param_default));
  return out;
}

NormPtr make_norm(const std::string& name) {
  std::string known;
  for (const auto& e : norm_entries()) {
    if (e.name == name) return e.make(e.param_default);
    const std::string prefix = e.name + "-";
    if (!e.param.empty() && name.rfind(prefix, 0) == 0) {
      const std::string value = name.substr(prefix.size());
      const auto parsed = detail::parse_double(value);
      if (!parsed)
        throw std::invalid_argument("norm '" + name + "': '" + value + "' is not a number; write " +
                                    prefix + "<" + e.param + ">, e.g. " + prefix + "9");
      return e.make(*parsed);
    }
    known += (known.empty() ? "" : ", ") + e.name + (e.param.empty() ? "" : "[-" + e.param + "]");
  }
  throw std::invalid_argument("unknown norm '" + name + "'; known: " + known);
}

}  // namespace steepest
