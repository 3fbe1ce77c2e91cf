// Which library runs steepest's own GEMMs (the GPT's linear layers and the
// Newton–Schulz iterations): oneDNN when the libdnnl that libtorch links is
// loaded (its matmul primitive, cached per shape, for bf16 and batched fp32;
// its dnnl_sgemm for 2-D fp32 and where the primitive does not apply), else
// libtorch (OpenBLAS on Debian).
//
// Why: OpenBLAS picks its kernels by CPU model, and OpenBLAS 0.3.21 (Debian
// 12) does not know newer Xeons; without OPENBLAS_CORETYPE it runs its
// generic SSE3 ("Prescott") kernels there, at 16–35 GFLOP/s on our shapes,
// where oneDNN's JIT kernels reach 140–230 (docs/BENCHMARKS.md). oneDNN
// threads with libtorch's OpenMP pool (set_threads' intra_op), not OpenBLAS's.
#pragma once

#include <string>

namespace steepest {

enum class GemmBackend { Auto, Dnnl, DnnlSgemm, Aten };

// Auto (the default) and Dnnl: oneDNN when available, else libtorch.
// DnnlSgemm: only dnnl_sgemm (the path before the matmul primitive, kept for
// side-by-side benchmarks). Under all three, a bf16 GEMM that the matmul
// primitive does not take runs as an fp32 GEMM of its (exactly widened)
// operands, rounded to bf16 once: fp32 accumulation, as bf16 hardware does.
// Aten always uses libtorch, bf16 included (the reference the tests compare with).
void set_gemm_backend(GemmBackend backend);
GemmBackend gemm_backend();

// True when dnnl_sgemm was found in the process (libtorch's libdnnl.so.2).
bool dnnl_sgemm_available();

// True when oneDNN's matmul primitive can be used (libdnnl 2.x loaded and
// steepest built with its header, package libdnnl-dev).
bool dnnl_matmul_available();

// What GEMMs run on under the current setting: "onednn" (matmul primitive
// and sgemm), "onednn-sgemm" (sgemm only) or "libtorch".
std::string gemm_backend_name();

// OpenBLAS's own name of the kernels it chose ("Prescott", "SkylakeX", …), or
// "" when OpenBLAS is not loaded; for benchmark records and warnings.
std::string openblas_core_name();

}  // namespace steepest
