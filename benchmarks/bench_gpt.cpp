// GPT training-step benchmarks at the shapes: 4 layers, 4 heads,
// 128 wide, vocab 256, ctx 128, fp32.
//
//   bench_gpt [--threads N] [--intra-op K] [--gemm onednn|onednn-sgemm|libtorch]
//             [--malloc-default] [--muon-dtype auto|fp32|bf16]
//             [--profile TRACE.json | --profile-hybrid TRACE.json |
//              --profile-optimizer TRACE.json] [google-benchmark flags]
// --threads N gives OpenBLAS N threads and libtorch's intra-op pool K (default:
// N when oneDNN runs steepest's GEMMs, else 1; steepest/util/threads.h).
// Unless --malloc-default, glibc malloc is told to keep freed memory (no mmap
// for large blocks, no trimming): a training step allocates and frees the same
// ~1 MiB activations every time, and on this VM first-touch page faults on
// freshly mapped blocks cost ~10% of a step.
//
// fwd_bwd     loss + backward (gradients set to none before each step)
// step_adamw  fwd_bwd + torch::optim::AdamW step (what nanoGPT's loop does)
// step_hybrid fwd_bwd + the trainer's default optimizer (ModelOptimizer "muon":
//             Muon on the 24 hidden matrices, AdamW on the rest), its msign
//             GEMMs in --muon-dtype (default auto: bf16 where the CPU has
//             AVX512_BF16 or AMX, as the trainer)
// optimizer_hybrid  the step_hybrid optimizer alone, on one batch's gradients
//             (its cost does not depend on B and T)
// Arguments: B (batch) and T (sequence length).
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/optim/adamw.h>

#include <torch/csrc/autograd/profiler_legacy.h>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench_threads.h"
#include "steepest/linalg/compute_dtype.h"
#include "steepest/model/gpt.h"
#include "steepest/optim/model_optimizer.h"
#include "steepest/util/cpu_features.h"
#include "steepest/util/gemm_backend.h"
#include "steepest/util/memory.h"
#include "steepest/util/threads.h"

namespace {

enum class Mode { FwdBwd, AdamW, Hybrid, HybridOnly };

std::string g_muon_dtype = "auto";

// One training step of the benchmarked kind on a fixed random batch (B, T);
// owns the model and optimizer.
std::function<at::Tensor()> make_step(Mode mode, int64_t B, int64_t T) {
  struct Run {
    steepest::GPT model{nullptr};
    at::Tensor x, y;
    std::unique_ptr<torch::optim::AdamW> adamw;
    std::unique_ptr<steepest::ModelOptimizer> hybrid;
  };
  auto r = std::make_shared<Run>();
  steepest::GPTConfig config;  // 4L / 4H / 128 wide / vocab 256 / ctx 128
  at::manual_seed(0);
  r->model = steepest::GPT(config);
  const auto batch = at::randint(config.vocab_size, {B, T + 1}, at::kLong);
  r->x = batch.slice(1, 0, T);
  r->y = batch.slice(1, 1);
  if (mode == Mode::AdamW)
    r->adamw = std::make_unique<torch::optim::AdamW>(
        r->model->parameters(),
        torch::optim::AdamWOptions(3e-3).betas({0.9, 0.95}).weight_decay(0.0));
  if (mode == Mode::Hybrid || mode == Mode::HybridOnly) {
    steepest::ModelOptimizerOptions o;
    o.opt = {{"dtype", g_muon_dtype}};
    r->hybrid = std::make_unique<steepest::ModelOptimizer>(*r->model, o);
  }
  if (mode == Mode::HybridOnly) {
    // The gradients of one batch stay; only the optimizer step repeats.
    r->model->loss(r->x, r->y).backward();
    return [r] {
      r->hybrid->step();
      return r->x;
    };
  }
  return [r] {
    if (r->hybrid)
      r->hybrid->zero_grad();
    else
      r->model->zero_grad();
    auto loss = r->model->loss(r->x, r->y);
    loss.backward();
    if (r->adamw) r->adamw->step();
    if (r->hybrid) r->hybrid->step();
    return loss;
  };
}

void bm_step(benchmark::State& state, Mode mode) {
  const int64_t B = state.range(0), T = state.range(1);
  auto step = make_step(mode, B, T);
  step();  // warm-up: allocator, optimizer state
  for (auto _ : state) {
    auto loss = step();
    benchmark::DoNotOptimize(loss.data_ptr());
  }
  state.counters["tok/s"] =
      benchmark::Counter(double(B * T), benchmark::Counter::kIsIterationInvariantRate);
}

// --profile: 20 AdamW steps (--profile-hybrid: hybrid steps) at 8×64 under
// libtorch's autograd profiler; writes
// the Chrome trace to `path` and prints ms/step per op name (self+children, so
// nested ops overlap), most expensive first.
void profile(const std::string& path, Mode mode) {
  auto step = make_step(mode, 8, 64);
  for (int i = 0; i < 5; ++i) step();
  const int steps = 20;
  {
    torch::autograd::profiler::RecordProfile guard(path);
    for (int i = 0; i < steps; ++i) step();
  }
  std::ifstream in(path);
  const auto trace = nlohmann::json::parse(in);
  std::map<std::string, std::pair<double, int>> by_name;
  for (const auto& e : trace.is_array() ? trace : trace.at("traceEvents")) {
    if (e.value("ph", "") != "X") continue;
    auto& slot = by_name[e.at("name").get<std::string>()];
    slot.first += e.value("dur", 0.0);
    ++slot.second;
  }
  std::vector<std::pair<double, std::string>> rows;
  for (const auto& [name, v] : by_name) rows.emplace_back(v.first, name);
  std::sort(rows.rbegin(), rows.rend());
  std::printf("%10s %8s  %s   (%s 8x64, %d steps, trace: %s)\n", "ms/step", "calls", "op",
              mode == Mode::Hybrid       ? "step_hybrid"
              : mode == Mode::HybridOnly ? "optimizer_hybrid"
                                         : "step_adamw",
              steps, path.c_str());
  for (size_t i = 0; i < std::min<size_t>(25, rows.size()); ++i)
    std::printf("%10.2f %8.1f  %s\n", rows[i].first / steps / 1e3,
                by_name[rows[i].second].second / double(steps), rows[i].second.c_str());
}

void shapes(benchmark::internal::Benchmark* b) {
  b->Args({8, 64})->Args({8, 128})->Args({16, 128});  // issue target ×2, default training shape
  b->ArgNames({"B", "T"})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
}

}  // namespace

