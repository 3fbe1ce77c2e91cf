// Everything that defines a training run. One struct, one JSON form: the CLI
// flags, --config files, config.json in a run directory and checkpoints all
// use the keys of to_json() (flags spell them with dashes: n_layer ↔ --n-layer).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace steepest {

struct TrainConfig {
  // data: shell globs of token shards
  std::string train = "data/kjv/train_*.bin";
  std::string val = "data/kjv/val_*.bin";
  // model (vocab_size 0 = from the data: 256 for bytes, else GPT-2's 50257 padded to 50304)
  int64_t vocab_size = 0;
  int64_t n_layer = 4;
  int64_t n_head = 4;
  int64_t n_embd = 128;
  int64_t ctx = 128;
  double softcap = 0.0;
  // The modular-norm GPT options (GPTConfig), off by default.
  bool residual_mixing = false;
  bool attn_1_over_d = false;
  bool orthogonal_init = false;
  // optimization
  int64_t batch = 16;
  int64_t steps = 1400;            // ~5 minutes on 2 cores (docs/RESULTS.md)
  std::string optimizer = "muon";  // `steepest optimizers`; muon = Muon + AdamW hybrid
  double lr = -1.0;                // < 0: the optimizer's default
  double adamw_lr = -1.0;          // muon only: lr of the AdamW half (< 0: default)
  double weight_decay = 0.0;
  std::string orthogonalizer;  // "" = the optimizer's own (muon: keller)
  int64_t ns_steps = -1;       // -1: the schedule's own
  // Hyperparameters of the optimizer (`steepest optimizers` lists them), e.g.
  // {"p": 0.25, "mode": "ns"}; on the command line --opt p=0.25 --opt mode=ns.
  nlohmann::json opt = nlohmann::json::object();
  std::string schedule = "wsd";  // constant | wsd | cosine
  int64_t warmup = 0;            // steps of linear warm-up
  double decay_fraction = 0.3;   // wsd: linear decay to 0 over this last fraction
  double grad_clip = 0.0;        // max global gradient norm; 0 = off
  // evaluation, logging, checkpoints
  int64_t eval_every = 100;
  int64_t eval_batches = 16;
  int64_t log_every = 10;
  int64_t checkpoint_every = 0;  // also keep ckpt-<step>.pt every K steps; 0 = only the latest
  int64_t seed = 1337;
  int64_t threads = 0;  // OpenBLAS threads (libtorch intra-op 1); 0 = all cores
  // Data-parallel runs (RANK/WORLD_SIZE set, or --nproc): how long a rank waits
  // in the rendezvous or a collective before it fails naming the problem.
  int64_t dist_timeout = 60;
  std::string out = "runs/default";
};

nlohmann::ordered_json to_json(const TrainConfig& c);

// Keys missing from j keep their defaults. Unknown keys and wrongly typed
// values throw std::invalid_argument naming the key (and the valid keys).
TrainConfig train_config_from_json(const nlohmann::json& j);

// Reads a JSON file; errors name the file and the JSON parse position.
nlohmann::json read_json_file(const std::string& path);

// Checks ranges and combinations; throws std::invalid_argument with the
// offending value and a hint (e.g. n_embd % n_head).
void validate(const TrainConfig& c);

// One-line help for each key (used for the generated CLI flags).
const char* train_config_help(const std::string& key);

}  // namespace steepest
