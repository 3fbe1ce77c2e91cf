// Internal: oneDNN's matmul primitive through its C API, on the libdnnl that
// libtorch already loaded (found at run time, never linked), for steepest's
// fp32 and bf16 GEMMs.
//
// Why not libtorch's bf16 bmm/baddbmm (which reach the same AMX kernels):
// each call rebuilds its oneDNN objects, and baddbmm first copies `self` into
// its output. Here a primitive is built once per shape and cached, and
// beta·self enters as a binary post-op, read in the GEMM's epilogue.
#pragma once

#include <ATen/ATen.h>

namespace steepest::detail {

// libtorch's own answer for the same arguments: what a new primitive's first
// result is checked against.
using GemmReference = at::Tensor (*)(const at::Tensor& self, const at::Tensor& a,
                                     const at::Tensor& b, double beta, double alpha);

// beta·self + alpha·(a @ b) in a's dtype: a (m×k), b (k×n), self broadcastable
// to (m×n) or undefined; or batched (B, ·, ·). a and b: fp32 or bf16, the
// same dtype, CPU, unit stride in one of their last two dims (transposed views
// are read in place). Returns an undefined tensor when it cannot run them:
// no libdnnl 2.x in the process, another layout or dtype, oneDNN has no kernel
// for it (or only its slow reference one), or the new primitive disagreed
// with `reference` when it was checked once, on seeded random operands of the
// same layout (then a warning names the shape once and the shape stays on
// libtorch). One primitive per dtype, layout, scalars and thread count.
// `reference` must not call back into onednn_matmul.
at::Tensor onednn_matmul(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b,
                         double beta, double alpha, GemmReference reference);

// True when the process has oneDNN's matmul primitive in the ABI compiled in
// (libtorch's libdnnl.so.2 and a dnnl.h at build time).
bool onednn_matmul_available();

}  // namespace steepest::detail
