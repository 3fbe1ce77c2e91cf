// Internal: a small SVG line/scatter chart writer for the bench report
// (self-contained, no scripts): axes with ticks, title, axis labels, legend.
#pragma once

#include <string>
#include <vector>

namespace steepest::detail {

struct ChartSeries {
  std::string name, color;
  std::vector<double> x, y;
  std::vector<double> lo, hi;  // optional band (same length as x) or error bars
  bool line = true, markers = false, error_bars = false;
  std::vector<std::string> point_labels;  // optional text beside each marker
};

struct ChartSpec {
  std::string id, title, x_label, y_label, note;
  bool log_x = false;
  int width = 760, height = 430;
  double y_cap = 0;  // > 0: values above are drawn at the cap (marked ▲)
  double hline = 0;  // > 0: a dashed horizontal reference line
  std::string hline_label;
  std::vector<ChartSeries> series;
};

std::string render_svg(const ChartSpec& spec);

// Tableau-10 colours: series k gets palette(k) in every chart.
std::string palette(size_t k);

// "&", "<", ">" and quotes escaped for HTML/SVG text.
std::string xml_escape(const std::string& s);

// The opening of a report page (doctype, <title>, the shared stylesheet)
// through <body>; `title` is escaped here.
std::string html_page_head(const std::string& title);

}  // namespace steepest::detail
