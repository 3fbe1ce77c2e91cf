#include "steepest/io/npy.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <stdexcept>
#include <vector>

#include "util/atomic_file.h"

namespace steepest {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("npy file '" + path + "': " + what);
}

// At most this many dimensions (NumPy 2's own limit).
constexpr size_t kMaxDims = 64;

// `s` with non-printable bytes escaped, at most 60 characters (it may be any
// bytes from a damaged file).
std::string printable(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < 60; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return s.size() > 60 ? out + "..." : out;
}

// The header is the repr() of a Python dict,
// {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }, padded with
// spaces and a newline. A small strict parser instead of a regex: it rejects
// what NumPy would reject, names where it stopped, and never recurses.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& path) : text_(text), path_(path) {}

  struct Fields {
    std::string descr;
    bool fortran_order = false;
    std::vector<int64_t> shape;
    std::string shape_text;  // as written, for messages
  };

  Fields parse() {
    Fields f;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    skip_space();
    while (peek() != '}') {
      const std::string key = string_literal();
      expect(':');
      skip_space();
      if (key == "descr") {
        if (seen_descr) bad("'descr' appears twice");
        if (peek() == '[')
          fail(path_,
               "structured dtype (a list of fields) is not supported; supported: float32 "
               "('<f4') and float64 ('<f8'); save one field, e.g. a['x']");
        f.descr = string_literal();
        seen_descr = true;
      } else if (key == "fortran_order") {
        if (seen_order) bad("'fortran_order' appears twice");
        f.fortran_order = boolean();
        seen_order = true;
      } else if (key == "shape") {
        if (seen_shape) bad("'shape' appears twice");
        const size_t start = pos_;
        f.shape = int_tuple();
        f.shape_text = text_.substr(start, pos_ - start);
        seen_shape = true;
      } else {
        bad("unexpected key '" + printable(key) +
            "' (an .npy header has descr, fortran_order and shape)");
      }
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
      } else if (peek() != '}') {
        bad("expected ',' or '}'");
      }
    }
    ++pos_;
    // NumPy pads with spaces and ends with '\n'; anything else is damage.
    for (; pos_ < text_.size(); ++pos_)
      if (text_[pos_] != ' ' && text_[pos_] != '\n' && text_[pos_] != '\0')
        bad("unexpected text after the dictionary");
    for (const auto& [seen, key] : {std::pair<bool, const char*>{seen_descr, "descr"},
                                    {seen_order, "fortran_order"},
                                    {seen_shape, "shape"}})
      if (!seen)
        fail(path_, std::string("header has no '") + key + "' entry: \"" + printable(text_) +
                        "\"; re-save the array with numpy.save");
    return f;
  }

 private:
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }

  void skip_space() {
    while (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r') ++pos_;
  }

  void expect(char c) {
    skip_space();
    if (peek() != c) bad(std::string("expected '") + c + "'");
    ++pos_;
  }

  [[noreturn]] void bad(const std::string& what) const {
    fail(path_, "corrupt header: " + what + " at byte " + std::to_string(pos_) + " of \"" +
                    printable(text_) + "\"; re-save the array with numpy.save");
  }

  std::string string_literal() {
    skip_space();
    const char quote = peek();
    if (quote != '\'' && quote != '"') bad("expected a quoted string");
    const size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string::npos) bad("unterminated string");
    std::string s = text_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return s;
  }

  bool boolean() {
    if (text_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      return true;
    }
    if (text_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      return false;
    }
    bad("expected True or False");
  }

  // (), (5,) or (2, 3): non-negative integers (an 'L' suffix from Python 2 is fine).
  std::vector<int64_t> int_tuple() {
    std::vector<int64_t> dims;
    expect('(');
    skip_space();
    while (peek() != ')') {
      if (peek() < '0' || peek() > '9') bad("expected a non-negative whole number in the shape");
      int64_t d = 0;
      for (; peek() >= '0' && peek() <= '9'; ++pos_) {
        const int digit = peek() - '0';
        if (d > (std::numeric_limits<int64_t>::max() - digit) / 10)
          bad("shape dimension larger than 2^63 - 1");
        d = d * 10 + digit;
      }
      if (peek() == 'L') ++pos_;
      dims.push_back(d);
      if (dims.size() > kMaxDims) bad("more than " + std::to_string(kMaxDims) + " dimensions");
      skip_space();
      if (peek() == ',') {
        ++pos_;
        skip_space();
      } else if (peek() != ')') {
        bad("expected ',' or ')' in the shape");
      }
    }
    ++pos_;
    return dims;
  }

  const std::string& text_;
  const std::string& path_;
  size_t pos_ = 0;
};

// NumPy's name of a descr such as '<i8' (int64), for messages.
std::string dtype_name(const std::string& descr) {
  static const std::map<std::string, std::string> kinds = {
      {"f", "float"}, {"i", "int"}, {"u", "uint"}, {"c", "complex"}, {"b", "bool"}};
  if (descr.size() < 3) return "unknown";
  const std::string order = descr.substr(0, 1), kind = descr.substr(1, 1), bytes = descr.substr(2);
  const auto k = kinds.find(kind);
  if (k == kinds.end() || bytes.find_first_not_of("0123456789") != std::string::npos ||
      bytes.size() > 2)
    return "unknown";
  std::string name = kind == "b" ? "bool" : k->second + std::to_string(8 * std::stoi(bytes));
  if (order == ">") name += ", big-endian";
  return name;
}

}  // namespace

