// GPT training-step benchmarks at the shapes: 4 layers, 4 heads,
// 128 wide, vocab 256, ctx 128, fp32.
//
//   bench_gpt [--threads N] [--intra-op K] [--malloc-default] [google-benchmark flags]
// --threads N gives OpenBLAS N threads and libtorch's intra-op pool K (default 1).
// Unless --malloc-default, glibc malloc is told to keep freed memory (no mmap
// for large blocks, no trimming): a training step allocates and frees the same
// ~1 MiB activations every time, and on this VM first-touch page faults on
// freshly mapped blocks cost ~10% of a step.
//
// fwd_bwd     loss + backward (gradients set to none before each step)
// step_adamw  fwd_bwd + torch::optim::AdamW step (what nanoGPT's loop does)
// step_hybrid fwd_bwd + HybridOptimizer step (Muon on the 24 hidden matrices)
// Arguments: B (batch) and T (sequence length).
#include <benchmark/benchmark.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/optim/adamw.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "steepest/model/gpt.h"
#include "steepest/optim/hybrid.h"
#include "steepest/util/memory.h"
#include "steepest/util/threads.h"

namespace {

enum class Mode { FwdBwd, AdamW, Hybrid };

void bm_step(benchmark::State& state, Mode mode) {
  const int64_t B = state.range(0), T = state.range(1);
  steepest::GPTConfig config;  // 4L / 4H / 128 wide / vocab 256 / ctx 128
  at::manual_seed(0);
  steepest::GPT model(config);
  const auto batch = at::randint(config.vocab_size, {B, T + 1}, at::kLong);
  const auto x = batch.slice(1, 0, T), y = batch.slice(1, 1);
  std::unique_ptr<torch::optim::AdamW> adamw;
  std::unique_ptr<steepest::HybridOptimizer> hybrid;
  if (mode == Mode::AdamW)
    adamw = std::make_unique<torch::optim::AdamW>(
        model->parameters(), torch::optim::AdamWOptions(3e-3).betas({0.9, 0.95}).weight_decay(0.0));
  if (mode == Mode::Hybrid) hybrid = std::make_unique<steepest::HybridOptimizer>(*model);
  auto step = [&] {
    model->zero_grad();
    auto loss = model->loss(x, y);
    loss.backward();
    if (adamw) adamw->step();
    if (hybrid) hybrid->step();
    return loss;
  };
  step();  // warm-up: allocator, optimizer state
  for (auto _ : state) {
    auto loss = step();
    benchmark::DoNotOptimize(loss.data_ptr());
  }
  state.counters["tok/s"] =
      benchmark::Counter(double(B * T), benchmark::Counter::kIsIterationInvariantRate);
}

void shapes(benchmark::internal::Benchmark* b) {
  b->Args({8, 64})->Args({8, 128})->Args({16, 128});  // issue target ×2, default training shape
  b->ArgNames({"B", "T"})->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0, intra_op = 1;
  bool keep_memory = true;
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--intra-op") == 0 && i + 1 < argc) {
      intra_op = std::atoi(argv[++i]);
    } else if (std::strcmp(argv[i], "--malloc-default") == 0) {
      keep_memory = false;
    } else {
      rest.push_back(argv[i]);
    }
  }
  if (threads > 0) steepest::set_threads(threads, intra_op);
  if (keep_memory) steepest::keep_freed_memory();
  benchmark::RegisterBenchmark("fwd_bwd", bm_step, Mode::FwdBwd)->Apply(shapes);
  benchmark::RegisterBenchmark("step_adamw", bm_step, Mode::AdamW)->Apply(shapes);
  benchmark::RegisterBenchmark("step_hybrid", bm_step, Mode::Hybrid)->Apply(shapes);
  int rargc = static_cast<int>(rest.size());
  benchmark::Initialize(&rargc, rest.data());
  std::printf("threads: libtorch intra-op %d, OpenBLAS %d, OPENBLAS_CORETYPE=%s, malloc %s\n",
              at::get_num_threads(), steepest::blas_threads(),
              std::getenv("OPENBLAS_CORETYPE") ? std::getenv("OPENBLAS_CORETYPE") : "(unset)",
              keep_memory ? "keeps freed memory" : "default");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
