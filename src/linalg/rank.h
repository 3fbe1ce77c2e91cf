// Internal: which singular values count as zero, for every SVD-based map.
#pragma once

#include <ATen/ATen.h>

namespace steepest::detail {

// S: (…, r) singular values. True where σ exceeds LAPACK's own rank rule
// r·eps(dtype)·σ_max: below it LAPACK returns arbitrary singular vectors, which
// must not become update directions.
inline at::Tensor nonzero_singular_values(const at::Tensor& S) {
  const double eps = S.scalar_type() == at::kDouble ? 2.220446049250313e-16 : 1.1920929e-07;
  return S > S.amax(-1, /*keepdim=*/true) * (S.size(-1) * eps) + 1e-30;
}

}  // namespace steepest::detail
