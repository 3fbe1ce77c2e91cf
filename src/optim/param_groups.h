// Internal: splitting named parameters into the tensors and names optimizers
// take, and printing their shapes (util/shape_text.h).
#pragma once

#include <string>
#include <vector>

#include "steepest/optim/named_optimizer.h"
#include "util/shape_text.h"

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

}  // namespace steepest::detail
