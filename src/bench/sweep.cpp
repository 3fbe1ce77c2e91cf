#include "steepest/bench/sweep.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

#include "bench/svg_chart.h"
#include "io/json_fields.h"
#include "steepest/train/config.h"
#include "util/atomic_file.h"

namespace steepest {
namespace fs = std::filesystem;
namespace {

void require(bool ok, const std::string& where, const std::string& msg) {
  if (!ok) throw std::invalid_argument(where + ": " + msg);
}

// A width or depth past this is a typo (and no run of it would fit in memory).
constexpr int64_t kMaxSweepSize = 1 << 20;

int64_t value_of(const SweepSuite& s, const TrainConfig& c) {
  return s.vary == "n_embd" ? c.n_embd : c.n_layer;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

// Per optimizer: the rows of the best-LR table.
struct ShiftRow {
  std::string label;
  std::vector<std::string> best;  // per value: "0.02" / "0.02 (edge)" / "—"
  int shift = -1;
};

std::vector<ShiftRow> shift_rows(const SweepResults& r) {
  std::vector<ShiftRow> rows;
  for (const auto& o : r.suite.base.optimizers) {
    ShiftRow row;
    row.label = o.label;
    for (const auto& c : r.curves) {
      if (c.label != o.label) continue;
      row.best.push_back(c.best < 0 ? "—"
                                    : lr_text(c.lrs[static_cast<size_t>(c.best)]) +
                                          (c.best_at_edge ? " (edge)" : ""));
    }
    row.shift = best_lr_shift(r, o.label);
    rows.push_back(row);
  }
  return rows;
}

std::string budget(const SweepResults& r) {
  const auto& b = r.suite.base;
  std::ostringstream o;
  o << r.suite.vary << " ∈ {";
  for (size_t i = 0; i < r.suite.values.size(); ++i) o << (i ? ", " : "") << r.suite.values[i];
  o << "}; " << b.lr_points << " learning rates ×" << fmt("%g", b.lr_factor)
    << " apart around each "
    << "optimizer's centre, " << b.seeds.size() << " seeds each, " << b.train.steps << " steps; "
    << r.finished_runs << " of " << r.total_runs << " runs finished.";
  return o.str();
}

}  // namespace

bool is_sweep_suite(const nlohmann::json& j) {
  return j.is_object() && j.contains("vary");
}

SweepSuite sweep_from_json(const nlohmann::json& j, const std::string& where) {
  require(j.is_object(), where, "a sweep suite must be a JSON object");
  const detail::JsonFields r(where);
  const std::string vary_form = "{\"key\": \"n_embd\" or \"n_layer\", \"values\": [64, 128, …]}";
  require(j.contains("vary"), where, "needs \"vary\": " + vary_form);
  SweepSuite s;
  s.source = j;
  const auto& v = r.object(j["vary"], "vary", "an object " + vary_form);
  r.only_keys(v, "vary.", {"key", "values"});
  s.vary = r.text(r.need(v, "vary.", "key", "\"n_embd\" or \"n_layer\""), "vary.key");
  require(s.vary == "n_embd" || s.vary == "n_layer", where,
          "vary.key must be \"n_embd\" or \"n_layer\", got " + detail::shown(s.vary));
  const auto& values = r.array(r.need(v, "vary.", "values", "a non-empty list of sizes"),
                               "vary.values", "a non-empty list of sizes", 1);
  for (size_t i = 0; i < values.size(); ++i)
    s.values.push_back(
        r.whole(values[i], "vary.values[" + std::to_string(i) + "]", 1, kMaxSweepSize));
  for (size_t i = 1; i < s.values.size(); ++i)
    require(s.values[i] > s.values[i - 1], where, "vary.values must be increasing");
  nlohmann::json base = j;
  base.erase("vary");
  // A sweep compares best LRs, not steps to a target; the bench suite needs one.
  if (!base.contains("target_val_loss")) base["target_val_loss"] = 1.0;
  require(!base.contains("train") || !base["train"].contains(s.vary), where,
          "\"train\" must not set '" + s.vary + "': vary.values sets it");
  s.base = suite_from_json(base, where);
  require(s.base.lr_search_trials == 0, where,
          "a sweep runs one LR grid at every size (\"lr_grid\"); \"lr_search\" is for bench "
          "suites");
  const double planned = static_cast<double>(s.values.size()) * s.base.optimizers.size() *
                         (s.base.lr_points + static_cast<double>(s.base.seeds.size()));
  require(planned <= kMaxPlannedRuns, where,
          "plans about " + std::to_string(static_cast<int64_t>(planned)) +
              " runs (sizes x optimizers x (LR points + seeds)), more than " +
              std::to_string(kMaxPlannedRuns) + "; split it into several sweeps");
  // Every size must make a valid model (n_embd divisible by n_head, within
  // range): such runs would fail on every bench, and the sweep would end
  // "successfully" without them.
  for (size_t i = 0; i < s.values.size(); ++i) {
    TrainConfig c = s.base.train;
    (s.vary == "n_embd" ? c.n_embd : c.n_layer) = s.values[i];
    try {
      validate(train_config_from_json(nlohmann::json::parse(to_json(c).dump())));
    } catch (const std::exception& e) {
      throw std::invalid_argument(where + ": vary.values[" + std::to_string(i) +
                                  "] = " + std::to_string(s.values[i]) +
                                  " makes an invalid model: " + e.what());
    }
  }
  return s;
}

SweepSuite load_sweep(const std::string& path) {
  return sweep_from_json(detail::read_json(path, path), path);
}

std::vector<BenchRun> sweep_runs(const SweepSuite& s, const std::string& dir) {
  std::vector<BenchRun> runs;
  for (const auto& o : s.base.optimizers)
    for (int64_t value : s.values)
      for (double lr : lr_grid(s.base, o))
        for (int64_t seed : s.base.seeds) {
          BenchRun r =
              make_run(s.base, o, lr, seed, BenchPhase::Tune, dir, s.vary + std::to_string(value));
          (s.vary == "n_embd" ? r.config.n_embd : r.config.n_layer) = value;
          runs.push_back(r);
        }
  return runs;
}

std::vector<SweepCurve> sweep_curves(const SweepSuite& s, const std::vector<RunResult>& runs) {
  std::vector<SweepCurve> curves;
  for (const auto& o : s.base.optimizers) {
    const auto grid = lr_grid(s.base, o);
    for (int64_t value : s.values) {
      SweepCurve c;
      c.label = o.label;
      c.value = value;
      c.lrs = grid;
      std::vector<double> sum(grid.size(), 0.0);
      c.finished.assign(grid.size(), 0);
      for (const auto& r : runs) {
        if (r.run.label != o.label || value_of(s, r.run.config) != value) continue;
        for (size_t k = 0; k < grid.size(); ++k) {
          if (std::abs(r.run.lr - grid[k]) > 1e-9 * grid[k]) continue;
          // A diverged run counts as infinitely bad, so it never wins.
          if (r.status == RunStatus::Failed) sum[k] = std::numeric_limits<double>::infinity();
          if (r.status == RunStatus::Done) sum[k] += r.final_val_loss;
          if (r.status != RunStatus::Missing) ++c.finished[k];
        }
      }
      for (size_t k = 0; k < grid.size(); ++k)
        c.mean_loss.push_back(c.finished[k] > 0 ? sum[k] / c.finished[k]
                                                : std::numeric_limits<double>::quiet_NaN());
      double best = std::numeric_limits<double>::infinity();
      for (size_t k = 0; k < grid.size(); ++k)
        if (c.finished[k] > 0 && c.mean_loss[k] < best) {
          best = c.mean_loss[k];
          c.best = static_cast<int>(k);
        }
      c.best_at_edge = c.best == 0 || c.best + 1 == static_cast<int>(grid.size());
      curves.push_back(c);
    }
  }
  return curves;
}

SweepResults load_sweep_results(const std::string& dir) {
  const fs::path path = fs::path(dir) / "suite.json";
  if (!fs::exists(path))
    throw std::invalid_argument("'" + dir + "' is not a sweep results directory (no suite.json); " +
                                "run `steepest sweep SUITE.json --out " + dir + "` first");
  SweepResults r;
  r.dir = dir;
  r.suite = sweep_from_json(detail::read_json(path.string(), path.string()), path.string());
  std::vector<RunResult> runs;
  for (const auto& run : sweep_runs(r.suite, dir)) {
    runs.push_back(read_run(run, 0.0));
    ++r.total_runs;
    if (runs.back().status != RunStatus::Missing) ++r.finished_runs;
  }
  r.curves = sweep_curves(r.suite, runs);
  return r;
}

int best_lr_shift(const SweepResults& r, const std::string& label) {
  int lo = std::numeric_limits<int>::max(), hi = -1;
  for (const auto& c : r.curves) {
    if (c.label != label) continue;
    if (c.best < 0) return -1;
    lo = std::min(lo, c.best);
    hi = std::max(hi, c.best);
  }
  return hi < 0 ? -1 : hi - lo;
}

std::string sweep_markdown(const SweepResults& r) {
  std::ostringstream o;
  o << "Best learning rate per " << r.suite.vary
    << " (lowest mean final val loss over seeds; \"(edge)\": on the grid's edge, so the true "
       "best may lie outside it), and its shift across the values in grid steps (×"
    << fmt("%g", r.suite.base.lr_factor) << " each):\n\n| optimizer |";
  for (int64_t v : r.suite.values) o << " " << r.suite.vary << " " << v << " |";
  o << " shift |\n|---|";
  for (size_t i = 0; i <= r.suite.values.size(); ++i) o << "---|";
  o << "\n";
  for (const auto& row : shift_rows(r)) {
    o << "| " << row.label << " |";
    for (const auto& b : row.best) o << " " << b << " |";
    o << " " << (row.shift < 0 ? std::string("—") : std::to_string(row.shift)) << " |\n";
  }
  return o.str();
}

std::vector<std::string> write_sweep_report(const SweepResults& r) {
  std::ostringstream h;
  h << detail::html_page_head("steepest sweep: " + r.suite.base.name) << "<h1>steepest sweep — "
    << detail::xml_escape(r.suite.base.name) << "</h1>\n";
  if (!r.suite.base.description.empty())
    h << "<p>" << detail::xml_escape(r.suite.base.description) << "</p>\n";
  h << "<p>" << detail::xml_escape(budget(r)) << "</p>\n";
  h << "<h2>Best learning rate per " << detail::xml_escape(r.suite.vary) << "</h2>\n<table>\n<tr>"
    << "<th>optimizer</th>";
  for (int64_t v : r.suite.values)
    h << "<th>" << detail::xml_escape(r.suite.vary) << " " << v << "</th>";
  h << "<th>shift (grid steps)</th></tr>\n";
  for (const auto& row : shift_rows(r)) {
    h << "<tr><td>" << detail::xml_escape(row.label) << "</td>";
    for (const auto& b : row.best) h << "<td>" << detail::xml_escape(b) << "</td>";
    h << "<td>" << (row.shift < 0 ? std::string("—") : std::to_string(row.shift)) << "</td></tr>\n";
  }
  h << "</table>\n<p>(edge): the best LR is the grid's smallest or largest; the true best may lie "
       "outside the grid.</p>\n";
  for (const auto& o : r.suite.base.optimizers) {
    detail::ChartSpec spec;
    spec.id = "chart-" + o.label;
    spec.title = o.label + ": final validation loss vs learning rate";
    spec.x_label = "learning rate (log scale)";
    spec.y_label = "final validation loss (mean over seeds)";
    spec.log_x = true;
    spec.note = "one curve per " + r.suite.vary + "; ▲: diverged or above the axis";
    double lowest = std::numeric_limits<double>::infinity();
    size_t k = 0;
    for (const auto& c : r.curves) {
      if (c.label != o.label) continue;
      detail::ChartSeries series;
      series.name = r.suite.vary + " " + std::to_string(c.value);
      series.color = detail::palette(k++);
      series.markers = true;
      for (size_t i = 0; i < c.lrs.size(); ++i) {
        if (c.finished[i] == 0) continue;
        series.x.push_back(c.lrs[i]);
        series.y.push_back(std::isfinite(c.mean_loss[i]) ? c.mean_loss[i] : 1e9);
        if (std::isfinite(c.mean_loss[i])) lowest = std::min(lowest, c.mean_loss[i]);
      }
      spec.series.push_back(series);
    }
    if (std::isfinite(lowest)) spec.y_cap = lowest + 1.0;
    h << "<figure>" << detail::render_svg(spec) << "</figure>\n";
  }
  h << "</body></html>\n";
  const fs::path dir = r.dir;
  std::ostringstream md;
  md << "# steepest sweep — " << r.suite.base.name << "\n\n"
     << budget(r) << "\n\n"
     << sweep_markdown(r);
  detail::write_file_atomically(dir / "report.html", h.str());
  detail::write_file_atomically(dir / "report.md", md.str());
  return {(dir / "report.html").string(), (dir / "report.md").string()};
}

}  // namespace steepest
