#include "bench/spectra_report.h"

#include <array>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>

#include "bench/svg_chart.h"
#include "io/json_fields.h"

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

using nlohmann::json;

constexpr const char* kHint =
    "the file was edited or damaged (`steepest train --spectra-every K` writes it; delete it to "
    "record again)";
// A matrix side: far beyond any model this trains.
constexpr int64_t kMaxSide = int64_t{1} << 40;

// Reads one statistics object (SpectrumRecordStats's format) at `key` of a
// matrix of rank `rank`; the singular-value lists are required when `need_sigma`.
SpectrumRecordStats stats_of(const JsonFields& f, const json& v, const std::string& key,
                             int64_t rank, bool need_sigma) {
  f.object(v, key, "an object of singular-value statistics {\"sigma_max\": x, \"alpha\": {…}, …}");
  const std::string at = key + ".";
  SpectrumRecordStats s;
  s.sigma_max = f.number_or_null(f.need(v, at, "sigma_max", "a number"), at + "sigma_max");
  s.stable_rank = f.number_or_null(f.need(v, at, "stable_rank", "a number"), at + "stable_rank");
  const std::string fit = "an object {\"alpha\": x, …} (the heavy-tail fit)";
  const json& alpha = f.object(f.need(v, at, "alpha", fit), at + "alpha", fit);
  s.alpha = f.number_or_null(f.need(alpha, at + "alpha.", "alpha", "a number"), at + "alpha.alpha");
  const size_t r = static_cast<size_t>(rank);
  auto numbers = [&](const json& list, const std::string& name, size_t lo, size_t hi,
                     const std::string& what) {
    const json& a = f.array(list, at + name, what, lo, hi);
    std::vector<double> out;
    for (size_t i = 0; i < a.size(); ++i)
      out.push_back(f.number(a[i], at + name + "[" + std::to_string(i) + "]"));
    return out;
  };
  const std::string upto = "a list of at most " + std::to_string(rank) + " numbers (the rank)";
  if (v.contains("sigma")) {
    s.sigma = numbers(v["sigma"], "sigma", 0, r, upto);
  } else if (need_sigma || v.contains("sigma_top")) {
    const std::string kept =
        "a list of numbers (with \"sigma_bottom\": at most " + std::to_string(rank) + ", the rank)";
    s.sigma_top = numbers(f.need(v, at, "sigma_top", "a list of numbers (or \"sigma\")"),
                          "sigma_top", 0, r, kept);
    s.sigma_bottom = numbers(f.need(v, at, "sigma_bottom", "a list of numbers"), "sigma_bottom", 0,
                             r - s.sigma_top.size(), kept);
    s.sigma_quantiles =
        numbers(f.need(v, at, "sigma_quantiles", "a list of 7 numbers"), "sigma_quantiles", 7, 7,
                "a list of 7 numbers (q = 0, .1, .25, .5, .75, .9, 1)");
  }
  return s;
}

SpectraRecord record_of(const json& j, int line, const std::string& where) {
  const JsonFields f(where, kHint);
  if (!j.is_object())
    f.fail("a spectra record must be a JSON object {\"step\": N, \"name\": …}, got " + shown(j));
  SpectraRecord rec;
  rec.line = line;
  rec.step = f.whole(f.need(j, "", "step", "a whole number >= 0 (the training step)"), "step", 0,
                     std::numeric_limits<int64_t>::max());
  rec.name = f.text(f.need(j, "", "name", "a string (the parameter's name)"), "name");
  if (rec.name.empty()) f.wrong("name", "a parameter's name", j["name"]);
  const std::string dims = "a list of 2 to 8 sizes in [1, 2^40] ([rows, columns, ...])";
  const json& shape = f.array(f.need(j, "", "shape", dims), "shape", dims, 2, 8);
  for (size_t i = 0; i < shape.size(); ++i)
    rec.shape.push_back(f.whole(shape[i], "shape[" + std::to_string(i) + "]", 1, kMaxSide));
  // The statistics are of the matrix (rows, everything else): as_matrix in
  // train/spectra_recorder.cpp. Columns saturate: only min(rows, columns) matters.
  int64_t cols = 1;
  for (size_t i = 1; i < rec.shape.size(); ++i)
    cols = cols > kMaxSide / rec.shape[i] ? kMaxSide : cols * rec.shape[i];
  rec.rank = std::min(rec.shape[0], cols);
  rec.weight =
      stats_of(f, f.need(j, "", "weight", "an object of statistics"), "weight", rec.rank, true);
  rec.update =
      stats_of(f, f.need(j, "", "update", "an object of statistics"), "update", rec.rank, false);
  const json& momentum = f.need(j, "", "momentum", "an object of statistics, or null");
  if (!momentum.is_null()) rec.momentum = stats_of(f, momentum, "momentum", rec.rank, false);
  rec.alignment =
      j.contains("alignment") ? f.number_or_null(j["alignment"], "alignment") : std::nan("");
  if (j.contains("msign_band") && !j["msign_band"].is_null()) {
    const std::string band = "null or [sigma_min, sigma_max] (2 numbers, sigma_min <= sigma_max)";
    const json& b = f.array(j["msign_band"], "msign_band", band, 2, 2);
    const double lo = f.number_or_null(b[0], "msign_band[0]");
    const double hi = f.number_or_null(b[1], "msign_band[1]");
    if (lo > hi) f.wrong("msign_band", band, b);
    rec.msign_band = std::array<double, 2>{lo, hi};
  }
  rec.json = j;
  return rec;
}

