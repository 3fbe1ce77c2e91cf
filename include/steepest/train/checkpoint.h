// Checkpoints: model + optimizer + data position + RNG + config, in one file
// written to a temporary name and renamed, so a kill during a save never
// corrupts the previous checkpoint.
#pragma once

#include <torch/nn/module.h>

#include <cstdint>
#include <limits>
#include <string>

#include "steepest/optim/model_optimizer.h"
#include "steepest/train/config.h"

namespace steepest {

struct TrainState {
  int64_t step = 0;            // optimizer steps completed
  uint64_t data_position = 0;  // batches drawn by the training sampler
  double best_val_loss = std::numeric_limits<double>::infinity();
  double wall_seconds = 0.0;  // training time so far, across resumes
  int64_t tokens = 0;         // training tokens consumed so far
};

// Writes to path + ".tmp", then renames. With write_file false it only builds
// the archive: the ranks other than 0 of a distributed run join the gathering
// of sharded optimizer state that way.
void save_checkpoint(const std::string& path, const torch::nn::Module& model,
                     const ModelOptimizer& optimizer, const TrainConfig& config,
                     const TrainState& state, bool write_file = true);

// Restores model parameters, optimizer state and the default CPU generator;
// returns the training state. Errors name the file and what did not match.
TrainState load_checkpoint(const std::string& path, torch::nn::Module& model,
                           ModelOptimizer& optimizer);

// Only the model parameters (`--init-from`: fine-tuning starts from them with
// a fresh optimizer, step count and data order). Errors name the file.
void load_checkpoint_weights(const std::string& path, torch::nn::Module& model);

// The config a checkpoint was trained with.
TrainConfig read_checkpoint_config(const std::string& path);

// Seals a checkpoint written by steepest before checkpoints carried a seal
// (include/steepest/io/zip_check.h), after the checks that need none, in
// place (tmp + rename). Returns false, changing nothing, if it was sealed
// already. Throws naming the file if it is damaged or not a zip archive.
bool seal_checkpoint_file(const std::string& path);

// A run directory → its checkpoint.pt; a file → itself. Throws naming the path
// when there is nothing to resume.
std::string resolve_checkpoint(const std::string& path);

}  // namespace steepest
