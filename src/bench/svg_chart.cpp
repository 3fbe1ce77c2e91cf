#include "bench/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace steepest::detail {
namespace {

std::string num(double v) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.1f", v);
  return b;
}

std::string tick_text(double v) {
  char b[32];
  const double a = std::fabs(v);
  if (a != 0 && (a < 1e-3 || a >= 1e5))
    std::snprintf(b, sizeof(b), "%.0e", v);
  else
    std::snprintf(b, sizeof(b), "%.4g", v);
  return b;
}

// "Nice" linear ticks (1, 2, 5 × 10^k) covering [lo, hi].
std::vector<double> linear_ticks(double lo, double hi) {
  const double span = hi - lo;
  const double raw = span / 6.0;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (raw <= m * mag) {
      step = m * mag;
      break;
    }
  std::vector<double> t;
  for (double v = std::ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    t.push_back(std::fabs(v) < step * 1e-9 ? 0.0 : v);
  return t;
}

std::vector<double> log_ticks(double lo, double hi) {
  std::vector<double> t;
  const int a = static_cast<int>(std::floor(std::log10(lo))),
            b = static_cast<int>(std::ceil(std::log10(hi)));
  const bool dense = b - a <= 2;
  for (int e = a; e <= b; ++e)
    for (double m : dense ? std::vector<double>{1, 2, 5} : std::vector<double>{1}) {
      const double v = m * std::pow(10.0, e);
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) t.push_back(v);
    }
  return t;
}

}  // namespace

