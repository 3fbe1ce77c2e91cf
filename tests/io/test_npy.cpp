#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "steepest/io/npy.h"

namespace steepest {
namespace {

std::string tmp(const std::string& name) {
  return ::testing::TempDir() + "/steepest_" + name;
}

TEST(Npy, RoundTripFloatAndDouble) {
  for (auto dtype : {at::kFloat, at::kDouble}) {
    for (std::vector<int64_t> shape : {std::vector<int64_t>{3, 5}, {2, 3, 4}, {7}}) {
      const auto t = at::randn(shape, at::TensorOptions().dtype(dtype));
      write_npy(tmp("rt.npy"), t);
      const auto r = read_npy(tmp("rt.npy"));
      EXPECT_EQ(r.scalar_type(), dtype);
      EXPECT_TRUE(at::equal(r, t));
    }
  }
}

TEST(Npy, WritesTheStandardHeader) {
  write_npy(tmp("hdr.npy"), at::zeros({2, 3}));
  std::ifstream in(tmp("hdr.npy"), std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_NE(all.find("'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)"), std::string::npos)
      << all.substr(0, 80);
  EXPECT_EQ((all.size() - 2 * 3 * 4) % 64, 0u);  // data starts 64-byte aligned
}

void write_raw(const std::string& path, const std::string& header, size_t data_bytes) {
  std::ofstream out(path, std::ios::binary);
  std::string h = header;
  h.append((64 - (10 + h.size() + 1) % 64) % 64, ' ');
  h += '\n';
  out.write("\x93NUMPY\x01\x00", 8);
  const char len[2] = {static_cast<char>(h.size() & 0xff), static_cast<char>(h.size() >> 8)};
  out.write(len, 2);
  out << h << std::string(data_bytes, '\0');
}

void expect_error(const std::string& path, const std::string& fragment) {
  try {
    read_npy(path);
    FAIL() << "expected an error containing '" << fragment << "'";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(Npy, ClearErrors) {
  expect_error(tmp("missing.npy"), "cannot open");
  write_raw(tmp("fortran.npy"), "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 16);
  expect_error(tmp("fortran.npy"), "Fortran");
  write_raw(tmp("int.npy"), "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", 32);
  expect_error(tmp("int.npy"), "float32");
  write_raw(tmp("short.npy"), "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 4), }", 40);
  expect_error(tmp("short.npy"), "truncated data");
  std::ofstream(tmp("text.npy")) << "hello";
  expect_error(tmp("text.npy"), "not a NumPy");
}

}  // namespace
}  // namespace steepest
