#include "steepest/bench/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

#include "bench/spectra_report.h"
#include "bench/svg_chart.h"
#include "bench/table_text.h"
#include "steepest/bench/baseline.h"
#include "util/atomic_file.h"

namespace fs = std::filesystem;

namespace steepest {
namespace {

using detail::html_page_head;
using detail::xml_escape;

std::string f(const char* fmt, double v) {
  return detail::number_text(fmt, v);
}

std::string pm(double m, double ci, const char* fmt) {
  if (!std::isfinite(m)) return "–";
  return f(fmt, m) + (std::isfinite(ci) ? " ± " + f(fmt, ci) : "");
}

struct Row {
  std::vector<std::string> cells;
};

std::vector<std::string> header() {
  return {"optimizer",
          "best lr",
          "final val loss (mean ± 95% CI)",
          "seeds",
          "steps to target (mean ± 95% CI)",
          "reached",
          "p(mean < target)",
          "ms/step",
          "optimizer ms/step",
          "optimizer GEMMs/step",
          "optimizer MFLOP/step",
          "optimizer state (MB)",
          "tokens/s"};
}

std::vector<Row> summary_rows(const BenchResults& r) {
  std::vector<Row> rows;
  for (const auto& o : r.optimizers) {
    Row row;
    const std::string name =
        o.optimizer.label +
        (o.optimizer.label != o.optimizer.optimizer ? " (" + o.optimizer.optimizer + ")" : "");
    if (o.best_lr <= 0) {
      row.cells = {name, "–", "not tuned yet / all trials failed"};
      row.cells.resize(header().size(), "–");
      rows.push_back(row);
      continue;
    }
    const int n = static_cast<int>(o.final_losses.size());
    row.cells = {name,
                 f("%.4g", o.best_lr) + (!o.best_lr_at_edge             ? ""
                                         : r.suite.lr_search_trials > 0 ? " (edge of the trials)"
                                                                        : " (grid edge)"),
                 pm(o.final_mean, o.final_ci95, "%.4f"),
                 std::to_string(n),
                 o.reached > 0 ? pm(o.steps_mean, o.steps_ci95, "%.0f") : "not reached",
                 std::to_string(o.reached) + "/" + std::to_string(n),
                 f("%.3g", o.p_below_target),
                 f("%.1f", o.ms_per_step),
                 f("%.1f", o.optimizer_ms_per_step),
                 std::to_string(o.optimizer_gemms_per_step),
                 f("%.1f", o.optimizer_flops_per_step / 1e6),
                 f("%.2f", static_cast<double>(o.optimizer_state_bytes) / 1e6),
                 f("%.0f", o.tokens_per_s)};
    rows.push_back(row);
  }
  return rows;
}

std::string budget_text(const BenchResults& r) {
  const auto& s = r.suite;
  std::ostringstream o;
  if (s.lr_search_trials > 0)
    o << "Equal tuning budget: every optimizer gets " << s.lr_search_trials
      << " learning-rate trials, searched adaptively (×" << f("%g", s.lr_search_factor)
      << " bracket around its own default, then past whichever edge is best, then refined "
         "between the best and its better neighbour) on seed "
      << s.seeds.front();
  else
    o << "Equal tuning budget: every optimizer gets " << s.lr_points
      << " learning-rate trials (log grid, neighbours ×" << f("%g", s.lr_factor)
      << " apart, centred on its own default) on seed " << s.seeds.front();
  o << "; the LR with the lowest final val loss is then run on " << s.seeds.size()
    << " seeds (the tuning run is one of them). " << s.train.steps << " steps of batch "
    << s.train.batch << " × " << s.train.ctx << " tokens, " << s.train.n_layer
    << (s.train.n_layer == 1 ? " layer × " : " layers × ") << s.train.n_embd << " wide, eval every "
    << s.train.eval_every << " steps on " << s.train.eval_batches << " batches; target val loss "
    << f("%.4g", s.target_val_loss) << ". Runs finished: " << r.finished_runs << "/" << r.total_runs
    << ".";
  return o.str();
}

// Mean and min/max over the seed runs at each eval step all of them logged.
void mean_curve(const OptimizerResult& o, std::vector<double>& x, std::vector<double>& y,
                std::vector<double>& lo, std::vector<double>& hi) {
  std::map<int64_t, std::vector<double>> at;
  int runs = 0;
  for (const auto& r : o.seeds) {
    if (r.status != RunStatus::Done) continue;
    ++runs;
    for (const auto& [s, v] : r.val_curve) at[s].push_back(v);
  }
  for (const auto& [s, vs] : at) {
    if (static_cast<int>(vs.size()) != runs) continue;
    double sum = 0, mn = vs[0], mx = vs[0];
    for (double v : vs) {
      sum += v;
      mn = std::min(mn, v);
      mx = std::max(mx, v);
    }
    x.push_back(static_cast<double>(s));
    y.push_back(sum / static_cast<double>(vs.size()));
    lo.push_back(mn);
    hi.push_back(mx);
  }
}

std::string today() {
  std::time_t t = std::time(nullptr);
  char b[32];
  std::strftime(b, sizeof(b), "%Y-%m-%d", std::gmtime(&t));
  return b;
}

}  // namespace

std::string summary_markdown(const BenchResults& r) {
  std::vector<std::vector<std::string>> cells;
  for (const auto& row : summary_rows(r)) cells.push_back(row.cells);
  std::string md = detail::markdown_table(header(), cells);
  // Records that did not read back are counted as failed runs; name each, so
  // that a damaged file is not mistaken for a diverged run.
  std::string damaged;
  for (const auto& o : r.optimizers) {
    std::vector<const RunResult*> all;
    for (const auto& t : o.trials) all.push_back(&t);
    for (size_t i = 1; i < o.seeds.size(); ++i) all.push_back(&o.seeds[i]);
    for (const auto* run : all)
      if (run->damaged_record) damaged += "- " + run->run.id + ": " + run->error + "\n";
  }
  if (!damaged.empty()) md += "\nDamaged run records (counted as failed runs):\n\n" + damaged;
  return md;
}

std::string report_html(const BenchResults& r, const std::string& baseline) {
  return report_html(
      r, baseline,
      baseline.empty() ? std::vector<AgainstBaseline>{} : compare_to_baseline(r, baseline));
}

std::string report_html(const BenchResults& r, const std::string& baseline,
                        const std::vector<AgainstBaseline>& against) {
  const auto& s = r.suite;
  std::vector<detail::ChartSeries> loss, lr, cost;
  double worst_best = 0, lowest = std::numeric_limits<double>::infinity();
  double min_flops = std::numeric_limits<double>::infinity();
  for (const auto& o : r.optimizers)
    if (o.optimizer_flops_per_step > 0) min_flops = std::min(min_flops, o.optimizer_flops_per_step);
  const double zero_flops_x = std::isfinite(min_flops) ? min_flops / 1e6 / 10.0 : 1.0;
  for (size_t k = 0; k < r.optimizers.size(); ++k) {
    const auto& o = r.optimizers[k];
    const std::string color = detail::palette(k);
    detail::ChartSeries a;
    a.name = o.optimizer.label;
    a.color = color;
    mean_curve(o, a.x, a.y, a.lo, a.hi);
    loss.push_back(a);
    detail::ChartSeries b;
    b.name = o.optimizer.label;
    b.color = color;
    b.markers = true;
    for (const auto& t : o.trials) {
      if (t.status == RunStatus::Missing) continue;
      b.x.push_back(t.run.lr);
      b.y.push_back(t.status == RunStatus::Done ? t.final_val_loss : 1e9);
      if (t.status == RunStatus::Done) lowest = std::min(lowest, t.final_val_loss);
    }
    lr.push_back(b);
    if (o.best_lr > 0 && !o.final_losses.empty()) {
      detail::ChartSeries c;
      c.name = o.optimizer.label;
      c.color = color;
      c.line = false;
      c.markers = true;
      c.error_bars = true;
      const double x =
          o.optimizer_flops_per_step > 0 ? o.optimizer_flops_per_step / 1e6 : zero_flops_x;
      c.x = {x};
      c.y = {o.final_mean};
      const double ci = std::isfinite(o.final_ci95) ? o.final_ci95 : 0.0;
      c.lo = {o.final_mean - ci};
      c.hi = {o.final_mean + ci};
      c.point_labels = {o.optimizer.label};
      cost.push_back(c);
      worst_best = std::max(worst_best, o.final_mean);
    }
  }
  detail::ChartSpec c1;
  c1.id = "chart-loss";
  c1.title = "Validation loss vs step (best LR per optimizer)";
  c1.x_label = "training step";
  c1.y_label = "validation loss (nats per token)";
  c1.note = "line: mean over seeds; band: min–max over seeds; dashed: target";
  c1.hline = s.target_val_loss;
  c1.hline_label = "target " + f("%.4g", s.target_val_loss);
  c1.series = loss;
  detail::ChartSpec c2;
  c2.id = "chart-lr";
  c2.title = "Learning-rate sensitivity (tuning seed)";
  c2.x_label = "learning rate (log scale)";
  c2.y_label = "final validation loss (nats per token)";
  c2.log_x = true;
  c2.y_cap = std::isfinite(lowest) ? std::max(lowest + 1.0, worst_best + 0.3) : 0;
  c2.note = "▲: diverged or above the top of the axis";
  c2.series = lr;
  detail::ChartSpec c3;
  c3.id = "chart-cost";
  c3.title = "Optimizer cost vs quality";
  c3.x_label = "optimizer MFLOP per step (GEMMs + SVD/QR estimates, log scale)";
  c3.y_label = "final validation loss (mean, 95% CI)";
  c3.log_x = true;
  c3.note = "optimizers without GEMMs (AdamW, Lion, RMNP) sit at the left edge";
  c3.series = cost;

  std::ostringstream o;
  o << html_page_head("steepest bench: " + s.name);
  o << "<h1>steepest bench — " << xml_escape(s.name) << "</h1>\n";
  if (!s.description.empty()) o << "<p>" << xml_escape(s.description) << "</p>\n";
  o << "<p>" << xml_escape(budget_text(r)) << "</p>\n";
  o << "<p>Report written " << today() << " from <code>" << xml_escape(r.dir) << "</code>.</p>\n";
  o << "<h2>Summary</h2>\n<table id=\"summary\"><tr>";
  for (const auto& h : header()) o << "<th>" << xml_escape(h) << "</th>";
  o << "</tr>\n";
  const auto rows = summary_rows(r);
  for (size_t k = 0; k < rows.size(); ++k) {
    o << "<tr>";
    for (size_t i = 0; i < rows[k].cells.size(); ++i) {
      o << "<td>";
      if (i == 0)
        o << "<span class=\"swatch\" style=\"background:" << detail::palette(k) << "\"></span>";
      o << xml_escape(rows[k].cells[i]) << "</td>";
    }
    o << "</tr>\n";
  }
  o << "</table>\n<p>p(mean &lt; target): one-sided one-sample t-test of the seeds' final val "
       "loss against the target (the modded-nanogpt optimization-track rule). CI: Student t, "
       "95%, over seeds.</p>\n";
  if (!baseline.empty()) {
    o << "<h2>Against " << xml_escape(baseline) << "</h2>\n<table id=\"baseline\"><tr>";
    for (const auto& h : baseline_header(baseline)) o << "<th>" << xml_escape(h) << "</th>";
    o << "</tr>\n";
    for (const auto& row : baseline_rows(against)) {
      o << "<tr>";
      for (const auto& c : row) o << "<td>" << xml_escape(c) << "</td>";
      o << "</tr>\n";
    }
    o << "</table>\n<p>" << xml_escape(baseline_note(baseline)) << "</p>\n";
  }
  for (const auto* c : {&c1, &c2, &c3})
    o << "<figure>\n" << detail::render_svg(*c) << "</figure>\n";
  o << detail::spectra_section_html(r);
  o << "<h2>Every run</h2>\n<table id=\"runs\"><tr><th>run</th><th>phase</th><th>lr</th>"
       "<th>seed</th><th>final val loss</th><th>best val loss</th><th>steps to target</th>"
       "<th>ms/step</th><th>status</th></tr>\n";
  for (const auto& opt : r.optimizers) {
    std::vector<const RunResult*> all;
    for (const auto& t : opt.trials) all.push_back(&t);
    for (size_t i = 1; i < opt.seeds.size(); ++i) all.push_back(&opt.seeds[i]);
    for (const auto* run : all) {
      o << "<tr><td>" << xml_escape(run->run.id) << "</td><td>"
        << (run->run.phase == BenchPhase::Tune ? "LR trial" : "seed") << "</td><td>"
        << f("%.4g", run->run.lr) << "</td><td>" << run->run.seed << "</td>";
      if (run->status == RunStatus::Done) {
        o << "<td>" << f("%.4f", run->final_val_loss) << "</td><td>"
          << f("%.4f", run->best_val_loss) << "</td><td>"
          << (run->steps_to_target ? std::to_string(*run->steps_to_target) : "–") << "</td><td>"
          << f("%.1f", run->ms_per_step) << "</td><td>done</td>";
      } else {
        o << "<td>–</td><td>–</td><td>–</td><td>–</td><td>"
          << (run->status == RunStatus::Failed ? "failed: " + xml_escape(run->error) : "missing")
          << "</td>";
      }
      o << "</tr>\n";
    }
  }
  o << "</table>\n</body></html>\n";
  return o.str();
}

std::vector<std::string> write_report(const BenchResults& r, const std::string& baseline) {
  return write_report(
      r, baseline,
      baseline.empty() ? std::vector<AgainstBaseline>{} : compare_to_baseline(r, baseline));
}

std::vector<std::string> write_report(const BenchResults& r, const std::string& baseline,
                                      const std::vector<AgainstBaseline>& against) {
  const fs::path dir = r.dir;
  auto write = [](const fs::path& p, const std::string& text) {
    detail::write_file_atomically(p, text);
    return p.string();
  };
  std::ostringstream md;
  md << "# steepest bench — " << r.suite.name << "\n\n"
     << budget_text(r) << "\n\n"
     << summary_markdown(r)
     << "\np(mean < target): one-sided one-sample t-test over seeds; CI: Student t, 95%.\n";
  if (!baseline.empty()) md << "\n" << baseline_markdown(against, baseline);
  return {write(dir / "report.html", report_html(r, baseline, against)),
          write(dir / "report.md", md.str())};
}

}  // namespace steepest
