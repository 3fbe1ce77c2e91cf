// A GPT's weights as files that any framework reads: one .npy per parameter
// and gpt.json with the architecture, so that PyTorch (tests/twin/twin_gpt.py)
// or NumPy can rebuild the identical model without libtorch's archive format.
#pragma once

#include <string>

#include "steepest/model/gpt.h"

namespace steepest {

// Writes into `dir` (created if missing): gpt.json (every GPTConfig field and
// norm_eps) and, per parameter, <name>.npy with its shape and dtype, named as
// in named_parameters() ("embed.weight", "blocks.0.attn.q.weight", …,
// "head.weight"). Each file is written to a temporary name and renamed.
// Throws std::runtime_error naming the path when it cannot be written.
void export_gpt(GPT& model, const std::string& dir);

}  // namespace steepest
