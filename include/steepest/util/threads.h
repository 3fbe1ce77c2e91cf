// Thread counts for libtorch's intra-op pool and OpenBLAS, set together.
#pragma once

namespace steepest {

// The most threads any flag accepts: more is a typo, not a machine.
constexpr int kMaxThreads = 1024;

// libtorch's OpenMP pool and OpenBLAS's own pthreads add up: OpenMP workers
// keep spinning after an elementwise op and steal the cores OpenBLAS needs for
// the next GEMM (keller on 512×512: 81.9 ms with 2+2 threads, 38.1 ms with
// 1 + 2; docs/BENCHMARKS.md, "Threads"). steepest's own GEMMs run on oneDNN
// when libtorch's libdnnl is loaded (util/gemm_backend.h), and oneDNN threads
// with the OpenMP pool. So intra_op < 0 (the default) means: n when oneDNN
// runs our GEMMs (then OpenBLAS is rarely called and the pool does the
// work), else 1 (the BLAS gets every core and elementwise ops run serially in
// between). intra_op > 0 sets libtorch's count explicitly.
// OpenBLAS is found at run time, so builds against other BLAS libraries only
// set libtorch's half; returns false in that case.
bool set_threads(int n, int intra_op = -1);

// OpenBLAS's current thread count, or -1 when OpenBLAS is not loaded.
int blas_threads();

// Sets OpenBLAS to n threads for a scope and restores the previous count.
// For LAPACK on small matrices (the SVDs of spectra recording): its level-2
// BLAS calls are too small to split, and two OpenBLAS threads then contend
// with libtorch's spinning OpenMP workers. A no-op without OpenBLAS.
class ScopedBlasThreads {
 public:
  explicit ScopedBlasThreads(int n);
  ~ScopedBlasThreads();
  ScopedBlasThreads(const ScopedBlasThreads&) = delete;
  ScopedBlasThreads& operator=(const ScopedBlasThreads&) = delete;

 private:
  int previous_;
};

}  // namespace steepest