std::vector<SpectraRecord> records_of(const RunResult& run) {
  if (run.status != RunStatus::Done) return {};
  const fs::path path = fs::path(run.run.config.out) / "spectra.jsonl";
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return {};
  return read_spectra_jsonl(path.string());
}

// (rank, σ) pairs a statistics record holds, ranks 1-based from the largest
// (the sizes were checked against r when read).
std::map<int64_t, double> sigma_by_rank(const SpectrumRecordStats& stats, int64_t r) {
  std::map<int64_t, double> out;
  if (!stats.sigma.empty()) {
    for (size_t i = 0; i < stats.sigma.size(); ++i)
      out[static_cast<int64_t>(i) + 1] = stats.sigma[i];
    return out;
  }
  const auto& top = stats.sigma_top;
  for (size_t i = 0; i < top.size(); ++i) out[static_cast<int64_t>(i) + 1] = top[i];
  const auto& bottom = stats.sigma_bottom;
  for (size_t i = 0; i < bottom.size(); ++i)
    out[r - static_cast<int64_t>(bottom.size()) + 1 + static_cast<int64_t>(i)] = bottom[i];
  const std::vector<double> q = {0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0};
  const auto& qs = stats.sigma_quantiles;
  for (size_t i = 0; i < qs.size() && i < q.size(); ++i)
    out[r - static_cast<int64_t>(std::llround(q[i] * static_cast<double>(r - 1)))] = qs[i];
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

std::vector<SpectraRecord> parse_spectra_jsonl(const std::string& text, const std::string& path) {
  std::vector<SpectraRecord> out;
  for_each_json_line(text, path, kHint, [&](int line, const json& j, const std::string& where) {
    out.push_back(record_of(j, line, where));
  });
  return out;
}

std::vector<SpectraRecord> read_spectra_jsonl(const std::string& path) {
  return parse_spectra_jsonl(read_text_file(path, "'" + path + "'"), path);
}

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
        const double a = rec.weight.alpha;
        if (!(a > 0)) continue;  // also NaN: no fit
        auto& slot = alpha_sum[rec.step];
        slot.first += a;
        ++slot.second;
      }
      if (seed != 0) continue;
      // The last recorded weight spectrum per layer type (seed run 0).
      const int64_t last = records.back().step;
      std::map<std::string, std::map<int64_t, std::pair<double, int>>> log_sigma;
      // Band per layer type over training: Σ σ_min, Σ σ_max, count.
      std::map<std::string, std::map<int64_t, std::array<double, 3>>> bands;
      for (const auto& rec : records) {
        const std::string type = layer_type(rec.name);
        if (rec.step == last)
          for (const auto& [rank, s] : sigma_by_rank(rec.weight, rec.rank))
            if (s > 0) {
              auto& slot = log_sigma[type][rank];
              slot.first += std::log10(s);
              ++slot.second;
            }
        if (rec.msign_band && std::isfinite((*rec.msign_band)[0]) &&
            std::isfinite((*rec.msign_band)[1])) {
          auto& b = bands[type][rec.step];
          b[0] += (*rec.msign_band)[0];
          b[1] += (*rec.msign_band)[1];
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
