// Internal: argument checks shared by the orthogonalizers, with actionable messages.
#pragma once

#include <ATen/ATen.h>
#include <c10/util/Exception.h>

namespace steepest::detail {

// X must be a floating (m, n) matrix or a (B, m, n) batch of them.
inline void check_matrix_input(const at::Tensor& X, const char* fn) {
  TORCH_CHECK(X.defined(), fn, ": input tensor is undefined");
  TORCH_CHECK(X.dim() == 2 || X.dim() == 3, fn,
              ": expects a matrix (m, n) or a batch (B, m, n), got shape ", X.sizes(),
              "; reshape conv weights to (out, in*kh*kw) first");
  TORCH_CHECK(at::isFloatingType(X.scalar_type()), fn, ": expects a floating tensor, got ",
              X.scalar_type(), "; convert with .to(torch::kFloat)");
  TORCH_CHECK(X.size(-1) > 0 && X.size(-2) > 0, fn, ": empty matrix of shape ", X.sizes());
}

}  // namespace steepest::detail
