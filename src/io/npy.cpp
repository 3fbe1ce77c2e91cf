#include "steepest/io/npy.h"

#include <cstdint>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace steepest {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("npy file '" + path + "': " + what);
}

std::string header_value(const std::string& header, const std::string& key,
                         const std::string& path) {
  const std::regex re("'" + key + "'\\s*:\\s*('[^']*'|True|False|\\([^)]*\\))");
  std::smatch m;
  if (!std::regex_search(header, m, re)) fail(path, "header has no '" + key + "' entry");
  return m[1].str();
}

}  // namespace

at::Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open for reading (does it exist?)");
  char magic[8];
  if (!in.read(magic, 8) || std::string(magic, 6) != "\x93NUMPY")
    fail(path, "not a NumPy .npy file (bad magic); save it with numpy.save");
  const int major = static_cast<unsigned char>(magic[6]);
  uint32_t header_len = 0;
  if (major == 1) {
    unsigned char b[2];
    if (!in.read(reinterpret_cast<char*>(b), 2)) fail(path, "truncated header");
    header_len = b[0] | (b[1] << 8);
  } else if (major == 2 || major == 3) {
    unsigned char b[4];
    if (!in.read(reinterpret_cast<char*>(b), 4)) fail(path, "truncated header");
    header_len = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  } else {
    fail(path, "unsupported .npy format version " + std::to_string(major));
  }
  std::string header(header_len, '\0');
  if (!in.read(header.data(), header_len)) fail(path, "truncated header");

  const std::string descr = header_value(header, "descr", path);
  at::ScalarType dtype;
  if (descr == "'<f4'") {
    dtype = at::kFloat;
  } else if (descr == "'<f8'") {
    dtype = at::kDouble;
  } else {
    fail(path, "dtype " + descr +
                   " is not supported; use float32 ('<f4') or float64 ('<f8'), "
                   "e.g. a.astype(numpy.float32)");
  }
  if (header_value(header, "fortran_order", path) != "False")
    fail(path, "Fortran-ordered array; save numpy.ascontiguousarray(a) instead");
  std::vector<int64_t> shape;
  const std::string tuple = header_value(header, "shape", path);
  std::stringstream ss(tuple.substr(1, tuple.size() - 2));
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.find_first_not_of(" ") == std::string::npos) continue;
    try {
      shape.push_back(std::stoll(item));
    } catch (const std::exception&) {
      fail(path, "cannot parse shape " + tuple);
    }
  }
  at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
  const auto bytes = static_cast<std::streamsize>(t.numel() * t.element_size());
  if (!in.read(static_cast<char*>(t.data_ptr()), bytes))
    fail(path, "truncated data: expected " + std::to_string(bytes) + " bytes for shape " + tuple +
                   ", found " + std::to_string(in.gcount()));
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
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error("write_npy: cannot open '" + tmp + "' for writing");
    out.write("\x93NUMPY\x01\x00", 8);
    const unsigned char len[2] = {static_cast<unsigned char>(header.size() & 0xff),
                                  static_cast<unsigned char>(header.size() >> 8)};
    out.write(reinterpret_cast<const char*>(len), 2);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    out.write(static_cast<const char*>(t.data_ptr()),
              static_cast<std::streamsize>(t.numel() * t.element_size()));
    if (!out.flush()) throw std::runtime_error("write_npy: failed writing '" + tmp + "'");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error("write_npy: cannot rename '" + tmp + "' to '" + path + "'");
  }
}

}  // namespace steepest
