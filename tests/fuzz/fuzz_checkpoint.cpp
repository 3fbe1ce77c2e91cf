// libFuzzer target: a checkpoint file of arbitrary bytes through
// read_checkpoint_config and load_checkpoint, into a tiny GPT and its Muon +
// AdamW optimizer, as `steepest train --resume` does.
//
// STEEPEST_FUZZ_WRITE_SEED=FILE fuzz_checkpoint writes a valid checkpoint of
// that model (after one training step, so the optimizer has state) to FILE and
// exits: the seed in tests/fuzz/corpus/fuzz_checkpoint/ comes from here.
#include <cstdlib>

#include "fuzz/fuzz_util.h"
#include "steepest/model/gpt.h"
#include "steepest/optim/model_optimizer.h"
#include "steepest/train/checkpoint.h"

using namespace steepest;

namespace {

// As small as a GPT gets (head size 4 for the rotary embedding): a small seed.
GPTConfig tiny_config() {
  GPTConfig c;
  c.vocab_size = 8;
  c.n_layer = 1;
  c.n_head = 1;
  c.n_embd = 4;
  c.ctx = 4;
  return c;
}

TrainConfig tiny_train_config() {
  TrainConfig t;
  t.vocab_size = 8;
  t.n_layer = 1;
  t.n_head = 1;
  t.n_embd = 4;
  t.ctx = 4;
  t.batch = 2;
  t.steps = 10;
  return t;
}

// A fresh model and optimizer per input, so every input is reproducible alone.
struct Run {
  GPT model;
  ModelOptimizer optimizer;
  Run() : model(make_model()), optimizer(*model, ModelOptimizerOptions{}) {}
  static GPT make_model() {
    at::manual_seed(0);
    return GPT(tiny_config());
  }
};

void write_seed(const std::string& path) {
  Run run;
  const at::Tensor idx = at::randint(0, 8, {2, 4}, at::kLong);
  run.optimizer.zero_grad();
  run.model->loss(idx, idx.roll(1, 1)).backward();
  run.optimizer.step();
  TrainState state;
  state.step = 1;
  state.data_position = 1;
  state.tokens = 8;
  save_checkpoint(path, *run.model, run.optimizer, tiny_train_config(), state);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* seed = std::getenv("STEEPEST_FUZZ_WRITE_SEED")) {
    fuzz::scratch_dir("fuzz_checkpoint");
    write_seed(seed);
    std::fprintf(stderr, "wrote %s\n", seed);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = fuzz::scratch_dir("fuzz_checkpoint");
  static const std::string path = dir + "/checkpoint.pt";
  fuzz::write_input(path, data, size);
  // checkpoint.cpp and libtorch's archive reader are not ours to hold to the
  // file-naming rule; any std::exception with a message is a clean refusal.
  fuzz::expect_clean_refusal("", [&] { read_checkpoint_config(path); });
  fuzz::expect_clean_refusal("", [&] {
    Run run;
    load_checkpoint(path, *run.model, run.optimizer);
  });
  return 0;
}
