#include "io/json_fields.h"
#include "util/read_file.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <stdexcept>

namespace steepest::detail {
namespace {

using nlohmann::json;

// The deepest nesting of `text` outside strings, stopping past `limit`. Only
// brackets count, so malformed text is left to the parser to name.
int nesting_depth(const std::string& text, int limit) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit) break;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

// nlohmann's message without its "[json.exception.parse_error.101] " tag,
// and with the token it echoes ("last read: '…'") cut to 40 characters: an
// unterminated string would otherwise copy the rest of the file.
std::string without_tag(const std::string& what) {
  std::string s = what;
  if (s.rfind("[json.exception.", 0) == 0) {
    const auto end = s.find("] ");
    if (end != std::string::npos) s = s.substr(end + 2);
  }
  const std::string lead = "last read: '";
  const auto a = s.find(lead);
  if (a == std::string::npos) return s;
  const size_t from = a + lead.size();
  size_t to = s.rfind("'; expected");
  if (to == std::string::npos || to < from) to = s.back() == '\'' ? s.size() - 1 : s.size();
  if (to - from > 40) s = s.substr(0, from + 37) + "..." + s.substr(to);
  return s;
}

}  // namespace

json parse_json(const std::string& text, const std::string& where) {
  if (nesting_depth(text, kMaxJsonDepth) > kMaxJsonDepth)
    throw std::invalid_argument(where + " nests arrays or objects deeper than " +
                                std::to_string(kMaxJsonDepth) +
                                " levels, far more than any file steepest writes");
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse errors, and numbers too large for a double
    throw std::invalid_argument(where + " is not valid JSON: " + without_tag(e.what()));
  }
}

std::string read_text_file(const std::string& path, const std::string& where) {
  // A regular file of bounded size only: a FIFO would block, /dev/zero fill memory.
  try {
    const bool plain = where.empty() || where == "'" + path + "'";
    return read_regular_file(path, kMaxJsonFileBytes, plain ? "file" : where);
  } catch (const std::runtime_error& e) {
    throw std::invalid_argument(e.what());
  }
}

json read_json(const std::string& path, const std::string& where) {
  const std::string name = where.empty() ? "'" + path + "'" : where;
  return parse_json(read_text_file(path, name), name);
}

void for_each_json_line(
    const std::string& text, const std::string& path, const std::string& hint,
    const std::function<void(int line, const json& value, const std::string& where)>& fn) {
  size_t begin = 0;
  for (int n = 1; begin < text.size(); ++n) {
    const size_t end = text.find('\n', begin);
    const bool complete = end != std::string::npos;
    const std::string line = text.substr(begin, complete ? end - begin : std::string::npos);
    begin = complete ? end + 1 : text.size();
    if (line.empty()) continue;
    const std::string where = path + ":" + std::to_string(n);
    json value;
    try {
      value = parse_json(line, where);
    } catch (const std::invalid_argument& e) {
      if (!complete) break;  // the line a killed writer left half written
      throw std::invalid_argument(std::string(e.what()) + (hint.empty() ? "" : "; " + hint));
    }
    fn(n, value, where);
  }
}

std::string shown(const json& v) {
  std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
  return s.size() > 80 ? s.substr(0, 77) + "..." : s;
}

JsonFields::JsonFields(std::string where, std::string hint)
    : where_(std::move(where)), hint_(std::move(hint)) {}

void JsonFields::fail(const std::string& msg) const {
  throw std::invalid_argument(where_ + ": " + msg + (hint_.empty() ? "" : "; " + hint_));
}

void JsonFields::wrong(const std::string& key, const std::string& what, const json& got) const {
  fail("key '" + key + "' must be " + what + ", got " + shown(got));
}

void JsonFields::only_keys(const json& obj, const std::string& prefix,
                           const std::vector<std::string>& valid) const {
  for (const auto& item : obj.items()) {
    if (std::find(valid.begin(), valid.end(), item.key()) != valid.end()) continue;
    std::string names;
    for (const auto& k : valid) names += (names.empty() ? "" : ", ") + k;
    fail("unknown key '" + prefix + item.key() + "'; valid: " + names);
  }
}

const json& JsonFields::need(const json& obj, const std::string& prefix, const std::string& name,
                             const std::string& what) const {
  const auto it = obj.find(name);
  if (it == obj.end()) fail("key '" + prefix + name + "' is missing; it must be " + what);
  return *it;
}

const json& JsonFields::object(const json& v, const std::string& key,
                               const std::string& what) const {
  if (!v.is_object()) wrong(key, what, v);
  return v;
}

const json& JsonFields::array(const json& v, const std::string& key, const std::string& what,
                              size_t min_size, size_t max_size) const {
  if (!v.is_array() || v.size() < min_size || v.size() > max_size) wrong(key, what, v);
  return v;
}

std::string JsonFields::text(const json& v, const std::string& key) const {
  if (!v.is_string()) wrong(key, "a string", v);
  return v.get<std::string>();
}

double JsonFields::number(const json& v, const std::string& key) const {
  // JSON has no NaN, but 1e999 may parse as infinity.
  if (!v.is_number() || !std::isfinite(v.get<double>())) wrong(key, "a finite number", v);
  return v.get<double>();
}

double JsonFields::number_or_null(const json& v, const std::string& key) const {
  if (v.is_null()) return std::nan("");
  if (!v.is_number() || !std::isfinite(v.get<double>())) wrong(key, "a finite number (or null)", v);
  return v.get<double>();
}

int64_t JsonFields::whole(const json& v, const std::string& key, int64_t lo, int64_t hi) const {
  const std::string what =
      "a whole number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  // Parsed JSON stores every non-negative integer as unsigned: check lo here too.
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if ((lo > 0 && u < static_cast<uint64_t>(lo)) || (hi < 0 || u > static_cast<uint64_t>(hi)))
      wrong(key, what, v);
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) {
    if (v.get<int64_t>() < lo || v.get<int64_t>() > hi) wrong(key, what, v);
    return v.get<int64_t>();
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // [lo, hi] as doubles: a double at or above 2^63 is out of any int64 range.
    if (std::isfinite(d) && std::floor(d) == d && d >= static_cast<double>(lo) &&
        d <= static_cast<double>(hi) && d < 9223372036854775808.0)
      return static_cast<int64_t>(d);
  }
  wrong(key, what, v);
}

}  // namespace steepest::detail
