#include "steepest/linalg/compute_dtype.h"

#include <stdexcept>

#include "steepest/util/cpu_features.h"

namespace steepest {

at::ScalarType compute_dtype_from_name(const std::string& name) {
  if (name == "fp32") return at::ScalarType::Undefined;
  if (name == "bf16") return at::kBFloat16;
  if (name == "fp64") return at::kDouble;
  if (name == "auto") return cpu_has_native_bf16() ? at::kBFloat16 : at::ScalarType::Undefined;
  throw std::invalid_argument("compute dtype must be auto, fp32, bf16 or fp64, got '" + name +
                              "' (auto: bf16 where the CPU has AVX512_BF16 or AMX, else fp32)");
}

std::string compute_dtype_name(at::ScalarType dtype) {
  switch (dtype) {
    case at::kBFloat16:
      return "bf16";
    case at::kDouble:
      return "fp64";
    case at::kHalf:
      return "fp16";
    default:
      return "fp32";
  }
}

}  // namespace steepest
