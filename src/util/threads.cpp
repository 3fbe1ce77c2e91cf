#include "steepest/util/threads.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include "steepest/util/gemm_backend.h"
#include "util/loaded_symbol.h"

namespace steepest {

bool set_threads(int n, int intra_op) {
  TORCH_CHECK(n >= 1, "thread count must be >= 1, got ", n);
  TORCH_CHECK(intra_op >= 1 || intra_op < 0, "intra-op thread count must be >= 1, got ", intra_op);
  if (intra_op < 0) intra_op = gemm_backend_name() == "onednn" ? n : 1;
  at::set_num_threads(intra_op);
  auto set_blas = detail::loaded_symbol<void (*)(int)>("openblas_set_num_threads");
  if (set_blas == nullptr) return false;
  set_blas(n);
  return true;
}

int blas_threads() {
  auto get_blas = detail::loaded_symbol<int (*)()>("openblas_get_num_threads");
  return get_blas == nullptr ? -1 : get_blas();
}

}  // namespace steepest
