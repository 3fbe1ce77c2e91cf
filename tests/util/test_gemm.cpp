// steepest's GEMM entry point (src/util/gemm.h): oneDNN (its matmul
// primitive, else its sgemm) where available must agree with libtorch's for
// every layout and dtype the callers pass, fall back exactly where it does not
// apply, never write into its input, and never keep a primitive that
// disagreed with libtorch (src/util/onednn_matmul.h).
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "steepest/util/cpu_features.h"
#include "steepest/util/gemm_backend.h"
#include "test_util.h"
#include "util/gemm.h"
#include "util/loaded_symbol.h"
#include "util/onednn_matmul.h"

#if __has_include(<oneapi/dnnl/dnnl.h>)
#include <oneapi/dnnl/dnnl.h>
#endif

namespace steepest {
namespace {

struct BackendGuard {
  GemmBackend saved = gemm_backend();
  ~BackendGuard() { set_gemm_backend(saved); }
};

// libtorch's answer (also what detail::onednn_matmul's first-use check takes).
at::Tensor reference(const at::Tensor& self, const at::Tensor& a, const at::Tensor& b, double beta,
                     double alpha) {
  BackendGuard g;
  set_gemm_backend(GemmBackend::Aten);
  return detail::addmm(self, a, b, beta, alpha);
}

// One layout the callers pass: a (m×k) and b (k×n), each plain or a
// transposed view (not a copy), 2-D or batched (3, ·, ·); self none (0),
// full (1) or a broadcast row (2).
struct LayoutCase {
  at::Tensor a, b, self;
  std::string label;
};

LayoutCase layout_case(at::ScalarType dtype, bool batched, bool ta, bool tb, int with_self,
                       int64_t m, int64_t k, int64_t n) {
  const int64_t B = 3;
  auto make = [&](int64_t r, int64_t c, bool t) {
    at::Tensor x =
        (batched ? at::randn({B, t ? c : r, t ? r : c}) : at::randn({t ? c : r, t ? r : c}))
            .to(dtype);
    return t ? x.transpose(-2, -1) : x;
  };
  LayoutCase lc;
  lc.a = make(m, k, ta);
  lc.b = make(k, n, tb);
  if (with_self == 1) lc.self = (batched ? at::randn({B, m, n}) : at::randn({m, n})).to(dtype);
  if (with_self == 2) lc.self = at::randn({n}).to(dtype);
  lc.label = std::string(dtype == at::kFloat ? "fp32" : "bf16") + " batched " +
             std::to_string(batched) + " ta " + std::to_string(ta) + " tb " + std::to_string(tb) +
             " self " + std::to_string(with_self);
  return lc;
}

// Every backend, dtype and layout against libtorch: fp32 within accumulation
// order, bf16 within a few roundings of the output (2^-8 each).
TEST(Gemm, AgreesWithLibtorchForEveryLayoutBatchAndDtype) {
  at::manual_seed(11);
  BackendGuard guard;
  for (GemmBackend backend : {GemmBackend::Auto, GemmBackend::DnnlSgemm}) {
    set_gemm_backend(backend);
    for (auto dtype : {at::kFloat, at::kBFloat16}) {
      const double tolerance = dtype == at::kFloat ? 1e-6 : 1.5e-2;
      for (bool batched : {false, true}) {
        for (bool ta : {false, true}) {
          for (bool tb : {false, true}) {
            for (int with_self : {0, 1, 2}) {
              const auto [a, b, self, label] =
                  layout_case(dtype, batched, ta, tb, with_self, 37, 70, 19);
              const auto self_before = self.defined() ? self.clone() : self;
              const auto got = detail::addmm(self, a, b, 0.5, -1.5);
              const auto want = reference(self, a, b, 0.5, -1.5);
              EXPECT_EQ(got.scalar_type(), dtype);
              EXPECT_EQ(got.sizes(), want.sizes());
              EXPECT_LT(testing::rel_err(got.to(at::kFloat), want.to(at::kFloat)), tolerance)
                  << gemm_backend_name() << " " << label;
              if (self.defined()) {
                EXPECT_TRUE(at::equal(self, self_before));
              }
            }
          }
        }
      }
    }
  }
}

// A primitive that disagrees with libtorch when it is built is never used:
// the call and every later one of that shape return nothing (the caller then
// runs libtorch). The check runs on random operands of the same layout, not
// on the caller's: all-zero operands (a zero-initialized layer's first
// gradients) still catch a wrong primitive, and are checked only once.
TEST(Gemm, OnednnMatmulDropsAPrimitiveThatDisagreedWithLibtorch) {
  if (!detail::onednn_matmul_available()) GTEST_SKIP() << "no oneDNN matmul primitive here";
  at::manual_seed(13);
  const auto a = at::randn({5, 29, 31}), b = at::randn({5, 31, 23});  // shapes no other test uses
  static int calls = 0;
  auto wrong = [](const at::Tensor& self, const at::Tensor& x, const at::Tensor& y, double beta,
                  double alpha) { return at::baddbmm(self, x, y, beta, alpha) + 1.0; };
  auto right = [](const at::Tensor& self, const at::Tensor& x, const at::Tensor& y, double beta,
                  double alpha) {
    ++calls;
    return at::baddbmm(self, x, y, beta, alpha);
  };
  const auto self = at::randn({5, 29, 23});
  EXPECT_FALSE(detail::onednn_matmul(self, a, b, 0.25, 2.0, wrong).defined());
  EXPECT_FALSE(detail::onednn_matmul(self, a, b, 0.25, 2.0, right).defined());
  EXPECT_EQ(calls, 0);  // a rejected primitive is not checked again
  // Other scalars are another primitive, checked on its own, once.
  const auto ok = detail::onednn_matmul(self, a, b, 0.5, 2.0, right);
  ASSERT_TRUE(ok.defined());
  EXPECT_LT(testing::rel_err(ok, at::baddbmm(self, a, b, 0.5, 2.0)), 1e-6);
  EXPECT_TRUE(detail::onednn_matmul(self, a, b, 0.5, 2.0, right).defined());
  EXPECT_EQ(calls, 1);

  const auto zeros_a = at::zeros_like(a), zeros_b = at::zeros_like(b);
  EXPECT_FALSE(detail::onednn_matmul(self, zeros_a, zeros_b, 0.75, 2.0, wrong).defined());
}

// Threads that multiply at once (ranks of a sharded optimizer in one
// process) each get their own product: oneDNN's shared scratchpad would mix
// them (NaN and wrong values, seen before each call got its own).
TEST(Gemm, ThreadsMultiplyingAtOnceGetTheirOwnProducts) {
  at::manual_seed(14);
  struct Case {
    at::Tensor a, b, want;  // want: a @ b in fp32 from the operands as given
    double tolerance;
  };
  std::vector<Case> cases;
  for (int t = 0; t < 4; ++t) {
    const auto dtype = t % 2 == 0 ? at::kBFloat16 : at::kFloat;
    const auto a = at::randn({6, 64 + 16 * t, 128}).to(dtype);
    const auto b = at::randn({6, 128, 160 - 16 * t}).to(dtype);
    cases.push_back(
        {a, b, at::bmm(a.to(at::kFloat), b.to(at::kFloat)), dtype == at::kFloat ? 1e-5 : 1.5e-2});
  }
  std::vector<double> worst(cases.size(), 0.0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < cases.size(); ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        const auto got = detail::mm(cases[t].a, cases[t].b).to(at::kFloat);
        const double err = testing::rel_err(got, cases[t].want);
        worst[t] = std::isfinite(err) ? std::max(worst[t], err) : INFINITY;
      }
    });
  for (auto& th : threads) th.join();
  for (size_t t = 0; t < cases.size(); ++t)
    EXPECT_LT(worst[t], cases[t].tolerance) << "thread " << t;
}