std::string palette(size_t k) {
  static const char* colors[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                 "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  return colors[k % 10];
}

std::string xml_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&':
        o += "&amp;";
        break;
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

std::string render_svg(const ChartSpec& c) {
  const double L = 70, R = 190, T = 40, B = 60;  // margins; legend on the right
  const double pw = c.width - L - R, ph = c.height - T - B;
  auto cap = [&](double y) { return c.y_cap > 0 ? std::min(y, c.y_cap) : y; };
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const auto& s : c.series)
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || (c.log_x && s.x[i] <= 0)) continue;
      x0 = std::min(x0, s.x[i]);
      x1 = std::max(x1, s.x[i]);
      for (double y :
           {s.y[i], i < s.lo.size() ? s.lo[i] : s.y[i], i < s.hi.size() ? s.hi[i] : s.y[i]})
        if (std::isfinite(y)) {
          y0 = std::min(y0, cap(y));
          y1 = std::max(y1, cap(y));
        }
    }
  if (c.hline > 0) {
    y0 = std::min(y0, c.hline);
    y1 = std::max(y1, c.hline);
  }
  std::ostringstream o;
  o << "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"" << xml_escape(c.id)
    << "\" class=\"chart\" width=\"" << c.width << "\" height=\"" << c.height << "\" viewBox=\"0 0 "
    << c.width << " " << c.height << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o << "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  o << "<text x=\"" << num(L + pw / 2)
    << "\" y=\"22\" text-anchor=\"middle\" font-size=\"15\" "
       "font-weight=\"bold\">"
    << xml_escape(c.title) << "</text>\n";
  if (!std::isfinite(x0)) {
    o << "<text x=\"" << num(L + pw / 2) << "\" y=\"" << num(T + ph / 2)
      << "\" text-anchor=\"middle\">no finished runs yet</text>\n</svg>\n";
    return o.str();
  }
  if (x1 == x0) {
    x0 = c.log_x ? x0 / 2 : x0 - 1;
    x1 = c.log_x ? x1 * 2 : x1 + 1;
  }
  if (y1 == y0) {
    y0 -= 0.5;
    y1 += 0.5;
  }
  const double ypad = (y1 - y0) * 0.06;
  y0 -= ypad;
  y1 += ypad;
  if (c.log_x) {
    x0 /= 1.25;
    x1 *= 1.25;
  } else {
    const double xpad = (x1 - x0) * 0.03;
    x0 -= xpad;
    x1 += xpad;
  }
  auto X = [&](double x) {
    const double f = c.log_x ? (std::log(x) - std::log(x0)) / (std::log(x1) - std::log(x0))
                             : (x - x0) / (x1 - x0);
    return L + f * pw;
  };
  auto Y = [&](double y) { return T + (1.0 - (cap(y) - y0) / (y1 - y0)) * ph; };
  // Axes, grid, ticks.
  o << "<rect x=\"" << num(L) << "\" y=\"" << num(T) << "\" width=\"" << num(pw) << "\" height=\""
    << num(ph) << "\" fill=\"none\" stroke=\"#333\"/>\n";
  for (double t : c.log_x ? log_ticks(x0, x1) : linear_ticks(x0, x1)) {
    o << "<line x1=\"" << num(X(t)) << "\" x2=\"" << num(X(t)) << "\" y1=\"" << num(T) << "\" y2=\""
      << num(T + ph) << "\" stroke=\"#e5e5e5\"/>\n";
    o << "<text x=\"" << num(X(t)) << "\" y=\"" << num(T + ph + 16) << "\" text-anchor=\"middle\">"
      << tick_text(t) << "</text>\n";
  }
  for (double t : linear_ticks(y0, y1)) {
    o << "<line x1=\"" << num(L) << "\" x2=\"" << num(L + pw) << "\" y1=\"" << num(Y(t))
      << "\" y2=\"" << num(Y(t)) << "\" stroke=\"#e5e5e5\"/>\n";
    o << "<text x=\"" << num(L - 6) << "\" y=\"" << num(Y(t) + 4) << "\" text-anchor=\"end\">"
      << tick_text(t) << "</text>\n";
  }
  o << "<text x=\"" << num(L + pw / 2) << "\" y=\"" << num(c.height - 18)
    << "\" text-anchor=\"middle\">" << xml_escape(c.x_label) << "</text>\n";
  o << "<text transform=\"translate(18," << num(T + ph / 2)
    << ") rotate(-90)\" text-anchor=\"middle\">" << xml_escape(c.y_label) << "</text>\n";
  if (!c.note.empty())
    o << "<text x=\"" << num(L) << "\" y=\"" << num(c.height - 3)
      << "\" font-size=\"10\" fill=\"#555\">" << xml_escape(c.note) << "</text>\n";
  if (c.hline > 0) {
    o << "<line x1=\"" << num(L) << "\" x2=\"" << num(L + pw) << "\" y1=\"" << num(Y(c.hline))
      << "\" y2=\"" << num(Y(c.hline)) << "\" stroke=\"#000\" stroke-dasharray=\"5,4\"/>\n";
    o << "<text x=\"" << num(L + pw - 4) << "\" y=\"" << num(Y(c.hline) - 4)
      << "\" text-anchor=\"end\" font-size=\"11\">" << xml_escape(c.hline_label) << "</text>\n";
  }
  // Series: band, line, markers, error bars, labels.
  for (const auto& s : c.series) {
    std::vector<size_t> idx;
    for (size_t i = 0; i < s.x.size(); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i]) && (!c.log_x || s.x[i] > 0))
        idx.push_back(i);
    if (idx.empty()) continue;
    o << "<g class=\"series\" data-name=\"" << xml_escape(s.name) << "\">\n";
    if (!s.error_bars && s.lo.size() == s.x.size() && s.hi.size() == s.x.size()) {
      o << "<polygon fill=\"" << s.color << "\" fill-opacity=\"0.18\" stroke=\"none\" points=\"";
      for (size_t i : idx) o << num(X(s.x[i])) << "," << num(Y(s.hi[i])) << " ";
      for (auto it = idx.rbegin(); it != idx.rend(); ++it)
        o << num(X(s.x[*it])) << "," << num(Y(s.lo[*it])) << " ";
      o << "\"/>\n";
    }
    if (s.line && idx.size() > 1) {
      o << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\" points=\"";
      for (size_t i : idx) o << num(X(s.x[i])) << "," << num(Y(s.y[i])) << " ";
      o << "\"/>\n";
    }
    for (size_t i : idx) {
      if (s.error_bars && i < s.lo.size() && i < s.hi.size() && std::isfinite(s.lo[i]) &&
          std::isfinite(s.hi[i]))
        o << "<line x1=\"" << num(X(s.x[i])) << "\" x2=\"" << num(X(s.x[i])) << "\" y1=\""
          << num(Y(s.lo[i])) << "\" y2=\"" << num(Y(s.hi[i])) << "\" stroke=\"" << s.color
          << "\" stroke-width=\"2\"/>\n";
      if (s.markers) {
        const bool capped = c.y_cap > 0 && s.y[i] > c.y_cap;
        if (capped)
          o << "<path d=\"M" << num(X(s.x[i]) - 5) << "," << num(Y(s.y[i]) + 4)
            << " l5,-9 l5,9 z\" fill=\"" << s.color << "\"/>\n";
        else
          o << "<circle cx=\"" << num(X(s.x[i])) << "\" cy=\"" << num(Y(s.y[i]))
            << "\" r=\"4\" fill=\"" << s.color << "\"/>\n";
      }
      if (i < s.point_labels.size() && !s.point_labels[i].empty())
        o << "<text x=\"" << num(X(s.x[i]) + 7) << "\" y=\"" << num(Y(s.y[i]) - 6)
          << "\" font-size=\"11\" fill=\"" << s.color << "\">" << xml_escape(s.point_labels[i])
          << "</text>\n";
    }
    o << "</g>\n";
  }
  // Legend.
  double ly = T + 6;
  for (const auto& s : c.series) {
    o << "<rect x=\"" << num(L + pw + 14) << "\" y=\"" << num(ly)
      << "\" width=\"14\" height=\"10\" fill=\"" << s.color << "\"/>\n";
    o << "<text x=\"" << num(L + pw + 34) << "\" y=\"" << num(ly + 9) << "\">" << xml_escape(s.name)
      << "</text>\n";
    ly += 18;
  }
  o << "</svg>\n";
  return o.str();
}

std::string html_page_head(const std::string& title) {
  return "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" +
         xml_escape(title) +
         "</title>\n<style>\n"
         "body{font-family:sans-serif;max-width:1100px;margin:24px auto;padding:0 "
         "16px;color:#222}\n"
         "table{border-collapse:collapse;font-size:13px;margin:12px 0}\n"
         "th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}\n"
         "th:first-child,td:first-child{text-align:left}\nth{background:#f2f2f2}\n"
         "figure{margin:18px 0}\n"
         ".swatch{display:inline-block;width:10px;height:10px;margin-right:6px}\n"
         "</style></head><body>\n";
}

}  // namespace steepest::detail
