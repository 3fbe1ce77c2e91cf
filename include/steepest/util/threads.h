// Thread counts for libtorch's intra-op pool and OpenBLAS, set together.
#pragma once

namespace steepest {

// libtorch's OpenMP pool and OpenBLAS's own pthreads add up: 2 + 2 threads on
// 2 cores run 2–4× slower. Sets both to `n` (n ≥ 1). OpenBLAS is found at run
// time, so builds against other BLAS libraries simply skip that half.
// Returns false (and sets only libtorch's) when no OpenBLAS is loaded.
bool set_threads(int n);

// OpenBLAS's current thread count, or -1 when OpenBLAS is not loaded.
int blas_threads();

}  // namespace steepest