// Built with dnnl.h (libdnnl-dev, which `make deps` installs) and running on
// libtorch's libdnnl 2.x, the primitive must be there, not silently missing.
TEST(Gemm, OnednnMatmulIsThereWhereItWasBuilt) {
#if __has_include(<oneapi/dnnl/dnnl.h>)
  using Version = const dnnl_version_t* (*)();
  const auto version = detail::loaded_symbol<Version>("dnnl_version", {"libdnnl.so.2"});
  EXPECT_EQ(dnnl_matmul_available(), version != nullptr && version()->major == 2);
#else
  EXPECT_FALSE(dnnl_matmul_available());
#endif
}

// The layouts Newton–Schulz and the tests pass are run by the primitive
// itself, not by the fallback (which would make the agreement test above
// pass whatever the primitive does): every one returns a result, within the
// dtype's tolerance of libtorch's.
TEST(Gemm, OnednnMatmulTakesEveryLayoutItIsGiven) {
  if (!detail::onednn_matmul_available()) GTEST_SKIP() << "no oneDNN matmul primitive here";
  at::manual_seed(15);
  std::vector<at::ScalarType> dtypes{at::kFloat};
  // oneDNN 2.6 has no bf16 matmul kernels for AVX2-only CPUs (those fall
  // back); where the CPU multiplies bf16 natively it must take them.
  if (cpu_has_native_bf16()) dtypes.push_back(at::kBFloat16);
  for (auto dtype : dtypes)
    for (bool batched : {false, true})
      for (bool ta : {false, true})
        for (bool tb : {false, true})
          for (int with_self : {0, 1, 2}) {
            const auto [a, b, self, label] =
                layout_case(dtype, batched, ta, tb, with_self, 21, 46, 17);
            const auto got = detail::onednn_matmul(self, a, b, 0.5, -1.5, reference);
            ASSERT_TRUE(got.defined()) << label;
            EXPECT_LT(testing::rel_err(got.to(at::kFloat),
                                       reference(self, a, b, 0.5, -1.5).to(at::kFloat)),
                      dtype == at::kFloat ? 1e-5 : 1.5e-2)
                << label;
          }
}

