// Cost accounting for the linear algebra behind an optimizer step.
#pragma once

#include <cstdint>
#include <string>

namespace steepest {

// What an orthogonalizer (or a whole optimizer step) spent. `flops` counts
// dense GEMM multiply-adds as 2 FLOPs each (2·m·n·k per m×k · k×n product);
// elementwise work is not counted. `other_flops` holds textbook estimates for
// non-GEMM kernels (SVD, QR) so that they are never silently reported as free.
struct Cost {
  int64_t gemms = 0;
  double flops = 0.0;
  double other_flops = 0.0;

  Cost& operator+=(const Cost& o) {
    gemms += o.gemms;
    flops += o.flops;
    other_flops += o.other_flops;
    return *this;
  }
  double total_flops() const { return flops + other_flops; }
  std::string to_string() const;
};

// Adds one (batch ×) m×k · k×n GEMM to `cost` if it is non-null.
void count_gemm(Cost* cost, int64_t m, int64_t k, int64_t n, int64_t batch = 1);

}  // namespace steepest
