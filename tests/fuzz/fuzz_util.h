// Shared by the libFuzzer targets (make fuzz): the input as a file for readers
// that take a path, and the rule for exceptions. A parser may refuse any input
// with a std::exception whose message says what is wrong; a crash, a sanitizer
// report, a hang, an exception of another type, or (for our own parsers) a
// message that does not name the file is a finding.
#pragma once

#include <ATen/Parallel.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <new>
#include <string>

namespace steepest::fuzz {

// A scratch directory for this process (parallel fuzzers never share one),
// removed at a normal exit; a crash leaves it for inspection. In /dev/shm
// unless TMPDIR says otherwise: every input is written to a file, and ext4
// flushes on each replace-by-rename (write_npy, write_shard), 40× slower.
inline const std::string& scratch_dir(const char* target) {
  static const std::string dir = [&] {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::path base = !std::getenv("TMPDIR") && fs::is_directory("/dev/shm", ec)
                              ? fs::path("/dev/shm")
                              : fs::temp_directory_path();
    const fs::path p =
        base / ("steepest_" + std::string(target) + "_" + std::to_string(::getpid()));
    fs::create_directories(p);
    static const struct Cleanup {
      fs::path p;
      ~Cleanup() {
        std::error_code ec;
        fs::remove_all(p, ec);
      }
    } cleanup{p};
    // One intra-op thread: the inputs are tiny and libFuzzer runs one at a time.
    at::set_num_threads(1);
    return p.string();
  }();
  return dir;
}

// Overwrites `path` with the fuzz input.
inline void write_input(const std::string& path, const uint8_t* data, size_t size) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out.flush()) {
    std::fprintf(stderr, "fuzz: cannot write the input to %s\n", path.c_str());
    std::abort();
  }
}

[[noreturn]] inline void finding(const std::string& what) {
  std::fprintf(stderr, "\n==fuzz finding== %s\n", what.c_str());
  std::abort();
}

// Runs fn. A std::exception is a clean refusal when its message contains
// `must_name` (the file, for our parsers; "" accepts any message). std::bad_alloc
// means the parser trusted a size from the input, so it is a finding too.
template <typename F>
void expect_clean_refusal(const std::string& must_name, F&& fn) {
  try {
    fn();
  } catch (const std::bad_alloc& e) {
    finding(std::string("std::bad_alloc escaped (an allocation sized by the input?): ") + e.what());
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    // STEEPEST_FUZZ_VERBOSE=1 prints every refusal, to read the messages.
    static const bool verbose = std::getenv("STEEPEST_FUZZ_VERBOSE") != nullptr;
    if (verbose) std::fprintf(stderr, "refused: %s\n", msg.c_str());
    if (msg.find(must_name) == std::string::npos)
      finding("the error does not name '" + must_name + "': " + msg);
  }
}

}  // namespace steepest::fuzz