TEST(Gemm, OtherDtypesGoToLibtorchUnchanged) {
  at::manual_seed(12);
  BackendGuard guard;
  const auto a = at::randn({8, 5}, at::kDouble), b = at::randn({5, 4}, at::kDouble);
  EXPECT_TRUE(at::equal(detail::mm(a, b), at::mm(a, b)));
  // bf16 without the matmul primitive: the bf16 operands multiplied and summed
  // in fp32, rounded once (what bf16 units do); the libtorch backend keeps
  // libtorch's own bf16 GEMM.
  set_gemm_backend(GemmBackend::DnnlSgemm);
  const auto h = at::randn({8, 16}).to(at::kBFloat16), w = at::randn({16, 4}).to(at::kBFloat16);
  EXPECT_TRUE(
      at::equal(detail::mm(h, w), at::mm(h.to(at::kFloat), w.to(at::kFloat)).to(at::kBFloat16)));
  set_gemm_backend(GemmBackend::Aten);
  EXPECT_TRUE(at::equal(detail::mm(h, w), at::mm(h, w)));
}

// A bf16 GEMM with a long inner dimension stays within bf16's output rounding
// of the exact product of its bf16 operands: fp32 accumulation. (libtorch
// 1.13's CPU fallback, which the msign's bf16 GEMMs took on CPUs without
// AVX512_BF16/AMX, was several times further off.)
TEST(Gemm, Bf16AccumulatesInFp32) {
  at::manual_seed(13);
  BackendGuard guard;
  for (auto backend : {GemmBackend::Auto, GemmBackend::DnnlSgemm}) {
    set_gemm_backend(backend);
    const auto a = at::randn({64, 2048}).to(at::kBFloat16),
               b = at::randn({2048, 64}).to(at::kBFloat16);
    const auto exact = at::mm(a.to(at::kDouble), b.to(at::kDouble));
    const auto got = detail::mm(a, b).to(at::kDouble);
    // bf16 rounds to 8 significant bits: 2^-9 relative per entry at most.
    EXPECT_LT(((got - exact).abs().max() / exact.abs().max()).item<double>(), 4e-3)
        << static_cast<int>(backend);
    EXPECT_LT(testing::rel_err(got, exact), 3e-3) << static_cast<int>(backend);
  }
}

TEST(Gemm, BackendNamesFollowTheSetting) {
  BackendGuard g;
  set_gemm_backend(GemmBackend::Aten);
  EXPECT_EQ(gemm_backend_name(), "libtorch");
  set_gemm_backend(GemmBackend::Auto);
  EXPECT_EQ(gemm_backend_name(), dnnl_matmul_available()  ? "onednn"
                                 : dnnl_sgemm_available() ? "onednn-sgemm"
                                                          : "libtorch");
  set_gemm_backend(GemmBackend::DnnlSgemm);
  EXPECT_EQ(gemm_backend_name(), dnnl_sgemm_available() ? "onednn-sgemm" : "libtorch");
}

}  // namespace
}  // namespace steepest
