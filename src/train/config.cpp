#include "steepest/train/config.h"

#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <stdexcept>

#include "steepest/linalg/orthogonalizer.h"
#include "steepest/optim/model_optimizer.h"
#include "steepest/optim/registry.h"

namespace steepest {

// Field list: one line per key, used by both directions of the conversion.
#define STEEPEST_TRAIN_CONFIG_FIELDS(X)                                                      \
  X(train)                                                                                   \
  X(val)                                                                                     \
  X(vocab_size)                                                                              \
  X(n_layer)                                                                                 \
  X(n_head)                                                                                  \
  X(n_embd)                                                                                  \
  X(ctx) X(softcap) X(residual_mixing) X(attn_1_over_d) X(orthogonal_init) X(batch) X(steps) \
      X(optimizer) X(lr) X(adamw_lr) X(weight_decay) X(orthogonalizer) X(ns_steps) X(opt)    \
          X(schedule) X(warmup) X(decay_fraction) X(grad_clip) X(eval_every) X(eval_batches) \
              X(log_every) X(checkpoint_every) X(seed) X(threads) X(dist_timeout) X(out)

nlohmann::ordered_json to_json(const TrainConfig& c) {
  nlohmann::ordered_json j;
#define STEEPEST_TO_JSON(f) j[#f] = c.f;
  STEEPEST_TRAIN_CONFIG_FIELDS(STEEPEST_TO_JSON)
#undef STEEPEST_TO_JSON
  return j;
}

namespace {

// An integer key takes whole numbers within int64 only: JSON's 1.7 or 1e30
// would otherwise be truncated or wrap around silently.
void check_integral(const char* key, const nlohmann::json& v, const int64_t&) {
  const bool whole_float = v.is_number_float() && std::isfinite(v.get<double>()) &&
                           std::floor(v.get<double>()) == v.get<double>() &&
                           std::abs(v.get<double>()) < 9.0e18;
  const bool in_range =
      v.is_number_integer() && !(v.is_number_unsigned() &&
                                 v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()));
  if (v.is_number() && !in_range && !whole_float)
    throw std::invalid_argument(std::string("config key '") + key +
                                "' must be a whole number within 64-bit range, got " + v.dump());
}
template <typename T>
void check_integral(const char*, const nlohmann::json&, const T&) {}

}  // namespace

