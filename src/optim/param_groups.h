// Internal: splitting named parameters into the tensors and names optimizers
// take, and printing their shapes.
#pragma once

#include <string>
#include <vector>

#include "steepest/optim/named_optimizer.h"

namespace steepest::detail {

inline std::vector<at::Tensor> tensors_of(const std::vector<NamedParameter>& params) {
  std::vector<at::Tensor> t;
  for (const auto& p : params) t.push_back(p.second);
  return t;
}

inline std::vector<std::string> names_of(const std::vector<NamedParameter>& params) {
  std::vector<std::string> n;
  for (const auto& p : params) n.push_back(p.first);
  return n;
}

// "32x8", or "scalar" for a 0-d shape: how tables and errors print a shape.
inline std::string shape_text(at::IntArrayRef shape) {
  std::string out;
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? "x" : "") + std::to_string(shape[i]);
  return out.empty() ? "scalar" : out;
}

}  // namespace steepest::detail
