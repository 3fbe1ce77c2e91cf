// Internal: numbers in names, flags and ids are parsed the same under every
// locale. std::stod and strtod follow LC_NUMERIC: under a German locale they
// stop at the '.' of "2.5", so `schatten-2.5` was refused.
#pragma once

#include <charconv>
#include <optional>
#include <string>
#include <system_error>

namespace steepest::detail {

// The double `text` spells in full (C syntax: "2.5", "1e-3", "inf", "nan"; a
// leading '+' too), or nothing if any character is left over or it is out of range.
inline std::optional<double> parse_double(const std::string& text) {
  const char* begin = text.data();
  const char* end = begin + text.size();
  if (begin != end && *begin == '+') ++begin;
  double v = 0.0;
  const auto [ptr, ec] = std::from_chars(begin, end, v);
  if (ec != std::errc() || ptr != end || begin == end) return std::nullopt;
  return v;
}

}  // namespace steepest::detail