TrainConfig train_config_from_json(const nlohmann::json& j) {
  TrainConfig c;
  if (!j.is_object()) throw std::invalid_argument("training config must be a JSON object");
  std::set<std::string> known;
#define STEEPEST_FROM_JSON(f)                                                               \
  known.insert(#f);                                                                         \
  if (j.contains(#f)) {                                                                     \
    check_integral(#f, j.at(#f), c.f);                                                      \
    try {                                                                                   \
      j.at(#f).get_to(c.f);                                                                 \
    } catch (const nlohmann::json::exception&) {                                            \
      throw std::invalid_argument(std::string("config key '") + #f +                        \
                                  "' has the wrong type: " + j.at(#f).dump() +              \
                                  " (default: " + to_json(TrainConfig{})[#f].dump() + ")"); \
    }                                                                                       \
  }
  STEEPEST_TRAIN_CONFIG_FIELDS(STEEPEST_FROM_JSON)
#undef STEEPEST_FROM_JSON
  for (const auto& item : j.items()) {
    if (known.count(item.key())) continue;
    std::string keys;
    for (const auto& k : known) keys += (keys.empty() ? "" : ", ") + k;
    throw std::invalid_argument("unknown config key '" + item.key() + "'; valid keys: " + keys);
  }
  // Integers given as 5.0 in JSON are accepted by get_to; values must also be integral.
  return c;
}

nlohmann::json read_json_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("cannot read config file '" + path + "'");
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw std::invalid_argument("config file '" + path + "' is not valid JSON: " + e.what());
  }
}

namespace {
void require(bool ok, const std::string& msg) {
  if (!ok) throw std::invalid_argument(msg);
}
}  // namespace

void validate(const TrainConfig& c) {
  require(c.vocab_size >= 0,
          "--vocab-size must be >= 0 (0 = from the data), got " + std::to_string(c.vocab_size));
  require(c.n_layer >= 1, "--n-layer must be >= 1, got " + std::to_string(c.n_layer));
  require(c.n_head >= 1, "--n-head must be >= 1, got " + std::to_string(c.n_head));
  require(c.n_embd >= 2 && c.n_embd % c.n_head == 0 && (c.n_embd / c.n_head) % 2 == 0,
          "--n-embd " + std::to_string(c.n_embd) + " must be divisible by --n-head " +
              std::to_string(c.n_head) + " into an even head size (rotary embedding)");
  require(c.ctx >= 1, "--ctx must be >= 1, got " + std::to_string(c.ctx));
  require(c.batch >= 1, "--batch must be >= 1, got " + std::to_string(c.batch));
  require(c.steps >= 1, "--steps must be >= 1, got " + std::to_string(c.steps));
  require(c.softcap >= 0, "--softcap must be >= 0 (0 = off), got " + std::to_string(c.softcap));
  // NaN passes every comparison above and below; refuse it (and Inf) by name.
  for (const auto& [flag, v] : {std::pair<const char*, double>{"--lr", c.lr},
                                {"--adamw-lr", c.adamw_lr},
                                {"--weight-decay", c.weight_decay},
                                {"--softcap", c.softcap},
                                {"--decay-fraction", c.decay_fraction},
                                {"--grad-clip", c.grad_clip}})
    require(std::isfinite(v), std::string(flag) + " must be a finite number, got " +
                                  std::to_string(v) + " (negative lr: the optimizer's default)");
  require(c.ns_steps == -1 || c.ns_steps >= 1,
          "--ns-steps must be >= 1 (or -1: the schedule's own length), got " +
              std::to_string(c.ns_steps));
  bool known_opt = false;
  std::string names;
  for (const auto& i : optimizer_infos()) {
    known_opt |= i.name == c.optimizer;
    names += (names.empty() ? "" : ", ") + i.name;
  }
  require(known_opt, "unknown --optimizer '" + c.optimizer + "'; known: " + names);
  if (!c.orthogonalizer.empty())
    Orthogonalizer::from_name(c.orthogonalizer, static_cast<int>(c.ns_steps));  // throws with names
  require(c.opt.is_object(), "config key 'opt' must be a JSON object, got " + c.opt.dump());
  {
    ModelOptimizerOptions o;
    o.name = c.optimizer;
    o.orthogonalizer = c.orthogonalizer;
    o.ns_steps = static_cast<int>(c.ns_steps);
    o.opt = c.opt;
    resolve_hyperparameters(c.optimizer, effective_hyperparameters(o));  // throws naming the key
  }
  require(c.schedule == "constant" || c.schedule == "wsd" || c.schedule == "cosine",
          "--schedule must be constant, wsd or cosine, got '" + c.schedule + "'");
  require(c.warmup >= 0 && c.warmup < c.steps,
          "--warmup must be in [0, steps), got " + std::to_string(c.warmup));
  require(c.decay_fraction >= 0 && c.decay_fraction <= 1,
          "--decay-fraction must be in [0, 1], got " + std::to_string(c.decay_fraction));
  require(c.grad_clip >= 0, "--grad-clip must be >= 0 (0 = off)");
  require(c.eval_every >= 1, "--eval-every must be >= 1, got " + std::to_string(c.eval_every));
  require(c.eval_batches >= 1, "--eval-batches must be >= 1");
  require(c.log_every >= 1, "--log-every must be >= 1");
  require(c.checkpoint_every >= 0, "--checkpoint-every must be >= 0 (0 = only the latest)");
  require(c.threads >= 0, "--threads must be >= 0 (0 = all cores)");
  require(c.dist_timeout >= 1,
          "--dist-timeout must be >= 1 (seconds), got " + std::to_string(c.dist_timeout));
  require(!c.out.empty(), "--out must name a directory");
}

const char* train_config_help(const std::string& key) {
  static const std::map<std::string, const char*> help = {
      {"train", "glob of training shards"},
      {"val", "glob of validation shards"},
      {"vocab_size", "vocabulary size (0 = from the data)"},
      {"n_layer", "transformer blocks"},
      {"n_head", "attention heads"},
      {"n_embd", "model width"},
      {"ctx", "context length (tokens)"},
      {"softcap", "logit soft-cap (0 = off)"},
      {"residual_mixing", "x <- (1-1/(2L)) x + 1/(2L) block(x) instead of x + block(x)"},
      {"attn_1_over_d", "attention scores q.k/d_head instead of q.k/sqrt(d_head)"},
      {"orthogonal_init", "every Linear starts orthogonal x sqrt(fan_out/fan_in)"},
      {"batch", "sequences per step"},
      {"steps", "optimizer steps"},
      {"optimizer", "optimizer name (steepest optimizers)"},
      {"lr", "learning rate (<0: optimizer default; Muon's for muon)"},
      {"adamw_lr", "hidden-matrix optimizers: AdamW lr for embed/head/1-D (<0: default)"},
      {"weight_decay", "decoupled weight decay"},
      {"orthogonalizer", "msign method of the optimizer (empty: its own default)"},
      {"ns_steps", "Newton-Schulz steps (-1: schedule default)"},
      {"opt", "optimizer hyperparameters, KEY=VALUE, repeatable (steepest optimizers)"},
      {"schedule", "learning-rate schedule: constant, wsd, cosine"},
      {"warmup", "linear warm-up steps"},
      {"decay_fraction", "wsd: final fraction of steps with linear decay to 0"},
      {"grad_clip", "clip the global gradient norm (0 = off)"},
      {"eval_every", "evaluate val loss every K steps (and at the end)"},
      {"eval_batches", "val batches per evaluation"},
      {"log_every", "write a metrics line every K steps"},
      {"checkpoint_every", "also keep ckpt-<step>.pt every K steps (0: latest only)"},
      {"seed", "seed for initialization and data order"},
      {"threads", "OpenBLAS threads (libtorch intra-op 1); 0 = all cores"},
      {"dist_timeout", "distributed runs: seconds a rank waits for the others before it fails"},
      {"out", "run directory"},
  };
  auto it = help.find(key);
  return it == help.end() ? "" : it->second;
}

}  // namespace steepest
