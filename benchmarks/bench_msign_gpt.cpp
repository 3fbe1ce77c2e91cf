// Muon's msign at the default GPT's hidden-matrix shapes (4 layers, 128 wide:
// 16 matrices of 128×128 and 8 of 512×128 per step), the ways issue #13 asks
// to compare:
//   batched     one call on the whole batch; every GEMM split over the threads
//   concurrent  the batch split into one chunk per thread, each chunk on one
//               core (nested BLAS parallelism is off inside at::parallel_for)
//   method      keller (NS) or gram-keller (Gram NS), fp32 or bf16
// and, for X·Xᵀ, oneDNN's general sgemm against OpenBLAS's ssyrk (which
// computes one triangle only).
// Every row also reports the result's distance from the exact polar factor
// U Vᵀ (fp64 SVD), max over the batch of ‖O − UVᵀ‖_F/‖UVᵀ‖_F, and its singular-
// value band, so "faster" is always read at a stated error.
//
//   bench_msign_gpt [--threads N] [--intra-op K] [google-benchmark flags]
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstdio>
#include <string>
#include <vector>

#include "bench_threads.h"
#include "optim/muon_fused_step.h"
#include "steepest/linalg/orthogonality_report.h"
#include "steepest/linalg/orthogonalizer.h"
#include "steepest/util/cpu_features.h"
#include "steepest/util/gemm_backend.h"
#include "steepest/util/threads.h"
#include "util/gemm.h"
#include "util/loaded_symbol.h"

