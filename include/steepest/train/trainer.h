// The training loop: config in, run directory out.
#pragma once

#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "steepest/data/token_dataset.h"
#include "steepest/model/gpt.h"
#include "steepest/optim/model_optimizer.h"
#include "steepest/train/config.h"

namespace steepest {

struct TrainRunOptions {
  bool overwrite = false;   // replace an existing run in config.out
  std::string resume;       // checkpoint file to continue from ("" = fresh run)
  std::FILE* log = stdout;  // progress and messages
  int tty = -1;             // progress style: -1 detect, 0 plain lines, 1 updating line
  // checkpoint.pt (what --resume continues from) is also written when this
  // many minutes have passed since the last one, so that a killed run loses
  // at most that much work; 0: only every checkpoint_every steps and at the end.
  // Not part of the config: it changes no result.
  double checkpoint_minutes = 10.0;
};

struct TrainSummary {
  double final_val_loss = 0, best_val_loss = 0, final_train_loss = 0;
  int64_t steps = 0, tokens = 0, parameters = 0;
  double wall_seconds = 0, tokens_per_s = 0, ms_per_step = 0, optimizer_ms_per_step = 0;
  int64_t optimizer_state_bytes = 0, optimizer_gemms_per_step = 0;
  double optimizer_flops_per_step = 0;
  std::vector<std::pair<int64_t, double>> val_curve;  // (step, val loss) at each eval
  nlohmann::ordered_json to_json() const;
};

// vocab_size 0 in the config resolves to 256 when every training token is a
// byte, else GPT-2's 50257 padded to a multiple of 64 (50304).
int64_t resolve_vocab_size(const TrainConfig& config, const TokenDataset& train);

// Trains per config, writing config.json, metrics.jsonl, checkpoint.pt (and
// ckpt-<step>.pt), summary.json into config.out. Throws std::runtime_error /
// std::invalid_argument with actionable messages (existing run directory,
// unwritable directory, non-finite loss with its step, bad data, …).
TrainSummary train(const TrainConfig& config, const TrainRunOptions& options = {});

// Mean loss over `batches` sequential validation batches (no gradients).
double evaluate(GPT& model, const TokenDataset& val, int64_t batch, int64_t ctx, int64_t batches);

// The GPT a config describes (vocab_size must already be resolved).
GPTConfig gpt_config(const TrainConfig& config);

// The optimizer a config describes.
ModelOptimizerOptions model_optimizer_options(const TrainConfig& config);

}  // namespace steepest