int main(int argc, char** argv) {
  steepest::bench::ThreadFlags thread_flags;
  bool keep_memory = true;
  std::string profile_path;
  Mode profile_mode = Mode::AdamW;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (thread_flags.consume(i, argc, argv)) {
      continue;
    } else if (std::strcmp(argv[i], "--profile") == 0 && i + 1 < argc) {
      profile_path = argv[++i];
    } else if (std::strcmp(argv[i], "--profile-hybrid") == 0 && i + 1 < argc) {
      profile_path = argv[++i];
      profile_mode = Mode::Hybrid;
    } else if (std::strcmp(argv[i], "--profile-optimizer") == 0 && i + 1 < argc) {
      profile_path = argv[++i];
      profile_mode = Mode::HybridOnly;
    } else if (std::strcmp(argv[i], "--muon-dtype") == 0 && i + 1 < argc) {
      g_muon_dtype = argv[++i];
    } else if (std::strcmp(argv[i], "--malloc-default") == 0) {
      keep_memory = false;
    } else {
      rest.push_back(argv[i]);
    }
  }
  thread_flags.apply();
  if (keep_memory) steepest::keep_freed_memory();
  if (!profile_path.empty()) {
    profile(profile_path, profile_mode);
    return 0;
  }
  benchmark::RegisterBenchmark("fwd_bwd", bm_step, Mode::FwdBwd)->Apply(shapes);
  benchmark::RegisterBenchmark("step_adamw", bm_step, Mode::AdamW)->Apply(shapes);
  benchmark::RegisterBenchmark("step_hybrid", bm_step, Mode::Hybrid)->Apply(shapes);
  benchmark::RegisterBenchmark("optimizer_hybrid", bm_step, Mode::HybridOnly)
      ->Args({8, 64})
      ->ArgNames({"B", "T"})
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(1.0);
  int rargc = static_cast<int>(rest.size());
  benchmark::Initialize(&rargc, rest.data());
  std::printf(
      "threads: libtorch intra-op %d, OpenBLAS %d (core %s), OPENBLAS_CORETYPE=%s, GEMMs on %s, "
      "malloc %s; muon dtype %s (%s); %s\n",
      at::get_num_threads(), steepest::blas_threads(), steepest::openblas_core_name().c_str(),
      std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "(unset)",
      steepest::gemm_backend_name().c_str(), keep_memory ? "keeps freed memory" : "default",
      g_muon_dtype.c_str(),
      steepest::compute_dtype_name(steepest::compute_dtype_from_name(g_muon_dtype)).c_str(),
      steepest::cpu_summary().c_str());
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
