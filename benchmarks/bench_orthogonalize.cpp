// Micro-benchmarks: every orthogonalizer vs polar_svd vs a bare SGEMM, at the
// shapes of a small and a GPT-2-small-like model. After the Google Benchmark
// table it prints each method's GEMM rate as a fraction of the SGEMM rate
// measured in the same run (the number docs/BENCHMARKS.md reports).
//
//   bench_orthogonalize [--threads N] [--intra-op K] [--bf16] [google-benchmark flags]
// --threads N gives OpenBLAS N threads and libtorch's intra-op pool K (default:
// N when oneDNN runs steepest's GEMMs, else 1; steepest/util/threads.h).
// With --benchmark_repetitions=K the table uses each benchmark's median.
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "bench_threads.h"
#include "steepest/linalg/orthogonalizer.h"
#include "steepest/util/threads.h"

namespace {

using steepest::Cost;
using steepest::Orthogonalizer;

const std::vector<std::pair<int64_t, int64_t>> kShapes = {
    {128, 128}, {512, 512}, {768, 3072}, {1024, 4096}};

std::string shape_name(int64_t m, int64_t n) {
  return std::to_string(m) + "x" + std::to_string(n);
}

// The reference GEMM: the largest product of an NS step, (r×r)·(r×c).
void bm_sgemm(benchmark::State& state, int64_t m, int64_t n) {
  const int64_t r = std::min(m, n), c = std::max(m, n);
  const auto A = at::randn({r, r}), X = at::randn({r, c});
  auto out = at::empty({r, c});
  for (auto _ : state) {
    at::mm_out(out, A, X);
    benchmark::DoNotOptimize(out.data_ptr());
  }
  state.counters["GFLOPS"] =
      benchmark::Counter(2.0 * r * r * c / 1e9, benchmark::Counter::kIsIterationInvariantRate);
}

void bm_orthogonalize(benchmark::State& state, std::string method, at::ScalarType dtype, int64_t m,
                      int64_t n) {
  const auto o = Orthogonalizer::from_name(method, -1, dtype);
  at::manual_seed(0);
  const auto X = at::randn({m, n});
  const Cost cost = o.cost(m, n);
  for (auto _ : state) {
    auto O = o(X);
    benchmark::DoNotOptimize(O.data_ptr());
  }
  state.counters["GEMMs"] = static_cast<double>(cost.gemms);
  // GEMM FLOPs only; the SVD's LAPACK work is reported separately as other GFLOP.
  state.counters["GFLOPS"] =
      benchmark::Counter(cost.flops / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["otherGFLOP"] = cost.other_flops / 1e9;
}

// Records GFLOP/s and time per benchmark to print the fraction-of-SGEMM table.
class FractionReporter : public benchmark::ConsoleReporter {
 public:
  struct Row {
    double gflops = 0, ms = 0;
  };
  std::map<std::string, Row> rows;
  std::set<std::string> medians_;
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      // With --benchmark_repetitions the median aggregate wins over single runs.
      const bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (r.run_type != Run::RT_Iteration && !median) continue;
      Row row;
      auto it = r.counters.find("GFLOPS");
      if (it != r.counters.end()) row.gflops = it->second.value;
      row.ms = r.GetAdjustedRealTime();  // every benchmark here reports in ms
      std::string name = r.benchmark_name();
      name = name.substr(0, name.find("/real_time"));
      if (median || rows.count(name) == 0 || !medians_.count(name)) rows[name] = row;
      if (median) medians_.insert(name);
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  steepest::bench::ThreadFlags thread_flags;
  bool bf16 = false;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (thread_flags.consume(i, argc, argv)) {
      continue;
    } else if (std::strcmp(argv[i], "--bf16") == 0) {
      bf16 = true;
    } else {
      rest.push_back(argv[i]);
    }
  }
  thread_flags.apply();
  std::vector<std::string> methods = steepest::orthogonalizer_names();
  for (auto [m, n] : kShapes) {
    const std::string s = shape_name(m, n);
    benchmark::RegisterBenchmark(("sgemm/" + s).c_str(), bm_sgemm, m, n)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
    for (const auto& method : methods) {
      benchmark::RegisterBenchmark((method + "/" + s).c_str(), bm_orthogonalize, method,
                                   at::ScalarType::Undefined, m, n)
          ->Unit(benchmark::kMillisecond)
          ->UseRealTime();
    }
    if (bf16) {
      for (const std::string method : {"keller", "polar-express", "gram-polar-express"})
        benchmark::RegisterBenchmark((method + "-bf16/" + s).c_str(), bm_orthogonalize, method,
                                     at::kBFloat16, m, n)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
    }
  }
  int rargc = static_cast<int>(rest.size());
  benchmark::Initialize(&rargc, rest.data());
  std::printf("threads: libtorch intra-op %d, OpenBLAS %d, OPENBLAS_CORETYPE=%s\n",
              at::get_num_threads(), steepest::blas_threads(),
              std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "(unset)");
  FractionReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);

  std::printf("\nGEMM rate as a fraction of the SGEMM rate measured above (same run):\n");
  std::printf("%-26s %-11s %10s %9s %10s\n", "method", "shape", "GFLOP/s", "of SGEMM", "ms");
  for (auto [m, n] : kShapes) {
    const std::string s = shape_name(m, n);
    const auto ref = reporter.rows.find("sgemm/" + s);
    if (ref == reporter.rows.end()) continue;
    for (const auto& kv : reporter.rows) {
      const auto slash = kv.first.rfind('/');
      if (kv.first.substr(slash + 1) != s) continue;
      std::printf("%-26s %-11s %10.1f %8.0f%% %10.2f\n", kv.first.substr(0, slash).c_str(),
                  s.c_str(), kv.second.gflops, 100.0 * kv.second.gflops / ref->second.gflops,
                  kv.second.ms);
    }
  }
  benchmark::Shutdown();
  return 0;
}
