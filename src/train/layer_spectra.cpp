#include "steepest/train/layer_spectra.h"

#include <cmath>
#include <regex>

#include "steepest/optim/hybrid.h"

namespace steepest {

std::string matrix_role(const std::string& name) {
  static const std::regex embedding(kEmbeddingNamePattern), head(kHeadNamePattern);
  return std::regex_search(name, embedding) ? "embedding"
         : std::regex_search(name, head)    ? "head"
                                            : "hidden";
}

std::vector<LayerSpectrum> layer_spectra(const torch::nn::Module& model) {
  std::vector<LayerSpectrum> out;
  for (const auto& item : model.named_parameters()) {
    const at::Tensor& p = item.value();
    if (p.dim() < 2) continue;
    LayerSpectrum layer;
    layer.name = item.key();
    layer.role = matrix_role(layer.name);
    layer.shape = p.sizes().vec();
    layer.stats = spectrum_stats(p.detach().reshape({p.size(0), -1}));
    out.push_back(std::move(layer));
  }
  return out;
}

nlohmann::json spectrum_json(const SpectrumStats& s, int64_t keep) {
  auto finite_or_null = [](double v) {
    return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json();
  };
  nlohmann::json j = {{"sigma_max", s.sigma_max},
                      {"sigma_min", s.sigma_min},
                      {"stable_rank", s.stable_rank},
                      {"effective_rank", s.effective_rank},
                      {"condition_number", finite_or_null(s.condition_number)},
                      {"alpha",
                       {{"alpha", s.alpha.alpha},
                        {"xmin", s.alpha.xmin},
                        {"ks_distance", s.alpha.ks_distance},
                        {"lr_exponential", s.alpha.lr_exponential},
                        {"lr_z", s.alpha.lr_z},
                        {"lr_p", s.alpha.lr_p},
                        {"n_tail", s.alpha.n_tail},
                        {"estimator", s.alpha.estimator},
                        {"of", "eigenvalues of W^T W"}}}};
  const auto& sv = s.singular_values;
  if (static_cast<int64_t>(sv.size()) <= 2 * keep) {
    j["sigma"] = sv;
  } else {
    j["sigma_top"] = std::vector<double>(sv.begin(), sv.begin() + keep);
    j["sigma_bottom"] = std::vector<double>(sv.end() - keep, sv.end());
    j["sigma_quantiles"] = quantiles(sv, {0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0});
  }
  return j;
}

nlohmann::json to_json(const LayerSpectrum& layer, int64_t keep) {
  nlohmann::json j = {{"name", layer.name}, {"role", layer.role}, {"shape", layer.shape}};
  j.update(spectrum_json(layer.stats, keep));
  return j;
}

}  // namespace steepest
