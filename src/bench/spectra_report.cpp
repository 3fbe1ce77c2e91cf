#include "bench/spectra_report.h"

#include <array>
#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "bench/svg_chart.h"
#include "steepest/train/metrics.h"

namespace steepest::detail {
namespace {

namespace fs = std::filesystem;

// "blocks.0.attn.q.weight" → "q": the layer type, shared across blocks.
std::string layer_type(const std::string& name) {
  std::string s = name;
  const std::string suffix = ".weight";
  if (s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0)
    s.resize(s.size() - suffix.size());
  const auto dot = s.rfind('.');
  return dot == std::string::npos ? s : s.substr(dot + 1);
}

std::vector<nlohmann::json> records_of(const RunResult& run) {
  if (run.status != RunStatus::Done) return {};
  const fs::path path = fs::path(run.run.config.out) / "spectra.jsonl";
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return {};
  return read_metrics(path.string());
}

// (rank, σ) pairs a statistics record holds, ranks 1-based from the largest.
std::map<int64_t, double> sigma_by_rank(const nlohmann::json& stats, int64_t r) {
  std::map<int64_t, double> out;
  if (stats.contains("sigma")) {
    const auto& s = stats.at("sigma");
    for (size_t i = 0; i < s.size(); ++i) out[static_cast<int64_t>(i) + 1] = s[i].get<double>();
    return out;
  }
  const auto& top = stats.at("sigma_top");
  for (size_t i = 0; i < top.size(); ++i) out[static_cast<int64_t>(i) + 1] = top[i].get<double>();
  const auto& bottom = stats.at("sigma_bottom");
  for (size_t i = 0; i < bottom.size(); ++i)
    out[r - static_cast<int64_t>(bottom.size()) + 1 + static_cast<int64_t>(i)] =
        bottom[i].get<double>();
  const std::vector<double> q = {0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0};
  const auto& qs = stats.at("sigma_quantiles");
  for (size_t i = 0; i < qs.size() && i < q.size(); ++i)
    out[r - static_cast<int64_t>(std::llround(q[i] * static_cast<double>(r - 1)))] =
        qs[i].get<double>();
  return out;
}

// A marked line through x ↦ sum/count.
ChartSeries mean_series(const std::string& name, const std::string& color,
                        const std::map<int64_t, std::pair<double, int>>& sums) {
  ChartSeries s;
  s.name = name;
  s.color = color;
  s.markers = true;
  for (const auto& [x, v] : sums) {
    s.x.push_back(static_cast<double>(x));
    s.y.push_back(v.first / v.second);
  }
  return s;
}

}  // namespace

std::string spectra_section_html(const BenchResults& results) {
  ChartSpec alpha;
  alpha.id = "chart-spectra-alpha";
  alpha.title = "Heavy-tail exponent α of the hidden weights over training";
  alpha.x_label = "training step";
  alpha.y_label = "α (mean over hidden matrices and seeds)";
  alpha.note = "α: Clauset MLE fit to the eigenvalues of WᵀW; larger = lighter tail";
  std::map<std::string, ChartSpec> spectrum;  // by layer type
  ChartSpec band;
  band.id = "chart-spectra-band";
  band.x_label = "training step";
  band.y_label = "singular values of the msign output";
  band.hline = 1.0;
  band.hline_label = "1";
  band.note = "line: σ_max; band: σ_min to σ_max, each the mean over blocks";
  bool any = false;
  for (size_t k = 0; k < results.optimizers.size(); ++k) {
    const auto& o = results.optimizers[k];
    std::map<int64_t, std::pair<double, int>> alpha_sum;
    for (size_t seed = 0; seed < o.seeds.size(); ++seed) {
      const auto records = records_of(o.seeds[seed]);
      if (records.empty()) continue;
      any = true;
      for (const auto& rec : records) {
        const double a = rec.at("weight").at("alpha").at("alpha").get<double>();
        if (a <= 0) continue;
        auto& slot = alpha_sum[rec.at("step").get<int64_t>()];
        slot.first += a;
        ++slot.second;
      }
      if (seed != 0) continue;
      // The last recorded weight spectrum per layer type (seed run 0).
      const int64_t last = records.back().at("step").get<int64_t>();
      std::map<std::string, std::map<int64_t, std::pair<double, int>>> log_sigma;
      // Band per layer type over training: Σ σ_min, Σ σ_max, count.
      std::map<std::string, std::map<int64_t, std::array<double, 3>>> bands;
      for (const auto& rec : records) {
        const std::string type = layer_type(rec.at("name").get<std::string>());
        const auto& shape = rec.at("shape");
        const int64_t r = std::min(shape[0].get<int64_t>(), shape[1].get<int64_t>());
        if (rec.at("step").get<int64_t>() == last)
          for (const auto& [rank, s] : sigma_by_rank(rec.at("weight"), r))
            if (s > 0) {
              auto& slot = log_sigma[type][rank];
              slot.first += std::log10(s);
              ++slot.second;
            }
        if (rec.at("msign_band").is_array()) {
          auto& b = bands[type][rec.at("step").get<int64_t>()];
          b[0] += rec.at("msign_band")[0].get<double>();
          b[1] += rec.at("msign_band")[1].get<double>();
          b[2] += 1;
        }
      }
      for (const auto& [type, points] : log_sigma) {
        auto& chart = spectrum[type];
        if (chart.id.empty()) {
          chart.id = "chart-spectra-" + type;
          chart.title = "'" + type + "' weights, last recorded step";
          chart.x_label = "rank (log scale)";
          chart.y_label = "log10 σ (mean over blocks)";
          chart.log_x = true;
          chart.width = 560;
          chart.height = 340;
        }
        chart.series.push_back(mean_series(o.optimizer.label, palette(k), points));
      }
      if (band.series.empty() && !bands.empty()) {
        band.title = "msign band per layer type over training (" + o.optimizer.label + ")";
        size_t c = 0;
        for (const auto& [type, steps] : bands) {
          ChartSeries s;
          s.name = type;
          s.color = palette(c++);
          for (const auto& [step, b] : steps) {
            s.x.push_back(static_cast<double>(step));
            s.y.push_back(b[1] / b[2]);
            s.lo.push_back(b[0] / b[2]);
            s.hi.push_back(b[1] / b[2]);
          }
          band.series.push_back(s);
        }
      }
    }
    if (!alpha_sum.empty())
      alpha.series.push_back(mean_series(o.optimizer.label, palette(k), alpha_sum));
  }
  if (!any) return "";
  std::ostringstream o;
  o << "<h2>Spectra</h2>\n<p>From the best-LR seed runs' <code>spectra.jsonl</code> "
       "(<code>\"spectra_every\"</code> in the suite's train object; docs/DIAGNOSTICS.md).</p>\n";
  o << "<figure>\n" << render_svg(alpha) << "</figure>\n";
  for (const auto& [type, chart] : spectrum)
    o << "<figure>\n" << render_svg(chart) << "</figure>\n";
  if (!band.series.empty()) o << "<figure>\n" << render_svg(band) << "</figure>\n";
  return o.str();
}

}  // namespace steepest::detail
