// Loads the model of a run directory (config.json + a checkpoint) for eval/sample.
#pragma once

#include <string>

#include "steepest/model/gpt.h"
#include "steepest/train/config.h"

namespace steepest::app {

struct LoadedRun {
  TrainConfig config;  // vocab_size resolved
  GPT model{nullptr};
  int64_t step = 0;
};

// run: a run directory or a checkpoint file inside one.
LoadedRun load_run(const std::string& run);

}  // namespace steepest::app
