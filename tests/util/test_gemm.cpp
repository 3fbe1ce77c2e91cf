// steepest's GEMM entry point (src/util/gemm.h): oneDNN's sgemm where
// available must agree with libtorch's for every layout the callers pass,
// fall back exactly where it does not apply, and never write into its input.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "steepest/util/gemm_backend.h"
#include "test_util.h"
#include "util/gemm.h"

namespace steepest {
namespace {

struct BackendGuard {
  GemmBackend saved = gemm_backend();
  ~BackendGuard() { set_gemm_backend(saved); }
};

at::Tensor reference(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, double beta,
                     double alpha) {
  BackendGuard g;
  set_gemm_backend(GemmBackend::Aten);
  return detail::addmm(self, a, b, beta, alpha);
}

TEST(Gemm, AgreesWithLibtorchForEveryLayoutAndBatch) {
  at::manual_seed(11);
  for (bool batched : {false, true}) {
    for (bool ta : {false, true}) {
      for (bool tb : {false, true}) {
        for (int with_self : {0, 1, 2}) {  // none, full, broadcast row
          const int64_t B = 3, m = 37, k = 70, n = 19;
          auto make = [&](int64_t r, int64_t c, bool t) {
            at::Tensor x =
                batched ? at::randn({B, t ? c : r, t ? r : c}) : at::randn({t ? c : r, t ? r : c});
            return t ? x.transpose(-2, -1) : x;  // a transposed view, not a copy
          };
          const auto a = make(m, k, ta), b = make(k, n, tb);
          at::Tensor self;
          if (with_self == 1) self = batched ? at::randn({B, m, n}) : at::randn({m, n});
          if (with_self == 2) self = at::randn({n});
          const auto self_before = self.defined() ? self.clone() : self;
          const auto got = detail::addmm(self, a, b, 0.5, -1.5);
          const auto want = reference(self, a, b, 0.5, -1.5);
          EXPECT_LT(testing::rel_err(got, want), 1e-6)
              << "batched " << batched << " ta " << ta << " tb " << tb << " self " << with_self;
          if (self.defined()) {
            EXPECT_TRUE(at::equal(self, self_before));
          }
        }
      }
    }
  }
}

TEST(Gemm, OtherDtypesGoToLibtorchUnchanged) {
  at::manual_seed(12);
  const auto a = at::randn({8, 5}, at::kDouble), b = at::randn({5, 4}, at::kDouble);
  EXPECT_TRUE(at::equal(detail::mm(a, b), at::mm(a, b)));
  const auto h = at::randn({8, 16}).to(at::kBFloat16), w = at::randn({16, 4}).to(at::kBFloat16);
  EXPECT_TRUE(at::equal(detail::mm(h, w), at::mm(h, w)));
}

TEST(Gemm, BackendNamesFollowTheSetting) {
  BackendGuard g;
  set_gemm_backend(GemmBackend::Aten);
  EXPECT_EQ(gemm_backend_name(), "libtorch");
  set_gemm_backend(GemmBackend::Auto);
  EXPECT_EQ(gemm_backend_name(), dnnl_sgemm_available() ? "onednn" : "libtorch");
}

}  // namespace
}  // namespace steepest
