// Shared fixtures for the data tests: a fresh scratch directory per test, raw
// file writing, and error-message checks.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace steepest::testing {

// Removes every scratch directory when the test process exits, so repeated
// runs (the KJV test writes ~9 MB) do not fill the temp directory.
struct ScratchCleanup {
  std::vector<std::filesystem::path> dirs;
  ~ScratchCleanup() {
    std::error_code ec;
    for (const auto& d : dirs) std::filesystem::remove_all(d, ec);
  }
};

// An empty directory unique to the running test (and process, so parallel
// ctest runs of different tests never share files).
inline std::string scratch_dir() {
  static ScratchCleanup cleanup;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) /
                                    ("steepest_data_" + std::string(info->test_suite_name()) + "_" +
                                     info->name() + "_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  cleanup.dirs.push_back(dir);
  return dir.string();
}

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A shard header (256 little-endian int32) with the given fields.
inline std::string shard_header(int32_t magic, int32_t version, int32_t count) {
  std::string h(1024, '\0');
  const int32_t fields[3] = {magic, version, count};
  for (int f = 0; f < 3; ++f)
    for (int b = 0; b < 4; ++b)
      h[4 * f + b] = static_cast<char>((static_cast<uint32_t>(fields[f]) >> (8 * b)) & 0xff);
  return h;
}

// Runs fn, expecting a std::runtime_error whose message contains every fragment.
inline void expect_error(const std::function<void()>& fn,
                         const std::vector<std::string>& fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected a std::runtime_error containing '" << fragments.at(0) << "'";
  } catch (const std::runtime_error& e) {
    const std::string msg = e.what();
    for (const auto& f : fragments)
      EXPECT_NE(msg.find(f), std::string::npos) << "missing '" << f << "' in: " << msg;
  }
}

inline std::vector<int64_t> to_vector(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

}  // namespace steepest::testing
