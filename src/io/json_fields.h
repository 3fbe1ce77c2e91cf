// Internal: reading the JSON files steepest writes and reads back (bench
// suites, run summaries, spectra.jsonl) without trusting them. Parsing refuses
// deep nesting and never lets nlohmann's "[json.exception…]" text through;
// JsonFields gives typed access to one key at a time. Every error is a
// std::invalid_argument that starts with `where` (the file, and for .jsonl the
// line), then the key's path, what it must be and the value found, e.g.
//   runs/a/spectra.jsonl:3: key 'msign_band' must be null or [sigma_min,
//   sigma_max] (2 numbers), got []; <hint>
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace steepest::detail {

// Deepest nesting of arrays and objects a file of ours may have (they use 4).
// Deeper text is refused before nlohmann sees it: its parser copes, but
// copying, comparing or printing such a value recurses once per level.
constexpr int kMaxJsonDepth = 64;

// `text` as one JSON value. Errors: "<where> is not valid JSON: parse error at
// line 1, column 9: …" and "<where> nests arrays or objects deeper than 64
// levels".
nlohmann::json parse_json(const std::string& text, const std::string& where);

// The whole file at `path`, parsed by parse_json. `where` names it in errors
// (e.g. "suite 'x.json'"); "" means "'<path>'".
nlohmann::json read_json(const std::string& path, const std::string& where = "");

// The bytes of the file at `path`; "cannot read <where> (missing or unreadable)".
std::string read_text_file(const std::string& path, const std::string& where = "");

// JSON Lines: calls fn(line_number, value, where) for every non-empty line of
// `text`, in order (line numbers 1-based; where = "<path>:<line>"). A last
// line without its newline that does not parse is skipped: a killed writer
// was writing it. Any other line that does not parse is an error naming
// "<path>:<line>", followed by `hint`.
void for_each_json_line(
    const std::string& text, const std::string& path, const std::string& hint,
    const std::function<void(int line, const nlohmann::json& value, const std::string& where)>& fn);

// A value as JSON text for a message, cut to 80 characters.
std::string shown(const nlohmann::json& v);

// Typed access to the keys of one JSON value read from `where`. `hint`, if
// not empty, ends every message ("; <hint>"): what to do about a bad file.
class JsonFields {
 public:
  explicit JsonFields(std::string where, std::string hint = "");

  // "<where>: <msg>[; <hint>]"
  [[noreturn]] void fail(const std::string& msg) const;
  // "<where>: key '<key>' must be <what>, got <value>[; <hint>]"
  [[noreturn]] void wrong(const std::string& key, const std::string& what,
                          const nlohmann::json& got) const;

  // Refuses a key of `obj` outside `valid`, naming `prefix + key` and the valid ones.
  void only_keys(const nlohmann::json& obj, const std::string& prefix,
                 const std::vector<std::string>& valid) const;

  // obj[name] (obj must be an object); "key '<prefix><name>' is missing; it
  // must be <what>" when absent.
  const nlohmann::json& need(const nlohmann::json& obj, const std::string& prefix,
                             const std::string& name, const std::string& what) const;

  const nlohmann::json& object(const nlohmann::json& v, const std::string& key,
                               const std::string& what) const;
  // An array of min_size to max_size elements; `what` describes the whole.
  const nlohmann::json& array(const nlohmann::json& v, const std::string& key,
                              const std::string& what, size_t min_size,
                              size_t max_size = SIZE_MAX) const;
  std::string text(const nlohmann::json& v, const std::string& key) const;
  // A finite number.
  double number(const nlohmann::json& v, const std::string& key) const;
  // A finite number, or null (read as NaN): how the trainer writes a NaN statistic.
  double number_or_null(const nlohmann::json& v, const std::string& key) const;
  // A whole number in [lo, hi]; 3.0 is fine, 3.5 and 1e30 are not.
  int64_t whole(const nlohmann::json& v, const std::string& key, int64_t lo, int64_t hi) const;

  const std::string& where() const { return where_; }

 private:
  std::string where_, hint_;
};

}  // namespace steepest::detail
