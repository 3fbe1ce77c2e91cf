#include "steepest/linalg/cost.h"

#include <cstdio>

namespace steepest {

std::string Cost::to_string() const {
  char buf[128];
  std::snprintf(buf, sizeof(buf), "%lld GEMMs, %.4g GEMM FLOPs, %.4g other FLOPs",
                static_cast<long long>(gemms), flops, other_flops);
  return buf;
}

void count_gemm(Cost* cost, int64_t m, int64_t k, int64_t n, int64_t batch) {
  if (cost == nullptr) return;
  cost->gemms += batch;
  cost->flops += 2.0 * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n) *
                 static_cast<double>(batch);
}

}  // namespace steepest