namespace {

using steepest::Orthogonalizer;

// B matrices m×n with singular values σ_i = i^(-1/2) (a momentum-like
// power-law spectrum) and random singular vectors, fp32.
at::Tensor power_law_batch(int64_t B, int64_t m, int64_t n) {
  at::manual_seed(0);
  const int64_t r = std::min(m, n);
  auto U = std::get<0>(at::linalg_qr(at::randn({B, m, r}, at::kDouble)));
  auto V = std::get<0>(at::linalg_qr(at::randn({B, n, r}, at::kDouble)));
  auto s = at::arange(1, r + 1, at::kDouble).pow(-0.5);
  return at::matmul(U * s, V.transpose(-2, -1)).to(at::kFloat);
}

double polar_error(const at::Tensor& X, const at::Tensor& O) {
  auto svd = at::linalg_svd(X.to(at::kDouble), /*full_matrices=*/false);
  auto P = at::matmul(std::get<0>(svd), std::get<2>(svd));
  auto err = at::linalg_vector_norm(O.to(at::kDouble) - P, 2, at::IntArrayRef{-2, -1}) /
             at::linalg_vector_norm(P, 2, at::IntArrayRef{-2, -1});
  return err.max().item<double>();
}

at::Tensor run(const Orthogonalizer& o, const at::Tensor& X, bool concurrent) {
  if (!concurrent) return o(X);
  auto out = at::empty_like(X);
  const int64_t B = X.size(0);
  const int64_t chunk = (B + at::get_num_threads() - 1) / at::get_num_threads();
  at::parallel_for(0, B, chunk, [&](int64_t b0, int64_t b1) {
    out.slice(0, b0, b1).copy_(o(X.slice(0, b0, b1)));
  });
  return out;
}

void bm_msign(benchmark::State& state, std::string method, at::ScalarType dtype, bool concurrent,
              int64_t B, int64_t m, int64_t n) {
  const auto o = Orthogonalizer::from_name(method, -1, dtype);
  const auto X = power_law_batch(B, m, n);
  at::Tensor O;
  for (auto _ : state) {
    O = run(o, X, concurrent);
    benchmark::DoNotOptimize(O.data_ptr());
  }
  const auto report = steepest::orthogonality_report(O);
  state.counters["polar_err"] = polar_error(X, O);
  state.counters["sig_min"] = report.sigma_min;
  state.counters["sig_max"] = report.sigma_max;
  state.counters["GFLOPS"] = benchmark::Counter(o.cost(m, n, B).flops / 1e9,
                                                benchmark::Counter::kIsIterationInvariantRate);
}

// cblas_ssyrk(order, uplo, trans, N, K, alpha, A, lda, beta, C, ldc) of
// OpenBLAS, found in the loaded libraries (CBLAS enums: RowMajor 101, Upper
// 121, NoTrans 111).
using Ssyrk = void (*)(int, int, int, int, int, float, const float*, int, float, float*, int);

void bm_gram(benchmark::State& state, bool syrk, int64_t B, int64_t r, int64_t c) {
  const auto X = at::randn({B, r, c});
  auto C = at::zeros({B, r, r});
  const auto f =
      steepest::detail::loaded_symbol<Ssyrk>("cblas_ssyrk", {"libopenblas.so.0", "libblas.so.3"});
  if (syrk && f == nullptr) {
    state.SkipWithError("cblas_ssyrk not loaded");
    return;
  }
  for (auto _ : state) {
    if (syrk) {
      for (int64_t b = 0; b < B; ++b)
        f(101, 121, 111, static_cast<int>(r), static_cast<int>(c), 1.0f, X[b].data_ptr<float>(),
          static_cast<int>(c), 0.0f, C[b].data_ptr<float>(), static_cast<int>(r));
    } else {
      C = steepest::detail::mm(X, X.transpose(-2, -1));
    }
    benchmark::DoNotOptimize(C.data_ptr());
  }
  // Both rates count the full 2·r²·c, so they compare as times.
  state.counters["GFLOPS"] =
      benchmark::Counter(2.0 * B * r * r * c / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

// Muon's fused elementwise passes (optim/muon_fused_step.h) on k matrices
// m×n: momentum + normalization into the bf16 short-side stack, then decay +
// update from it. Memory-bound; the rate counts bytes of p, g and buf.
void bm_fused_passes(benchmark::State& state, int64_t k, int64_t m, int64_t n) {
  std::vector<steepest::detail::FusedMatrix> items;
  for (int64_t i = 0; i < k; ++i)
    items.push_back({at::randn({m, n}), at::randn({m, n}), at::zeros({m, n}), 1e-3});
  auto x = at::empty({k, std::min(m, n), std::max(m, n)}, at::kBFloat16);
  for (auto _ : state) {
    steepest::detail::momentum_to_normalized(items, 0.95, true, 1.0, 1e-7, x);
    steepest::detail::apply_update(items, x, 1.0);
    benchmark::DoNotOptimize(x.data_ptr());
  }
  state.counters["GB/s"] =
      benchmark::Counter(3.0 * 4 * k * m * n / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

}  // namespace

int main(int argc, char** argv) {
  steepest::bench::ThreadFlags thread_flags;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i)
    if (!thread_flags.consume(i, argc, argv)) rest.push_back(argv[i]);
  thread_flags.apply();
  struct Shape {
    int64_t B, m, n;
  };
  for (const Shape s : {Shape{16, 128, 128}, Shape{8, 512, 128}}) {
    const std::string shape =
        std::to_string(s.B) + "x" + std::to_string(s.m) + "x" + std::to_string(s.n);
    for (const std::string method : {"keller", "gram-keller"})
      for (const auto dtype : {at::kFloat, at::kBFloat16})
        for (const bool concurrent : {false, true})
          benchmark::RegisterBenchmark((method + (dtype == at::kBFloat16 ? "-bf16" : "-fp32") +
                                        (concurrent ? "/concurrent/" : "/batched/") + shape)
                                           .c_str(),
                                       bm_msign, method, dtype, concurrent, s.B, s.m, s.n)
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime();
  }
  for (const bool syrk : {false, true})
    benchmark::RegisterBenchmark(syrk ? "xxt/openblas-ssyrk/8x128x512" : "xxt/sgemm/8x128x512",
                                 bm_gram, syrk, 8, 128, 512)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  for (const Shape s : {Shape{16, 128, 128}, Shape{4, 512, 128}, Shape{4, 128, 512}})
    benchmark::RegisterBenchmark(("fused_passes/" + std::to_string(s.B) + "x" +
                                  std::to_string(s.m) + "x" + std::to_string(s.n))
                                     .c_str(),
                                 bm_fused_passes, s.B, s.m, s.n)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  int rargc = static_cast<int>(rest.size());
  benchmark::Initialize(&rargc, rest.data());
  std::printf("threads: libtorch intra-op %d, OpenBLAS %d (core %s), GEMMs on %s; %s\n",
              at::get_num_threads(), steepest::blas_threads(),
              steepest::openblas_core_name().c_str(), steepest::gemm_backend_name().c_str(),
              steepest::cpu_summary().c_str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
