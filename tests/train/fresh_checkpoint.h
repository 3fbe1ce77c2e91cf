// Loads a checkpoint file the way `eval` and `--resume` do: a fresh model and
// optimizer built from the checkpoint's own config. Throws what
// load_checkpoint throws.
#pragma once

#include <string>
#include <vector>

#include "steepest/model/gpt.h"
#include "steepest/optim/model_optimizer.h"
#include "steepest/train/checkpoint.h"
#include "steepest/train/trainer.h"

namespace steepest::testing {

struct LoadedCheckpoint {
  int64_t step = 0;
  std::vector<at::Tensor> parameters;
};

inline LoadedCheckpoint load_fresh(const std::string& path) {
  const TrainConfig c = read_checkpoint_config(path);
  GPT model(gpt_config(c));
  ModelOptimizer opt(*model, model_optimizer_options(c));
  LoadedCheckpoint out;
  out.step = load_checkpoint(path, *model, opt).step;
  for (const auto& p : model->parameters()) out.parameters.push_back(p.detach().clone());
  return out;
}

}  // namespace steepest::testing
