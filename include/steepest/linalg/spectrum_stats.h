// Summary statistics of a matrix's singular values, for the spectral
// diagnostics of issue #14 (what an optimizer does to the spectra of weights,
// momenta and updates). Pure functions of the singular values.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <vector>

namespace steepest {

// A power law p(x) ∝ x^(−α) fitted to the tail x ≥ xmin of a sample.
struct PowerLawFit {
  double alpha = 0.0;        // the exponent (> 1); 0 when there was nothing to fit
  double xmin = 0.0;         // where the tail starts
  double ks_distance = 1.0;  // Kolmogorov–Smirnov distance of the tail from the fit (0 = exact)
  int64_t n_tail = 0;        // sample points in the tail
  // Power law against an exponential on the same tail (Clauset et al. 2009,
  // §5; Vuong's test): lr_exponential = Σ ln(p_pl/p_exp) (> 0 favours the
  // power law), lr_z its normalized form R/(s√n), lr_p the two-sided p-value
  // of R ≠ 0. A small KS distance alone does not make a tail a power law.
  double lr_exponential = 0.0, lr_z = 0.0, lr_p = 1.0;
  // "clauset-mle": the continuous maximum-likelihood (Hill) estimate
  // α = 1 + n / Σ ln(x_i/xmin), with xmin the sample point that minimizes the
  // KS distance (Clauset, Shalizi & Newman 2009; as WeightWatcher fits the
  // eigenvalues of WᵀW, Martin & Mahoney 2021). docs/REFERENCES.md.
  std::string estimator = "clauset-mle";
};

// The fit to `x` (positive values, any order; non-positive ones are ignored).
// Tails are at least min_tail points long (fewer points: alpha = 0).
PowerLawFit fit_power_law(std::vector<double> x, int64_t min_tail = 10);

// The likelihood-ratio fields of `fit` (lr_*) for the tail `x ≥ fit.xmin` of x:
// the power law fit.alpha against the exponential λ·exp(−λ(x − xmin)) with
// its MLE λ = 1/(mean − xmin). fit_power_law calls it on its best fit.
void compare_with_exponential(const std::vector<double>& x, PowerLawFit& fit);

struct SpectrumStats {
  std::vector<double> singular_values;  // all of them, descending
  double sigma_max = 0.0, sigma_min = 0.0;
  double stable_rank = 0.0;     // ‖W‖_F²/‖W‖₂² = Σσ²/σ_max² (0 for a zero matrix)
  double effective_rank = 0.0;  // exp(−Σ p_i ln p_i), p_i = σ_i/Σσ (Roy & Vetterli 2007)
  double condition_number = 0.0;  // σ_max/σ_min; +inf when σ_min ≤ max(m,n)·ε·σ_max (singular)
  PowerLawFit alpha;              // fitted to the eigenvalues σ² of WᵀW
};

// W: (m, n), any float dtype; computed in fp64 from the exact singular values.
SpectrumStats spectrum_stats(const at::Tensor& W);

// The q-quantiles (q in [0, 1]) of `values` by linear interpolation between
// order statistics (numpy's default).
std::vector<double> quantiles(std::vector<double> values, const std::vector<double>& q);

}  // namespace steepest
