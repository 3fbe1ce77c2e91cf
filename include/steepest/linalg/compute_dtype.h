// The GEMM dtype of an orthogonalization, by name, for optimizers and the CLI.
#pragma once

#include <c10/core/ScalarType.h>

#include <string>

namespace steepest {

// "fp32": the input's own dtype (at::ScalarType::Undefined); "bf16"; "fp64";
// "auto": bf16 where the CPU multiplies bf16 natively (cpu_has_native_bf16(),
// checked at run time), else the input's own, so the same command is fast on
// AMX/AVX512-BF16 machines and exact elsewhere. Throws std::invalid_argument
// listing the names.
at::ScalarType compute_dtype_from_name(const std::string& name);

// "fp32" (for Undefined and float), "bf16", "fp64", "fp16".
std::string compute_dtype_name(at::ScalarType dtype);

}  // namespace steepest
