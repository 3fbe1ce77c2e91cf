// The tiny GPT the model and optimizer tests train: 2 layers, 2 heads, 32
// wide, context 16, vocabulary 32 — fast enough for dozens of tests.
#pragma once

#include "steepest/model/gpt.h"

namespace steepest::testing {

inline GPTConfig tiny_gpt_config() {
  GPTConfig c;
  c.vocab_size = 32;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_embd = 32;
  c.ctx = 16;
  return c;
}

}  // namespace steepest::testing
