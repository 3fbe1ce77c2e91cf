// Shared by the benchmark mains: the --threads N / --intra-op K flags.
#pragma once

#include <cstdlib>
#include <cstring>

#include "steepest/util/threads.h"

namespace steepest::bench {

struct ThreadFlags {
  int threads = 0;    // OpenBLAS threads; 0 = leave as is
  int intra_op = -1;  // libtorch intra-op threads when threads > 0 (-1: as set_threads)

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
    return false;
  }
  void apply() const {
    if (threads > 0) steepest::set_threads(threads, intra_op);
  }
};

}  // namespace steepest::bench
