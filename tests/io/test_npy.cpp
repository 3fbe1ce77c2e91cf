#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

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
  write_raw(tmp("int.npy"), "{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", 32);
  expect_error(tmp("int.npy"), "float32");
  write_raw(tmp("short.npy"), "{'descr': '<f8', 'fortran_order': False, 'shape': (4, 4), }", 40);
  expect_error(tmp("short.npy"), "truncated data");
  std::ofstream(tmp("text.npy")) << "hello";
  expect_error(tmp("text.npy"), "not a NumPy");
}

std::string header(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

// Each unsupported dtype is named, with NumPy's name and the supported ones.
TEST(Npy, UnsupportedDtypesAreNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"<i8", "int64"},    {"<i4", "int32"},   {"|u1", "uint8"},
      {"|b1", "bool"},     {"<f2", "float16"}, {">f4", "float32, big-endian"},
      {"<c8", "complex64"}};
  for (const auto& [descr, name] : cases) {
    write_raw(tmp("dtype.npy"), header(descr, "(2, 2)"), 64);
    expect_error(tmp("dtype.npy"), "dtype '" + descr + "' (" + name + ") is not supported");
    expect_error(tmp("dtype.npy"), "supported: float32 ('<f4') and float64 ('<f8')");
  }
  write_raw(tmp("struct.npy"), "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
            8);
  expect_error(tmp("struct.npy"), "structured dtype");
}

// NumPy writes a Fortran-ordered array's data column by column; it reads back
// with the same values in C order.
TEST(Npy, FortranOrderIsTransposedIntoCOrder) {
  const std::string path = tmp("fortran.npy");
  {
    std::ofstream out(path, std::ios::binary);
    std::string h = header("<f4", "(2, 3)", /*fortran=*/true);
    h.append((64 - (10 + h.size() + 1) % 64) % 64, ' ');
    h += '\n';
    const char len[2] = {static_cast<char>(h.size()), 0};
    out.write("\x93NUMPY\x01\x00", 8);
    out.write(len, 2);
    out << h;
    const float column_major[6] = {0, 3, 1, 4, 2, 5};  // a[i][j] = 3i + j
    out.write(reinterpret_cast<const char*>(column_major), sizeof(column_major));
  }
  const at::Tensor t = read_npy(path);
  ASSERT_EQ(t.sizes(), at::IntArrayRef({2, 3}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_TRUE(at::equal(t, at::arange(6, at::kFloat).reshape({2, 3})));
}

TEST(Npy, ZeroSizedArrays) {
  for (std::vector<int64_t> shape : {std::vector<int64_t>{0, 5}, {5, 0}, {0}, {3, 0, 2}}) {
    write_npy(tmp("empty.npy"), at::zeros(shape));
    const at::Tensor r = read_npy(tmp("empty.npy"));
    EXPECT_EQ(r.sizes(), at::IntArrayRef(shape));
    EXPECT_EQ(r.numel(), 0);
  }
  write_raw(tmp("empty_raw.npy"), header("<f8", "(0, 7)"), 0);
  EXPECT_EQ(read_npy(tmp("empty_raw.npy")).sizes(), at::IntArrayRef({0, 7}));
}

TEST(Npy, CorruptHeadersAreNamed) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{'descr': '<f4', 'fortran_order': False, }", "no 'shape' entry"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 2), }", "non-negative whole number"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", "corrupt header"},
      {"{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,), }", "True or False"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (2,), }", "corrupt header"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
       "unexpected key 'extra'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
       "'descr' appears twice"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk", "after the dictionary"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
       "larger than 2^63"},
      {"not a dict at all", "expected '{'"},
  };
  for (const auto& [h, fragment] : cases) {
    write_raw(tmp("corrupt.npy"), h, 64);
    expect_error(tmp("corrupt.npy"), fragment);
    expect_error(tmp("corrupt.npy"), "numpy.save");  // the hint
  }
}

// Sizes in the header are checked against the file before anything is
// allocated: these would ask for terabytes (or wrap around) otherwise.
TEST(Npy, HugeDimensionsAreRefusedWithoutAllocating) {
  write_raw(tmp("huge.npy"), header("<f8", "(100000, 100000)"), 16);
  expect_error(tmp("huge.npy"),
               "truncated data: shape (100000, 100000) of float64 needs "
               "80000000000 bytes, found 16");
  write_raw(tmp("wrap.npy"), header("<f4", "(4294967296, 4294967296)"), 16);
  expect_error(tmp("wrap.npy"), "shape (4294967296, 4294967296) is too large");
  write_raw(tmp("zero_wrap.npy"), header("<f4", "(0, 4611686018427387904, 4)"), 16);
  expect_error(tmp("zero_wrap.npy"), "is too large");
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), bytes.size());
}

TEST(Npy, TruncatedHeadersAndVersions) {
  // Format 2.0 with a 4 GiB header length in a tiny file.
  write_bytes(tmp("hdrlen.npy"), std::string("\x93NUMPY\x02\x00\xff\xff\xff\xff{}", 14));
  expect_error(tmp("hdrlen.npy"), "truncated header: its length field says 4294967295 bytes");
  write_bytes(tmp("v4.npy"), std::string("\x93NUMPY\x04\x00\x00\x00", 10));
  expect_error(tmp("v4.npy"), "unsupported .npy format version 4");
  write_bytes(tmp("lenfield.npy"), std::string("\x93NUMPY\x01\x00\x05", 9));
  expect_error(tmp("lenfield.npy"), "truncated header");
  const std::string dir = tmp("a_directory.npy");
  std::filesystem::create_directories(dir);
  expect_error(dir, "is a directory");
}

}  // namespace
}  // namespace steepest
