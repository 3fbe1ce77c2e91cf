// Shared by the benchmark mains: the --threads N / --intra-op K flags and
// --gemm onednn|onednn-sgemm|libtorch (steepest/util/gemm_backend.h), so
// that one binary can time the GEMM paths side by side.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "steepest/util/gemm_backend.h"
#include "steepest/util/threads.h"

namespace steepest::bench {

struct ThreadFlags {
  int threads = 0;             // OpenBLAS threads; 0 = leave as is
  int intra_op = -1;           // libtorch intra-op threads when threads > 0 (-1: as set_threads)
  const char* gemm = nullptr;  // --gemm; nullptr = the default (Auto)

  // Consumes argv[i] (and its value) if it is one of our flags.
  bool consume(int& i, int argc, char** argv) {
    if (i + 1 >= argc) return false;
    if (std::strcmp(argv[i], "--threads") == 0) {
      threads = std::atoi(argv[++i]);
      return true;
    }
    if (std::strcmp(argv[i], "--intra-op") == 0) {
      intra_op = std::atoi(argv[++i]);
      return true;
    }
    if (std::strcmp(argv[i], "--gemm") == 0) {
      gemm = argv[++i];
      return true;
    }
    return false;
  }
  void apply() const {
    if (gemm != nullptr) {
      const std::string name = gemm;
      if (name == "onednn") {
        steepest::set_gemm_backend(steepest::GemmBackend::Dnnl);
      } else if (name == "onednn-sgemm") {
        steepest::set_gemm_backend(steepest::GemmBackend::DnnlSgemm);
      } else if (name == "libtorch") {
        steepest::set_gemm_backend(steepest::GemmBackend::Aten);
      } else {
        std::fprintf(stderr, "--gemm %s: expected onednn, onednn-sgemm or libtorch\n", gemm);
        std::exit(2);
      }
    }
    if (threads > 0) steepest::set_threads(threads, intra_op);
  }
};

}  // namespace steepest::bench
