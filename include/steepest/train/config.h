// Everything that defines a training run. One struct, one JSON form: the CLI
// flags, --config files, config.json in a run directory and checkpoints all
// use the keys of to_json() (flags spell them with dashes: n_layer ↔ --n-layer).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
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
  int64_t checkpoint_every = 0;  // also keep ckpt-<step>.pt every K steps; 0 = none
  int64_t spectra_every = 0;  // spectra.jsonl records of the hidden matrices every K steps; 0 = off
  int64_t seed = 1337;
  int64_t threads = 0;  // OpenBLAS threads (libtorch intra-op 1); 0 = all cores
  // Data-parallel runs (RANK/WORLD_SIZE set, or --nproc): how long a rank waits
  // in the rendezvous or a collective before it fails naming the problem.
  int64_t dist_timeout = 60;
  // Fine-tuning: the weights of this run directory or checkpoint at the start
  // (a fresh optimizer, step count and data order; its model shape must match).
  std::string init_from;
  std::string out = "runs/default";
};

// One entry per key of TrainConfig. This list alone drives the JSON form
// (to_json / train_config_from_json), the `train` flags and their --help text,
// and the type and range checks of validate(): a new option is one line in
// train_config_fields() and one member above.
struct TrainConfigField {
  using Member = std::variant<int64_t TrainConfig::*, double TrainConfig::*, bool TrainConfig::*,
                              std::string TrainConfig::*, nlohmann::json TrainConfig::*>;
  const char* name;  // JSON key; the flag is --name with '-' for '_'
  Member member;
  double min, max;                // inclusive range of numeric keys (floats must also be finite)
  const char* help;               // one line for --help; the range and default are appended
  const char* word = nullptr;     // integer keys: a word the flag and config.json take for 0
  std::string flag() const;       // "--n-layer"
  const char* type_name() const;  // "INT", "FLOAT", "BOOL", "TEXT", "JSON"
  bool is_integer() const { return std::holds_alternative<int64_t TrainConfig::*>(member); }
  bool is_float() const { return std::holds_alternative<double TrainConfig::*>(member); }
  bool is_bool() const { return std::holds_alternative<bool TrainConfig::*>(member); }
  bool is_text() const { return std::holds_alternative<std::string TrainConfig::*>(member); }
  // "[1, 1024]" for numeric keys, "" otherwise.
  std::string range_text() const;
};
const std::vector<TrainConfigField>& train_config_fields();

nlohmann::ordered_json to_json(const TrainConfig& c);

// Keys missing from j keep their defaults. Unknown keys, wrongly typed values
// and fractional or overflowing integers throw std::invalid_argument naming
// the key (and the valid keys).
TrainConfig train_config_from_json(const nlohmann::json& j);

// Reads a JSON file; errors name the file and the JSON parse position.
nlohmann::json read_json_file(const std::string& path);

// Checks every key against its range in train_config_fields(), then the
// combinations; throws std::invalid_argument with the flag, the offending
// value and a hint (e.g. n_embd % n_head).
void validate(const TrainConfig& c);

}  // namespace steepest
