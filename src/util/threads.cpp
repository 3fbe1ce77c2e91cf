#include "steepest/util/threads.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include "steepest/util/gemm_backend.h"
#include "util/loaded_symbol.h"

namespace steepest {

namespace {
void set_blas_threads(int n) {
  auto set_blas = detail::loaded_symbol<void (*)(int)>("openblas_set_num_threads");
  if (set_blas != nullptr && n >= 1) set_blas(n);
}
}  // namespace

bool set_threads(int n, int intra_op) {
  TORCH_CHECK_VALUE(n >= 1 && n <= kMaxThreads, "thread count must be in [1, ", kMaxThreads,
                    "], got ", n, " (one per core is the most that helps)");
  TORCH_CHECK_VALUE(intra_op < 0 || (intra_op >= 1 && intra_op <= kMaxThreads),
                    "intra-op thread count must be in [1, ", kMaxThreads,
                    "] (or < 0 for the default), got ", intra_op);
  if (intra_op < 0) intra_op = gemm_backend_name() != "libtorch" ? n : 1;
  at::set_num_threads(intra_op);
  if (blas_threads() < 0) return false;
  set_blas_threads(n);
  return true;
}

int blas_threads() {
  auto get_blas = detail::loaded_symbol<int (*)()>("openblas_get_num_threads");
  return get_blas == nullptr ? -1 : get_blas();
}

ScopedBlasThreads::ScopedBlasThreads(int n) : previous_(blas_threads()) {
  TORCH_CHECK(n >= 1, "thread count must be >= 1, got ", n);
  set_blas_threads(n);
}

ScopedBlasThreads::~ScopedBlasThreads() {
  set_blas_threads(previous_);
}

}  // namespace steepest