at::Tensor read_npy(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    fail(path, "is a directory; pass the .npy file itself");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open for reading (does it exist?)");
  // Every size below is checked against the file's size before anything is
  // allocated, so a damaged header cannot ask for gigabytes.
  in.seekg(0, std::ios::end);
  const std::streamoff file_bytes = in.tellg();
  in.seekg(0, std::ios::beg);
  if (file_bytes < 0) fail(path, "cannot determine the file size");
  char magic[8];
  if (!in.read(magic, 8) || std::string(magic, 6) != "\x93NUMPY")
    fail(path, "not a NumPy .npy file (bad magic); save it with numpy.save");
  const int major = static_cast<unsigned char>(magic[6]);
  if (major < 1 || major > 3)
    fail(path, "unsupported .npy format version " + std::to_string(major) +
                   " (supported: 1, 2 and 3); save it with numpy.save");
  const int len_bytes = major == 1 ? 2 : 4;
  unsigned char b[4];
  if (!in.read(reinterpret_cast<char*>(b), len_bytes))
    fail(path, "truncated header: the file ends inside the header length field");
  uint64_t header_len = 0;
  for (int i = len_bytes - 1; i >= 0; --i) header_len = (header_len << 8) | b[i];
  const uint64_t data_offset = 8 + len_bytes + header_len;
  if (data_offset > static_cast<uint64_t>(file_bytes))
    fail(path, "truncated header: its length field says " + std::to_string(header_len) +
                   " bytes but the file has only " + std::to_string(file_bytes - 8 - len_bytes) +
                   " after it");
  std::string header(header_len, '\0');
  if (!in.read(header.data(), static_cast<std::streamsize>(header_len)))
    fail(path, "truncated header: read " + std::to_string(in.gcount()) + " of " +
                   std::to_string(header_len) + " bytes");

  const HeaderParser::Fields f = HeaderParser(header, path).parse();
  at::ScalarType dtype;
  if (f.descr == "<f4") {
    dtype = at::kFloat;
  } else if (f.descr == "<f8") {
    dtype = at::kDouble;
  } else {
    fail(path, "dtype '" + printable(f.descr) + "' (" + dtype_name(f.descr) +
                   ") is not supported; supported: float32 ('<f4') and float64 ('<f8'), "
                   "e.g. save a.astype(numpy.float32)");
  }
  // Byte count with overflow checks: (2^40, 2^40) must be an error, not a
  // wrapped-around small allocation. Zero dimensions count as 1 here so that
  // libtorch's own stride arithmetic cannot overflow either, e.g. (0, 2^62, 2^62).
  const int64_t elem = dtype == at::kFloat ? 4 : 8;
  int64_t bound = elem, bytes = elem;
  for (const int64_t d : f.shape) {
    if (d > 1 && bound > std::numeric_limits<int64_t>::max() / d)
      fail(path, "shape " + f.shape_text + " is too large: its byte count overflows 64 bits");
    bound *= std::max<int64_t>(d, 1);
    bytes *= d;
  }
  const uint64_t available = static_cast<uint64_t>(file_bytes) - data_offset;
  if (static_cast<uint64_t>(bytes) > available)
    fail(path, "truncated data: shape " + f.shape_text + " of " + dtype_name(f.descr) + " needs " +
                   std::to_string(bytes) + " bytes, found " + std::to_string(available) +
                   "; the file is incomplete or its header is damaged");
  // A Fortran-ordered (m, n, ...) array is a C-ordered (..., n, m) one, transposed.
  std::vector<int64_t> stored = f.shape;
  if (f.fortran_order) std::reverse(stored.begin(), stored.end());
  at::Tensor t = at::empty(stored, at::TensorOptions().dtype(dtype));
  if (bytes > 0 && !in.read(static_cast<char*>(t.data_ptr()), bytes))
    fail(path, "truncated data: expected " + std::to_string(bytes) + " bytes for shape " +
                   f.shape_text + ", read " + std::to_string(in.gcount()));
  if (f.fortran_order && t.dim() > 1) {
    std::vector<int64_t> order(t.dim());
    for (int64_t i = 0; i < t.dim(); ++i) order[i] = t.dim() - 1 - i;
    t = t.permute(order).contiguous();
  }
  return t;
}

void write_npy(const std::string& path, const at::Tensor& tensor) {
  if (tensor.scalar_type() != at::kFloat && tensor.scalar_type() != at::kDouble)
    throw std::runtime_error("write_npy '" + path + "': only float32/float64 tensors, got " +
                             std::string(c10::toString(tensor.scalar_type())));
  const at::Tensor t = tensor.to(at::kCPU).contiguous();
  std::string shape = "(";
  for (int64_t i = 0; i < t.dim(); ++i) shape += (i ? ", " : "") + std::to_string(t.size(i));
  shape += t.dim() == 1 ? ",)" : ")";  // numpy's own spelling: (5,) and (2, 3)
  std::string header = std::string("{'descr': '") +
                       (t.scalar_type() == at::kFloat ? "<f4" : "<f8") +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Pad with spaces so magic + length + header + '\n' is a multiple of 64.
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  const unsigned char len[2] = {static_cast<unsigned char>(header.size() & 0xff),
                                static_cast<unsigned char>(header.size() >> 8)};
  try {
    detail::write_file_atomically(
        path, {std::string_view("\x93NUMPY\x01\x00", 8),
               std::string_view(reinterpret_cast<const char*>(len), 2), std::string_view(header),
               std::string_view(static_cast<const char*>(t.data_ptr()),
                                static_cast<size_t>(t.numel() * t.element_size()))});
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("write_npy: ") + e.what());
  }
}

}  // namespace steepest
