// Internal: how tables, errors and warnings print a tensor shape.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace steepest::detail {

// "32x8", or "scalar" for a 0-d shape.
inline std::string shape_text(at::IntArrayRef shape) {
  std::string out;
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? "x" : "") + std::to_string(shape[i]);
  return out.empty() ? "scalar" : out;
}

}  // namespace steepest::detail
