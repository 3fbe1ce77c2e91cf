// Internal: the text of report tables, shared by the bench report and the
// baseline comparison: a number in a printf format with a mark for missing
// values, and a Markdown table.
#pragma once

#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace steepest::detail {

// v in the printf format `fmt` (one double conversion); NaN → "–", ±inf → "inf"/"-inf".
inline std::string number_text(const char* fmt, double v) {
  if (!std::isfinite(v)) return std::isnan(v) ? "–" : (v > 0 ? "inf" : "-inf");
  char b[64];
  std::snprintf(b, sizeof(b), fmt, v);
  return b;
}

// A GitHub Markdown table: the header row, the separator, one line per row.
inline std::string markdown_table(const std::vector<std::string>& header,
                                  const std::vector<std::vector<std::string>>& rows) {
  std::ostringstream o;
  o << "|";
  for (const auto& c : header) o << " " << c << " |";
  o << "\n|";
  for (size_t i = 0; i < header.size(); ++i) o << "---|";
  o << "\n";
  for (const auto& row : rows) {
    o << "|";
    for (const auto& c : row) o << " " << c << " |";
    o << "\n";
  }
  return o.str();
}

}  // namespace steepest::detail
