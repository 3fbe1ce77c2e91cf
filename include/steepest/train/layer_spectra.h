// The singular-value statistics of a model's matrices (issue #14): what
// `steepest spectrum` prints and what spectra records hold.
#pragma once

#include <torch/nn/module.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "steepest/linalg/spectrum_stats.h"

namespace steepest {

struct LayerSpectrum {
  std::string name;            // the parameter's name
  std::string role;            // "hidden", "embedding" or "head" (HybridOptimizer's routing names)
  std::vector<int64_t> shape;  // as stored; conv weights are measured as (out, in·kh·kw)
  SpectrumStats stats;
};

// "embedding", "head" or "hidden" for a parameter name, by HybridOptimizer's
// routing patterns (what LayerSpectrum::role and spectra records use).
std::string matrix_role(const std::string& name);

// Every ≥ 2-D parameter of `model`, in registration order.
std::vector<LayerSpectrum> layer_spectra(const torch::nn::Module& model);

// The statistics as JSON: sigma_max/min, stable_rank, effective_rank,
// condition_number (null when +inf), alpha {...}, and the singular values
// (all, or top/bottom `keep` plus quantiles; see to_json below).
nlohmann::json spectrum_json(const SpectrumStats& stats, int64_t keep = 16);

// One record: name, role, shape, sigma_max/min, stable_rank, effective_rank,
// condition_number, alpha {alpha, xmin, ks_distance, n_tail, estimator}, and
// the singular values: all of them when there are at most 2·keep, else
// "sigma_top"/"sigma_bottom" (keep each) plus "sigma_quantiles" at
// q = 0, 0.1, 0.25, 0.5, 0.75, 0.9, 1. A condition number of +inf is null.
nlohmann::json to_json(const LayerSpectrum& layer, int64_t keep = 16);

}  // namespace steepest
