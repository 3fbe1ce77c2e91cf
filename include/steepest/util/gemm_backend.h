// Which library runs steepest's own fp32 GEMMs (the GPT's linear layers and
// the Newton–Schulz iterations): oneDNN's dnnl_sgemm when the libdnnl that
// libtorch links is loaded, else libtorch (OpenBLAS on Debian).
//
// Why: OpenBLAS picks its kernels by CPU model, and OpenBLAS 0.3.21 (Debian
// 12) does not know newer Xeons; without OPENBLAS_CORETYPE it runs its
// generic SSE3 ("Prescott") kernels there, at 16–35 GFLOP/s on our shapes,
// where oneDNN's JIT kernels reach 140–230 (docs/BENCHMARKS.md). oneDNN
// threads with libtorch's OpenMP pool (set_threads' intra_op), not OpenBLAS's.
#pragma once

#include <string>

namespace steepest {

enum class GemmBackend { Auto, Dnnl, Aten };

// Auto (the default): oneDNN when available, else libtorch. Dnnl falls back
// to libtorch where oneDNN is missing; Aten always uses libtorch (the
// reference the tests compare with).
void set_gemm_backend(GemmBackend backend);
GemmBackend gemm_backend();

// True when dnnl_sgemm was found in the process (libtorch's libdnnl.so.2).
bool dnnl_sgemm_available();

// "onednn" or "libtorch": what fp32 GEMMs run on under the current setting.
std::string gemm_backend_name();

// OpenBLAS's own name of the kernels it chose ("Prescott", "SkylakeX", …), or
// "" when OpenBLAS is not loaded; for benchmark records and warnings.
std::string openblas_core_name();

}  // namespace steepest
