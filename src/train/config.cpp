#include "steepest/train/config.h"

#include <unistd.h>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

#include "io/json_fields.h"
#include "steepest/linalg/orthogonalizer.h"
#include "steepest/optim/model_optimizer.h"
#include "steepest/optim/registry.h"
#include "steepest/util/threads.h"

namespace steepest {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kMaxInt = 9.0e18;  // within int64, exactly representable as a double
}  // namespace

// The field list. Ranges refuse what cannot be meant (a negative batch, 2^40
// threads, 10^7 layers) with one uniform message; combinations are checked in
// validate(). Order = the order of config.json and of --help.
const std::vector<TrainConfigField>& train_config_fields() {
  using C = TrainConfig;
  static const std::vector<TrainConfigField> fields = {
      {"train", &C::train, 0, 0, "glob of training shards"},
      {"val", &C::val, 0, 0, "glob of validation shards"},
      {"vocab_size", &C::vocab_size, 0, 1 << 24, "vocabulary size (0 = from the data)"},
      {"n_layer", &C::n_layer, 1, 1024, "transformer blocks"},
      {"n_head", &C::n_head, 1, 4096, "attention heads"},
      {"n_embd", &C::n_embd, 2, 65536, "model width"},
      {"ctx", &C::ctx, 1, 1 << 20, "context length (tokens)"},
      {"softcap", &C::softcap, 0, kInf, "logit soft-cap (0 = off)"},
      {"residual_mixing", &C::residual_mixing, 0, 0,
       "x <- (1-1/(2L)) x + 1/(2L) block(x) instead of x + block(x)"},
      {"attn_1_over_d", &C::attn_1_over_d, 0, 0,
       "attention scores q.k/d_head instead of q.k/sqrt(d_head)"},
      {"orthogonal_init", &C::orthogonal_init, 0, 0,
       "every Linear starts orthogonal x sqrt(fan_out/fan_in)"},
      {"batch", &C::batch, 1, 1 << 20, "sequences per step"},
      {"steps", &C::steps, 1, 1e12, "optimizer steps"},
      {"optimizer", &C::optimizer, 0, 0, "optimizer name (steepest optimizers)"},
      {"lr", &C::lr, -kInf, kInf, "learning rate (<0: optimizer default; Muon's for muon)"},
      {"adamw_lr", &C::adamw_lr, -kInf, kInf,
       "hidden-matrix optimizers: AdamW lr for embed/head/1-D (<0: default)"},
      {"weight_decay", &C::weight_decay, 0, kInf, "decoupled weight decay"},
      {"orthogonalizer", &C::orthogonalizer, 0, 0,
       "msign method of the optimizer (empty: its own default)"},
      {"ns_steps", &C::ns_steps, -1, kMaxNsSteps,
       "Newton-Schulz steps (-1: schedule default; 0 or auto: per layer, the fewest within "
       "--opt ns_auto_tolerance (2%) of the full schedule's orthogonality error)",
       "auto"},
      {"opt", &C::opt, 0, 0,
       "optimizer hyperparameters, KEY=VALUE, repeatable (steepest optimizers)"},
      {"schedule", &C::schedule, 0, 0, "learning-rate schedule: constant, wsd, cosine"},
      {"warmup", &C::warmup, 0, kMaxInt, "linear warm-up steps"},
      {"decay_fraction", &C::decay_fraction, 0, 1,
       "wsd: final fraction of steps with linear decay to 0"},
      {"grad_clip", &C::grad_clip, 0, kInf, "clip the global gradient norm (0 = off)"},
      {"eval_every", &C::eval_every, 1, kMaxInt,
       "evaluate val loss every K steps (and at the end)"},
      {"eval_batches", &C::eval_batches, 1, 1e6, "val batches per evaluation"},
      {"log_every", &C::log_every, 1, kMaxInt, "write a metrics line every K steps"},
      {"checkpoint_every", &C::checkpoint_every, 0, kMaxInt,
       "also keep ckpt-<step>.pt every K steps (0: none; checkpoint.pt, the latest, is "
       "still written every --checkpoint-minutes and at the end)"},
      {"spectra_every", &C::spectra_every, 0, kMaxInt,
       "append the singular-value statistics of each hidden matrix's weight, momentum and "
       "update to spectra.jsonl every K steps (0 = off; steepest spectrum reads them)"},
      {"init_from", &C::init_from, 0, 0,
       "start from the weights of this run directory or checkpoint (fine-tuning: fresh "
       "optimizer, steps and data order; the model shape must match)"},
      {"seed", &C::seed, 0, kMaxInt, "seed for initialization and data order"},
      {"threads", &C::threads, 0, kMaxThreads,
       "OpenBLAS threads (libtorch intra-op 1); 0 = all cores"},
      {"dist_timeout", &C::dist_timeout, 1, 86400,
       "distributed runs: seconds a rank waits for the others before it fails"},
      {"out", &C::out, 0, 0, "run directory"},
  };
  return fields;
}

std::string TrainConfigField::flag() const {
  std::string f = std::string("--") + name;
  for (auto& ch : f)
    if (ch == '_') ch = '-';
  return f;
}

const char* TrainConfigField::type_name() const {
  static const char* names[] = {"INT", "FLOAT", "BOOL", "TEXT", "JSON"};
  return names[member.index()];
}

namespace {
std::string number_text(double v) {
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  std::ostringstream ss;
  ss << std::setprecision(15) << v;  // 16777216, not 1.67772e+07
  return ss.str();
}
}  // namespace

std::string TrainConfigField::range_text() const {
  if (!is_integer() && !is_float()) return "";
  return "[" + number_text(min) + ", " + number_text(max) + "]";
}

nlohmann::ordered_json to_json(const TrainConfig& c) {
  nlohmann::ordered_json j;
  for (const auto& f : train_config_fields())
    std::visit([&](auto m) { j[f.name] = c.*m; }, f.member);
  return j;
}

namespace {

// An integer key takes whole numbers within int64 only: JSON's 1.7 or 1e30
// would otherwise be truncated or wrap around silently.
void check_integral(const char* key, const nlohmann::json& v) {
  const bool whole_float = v.is_number_float() && std::isfinite(v.get<double>()) &&
                           std::floor(v.get<double>()) == v.get<double>() &&
                           std::abs(v.get<double>()) < kMaxInt;
  const bool in_range =
      v.is_number_integer() && !(v.is_number_unsigned() &&
                                 v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()));
  if (v.is_number() && !in_range && !whole_float)
    throw std::invalid_argument(std::string("config key '") + key +
                                "' must be a whole number within 64-bit range, got " + v.dump());
}

// The JSON type each member accepts: get_to would also turn true into 1 or
// 3.5 into a string's error text, so the type is checked first.
bool json_type_fits(const TrainConfigField& f, const nlohmann::json& v) {
  if (f.is_integer() || f.is_float()) return v.is_number();
  if (f.is_bool()) return v.is_boolean();
  if (f.is_text()) return v.is_string();
  return v.is_object();
}

}  // namespace

TrainConfig train_config_from_json(const nlohmann::json& j) {
  TrainConfig c;
  if (!j.is_object())
    throw std::invalid_argument("training config must be a JSON object, got " +
                                std::string(j.type_name()));
  for (const auto& f : train_config_fields()) {
    if (!j.contains(f.name)) continue;
    const nlohmann::json& v = j.at(f.name);
    if (f.word != nullptr && v.is_string() && v.get<std::string>() == f.word) {
      c.*std::get<int64_t TrainConfig::*>(f.member) = 0;
      continue;
    }
    if (!json_type_fits(f, v))
      throw std::invalid_argument(std::string("config key '") + f.name + "' must be " +
                                  (f.is_integer() ? "a whole number"
                                   : f.is_float() ? "a number"
                                   : f.is_bool()  ? "true or false"
                                   : f.is_text()  ? "a string"
                                                  : "a JSON object") +
                                  ", got " + v.dump() +
                                  " (default: " + to_json(TrainConfig{})[f.name].dump() + ")");
    if (f.is_integer()) check_integral(f.name, v);
    std::visit([&](auto m) { v.get_to(c.*m); }, f.member);
  }
  for (const auto& item : j.items()) {
    bool known = false;
    for (const auto& f : train_config_fields()) known |= item.key() == f.name;
    if (known) continue;
    std::string keys;
    for (const auto& f : train_config_fields())
      keys += (keys.empty() ? "" : ", ") + std::string(f.name);
    throw std::invalid_argument("unknown config key '" + item.key() + "'; valid keys: " + keys);
  }
  return c;
}

nlohmann::json read_json_file(const std::string& path) {
  // One reader for every JSON file (io/json_fields.h): a regular file of
  // bounded size, nesting bounded, our message without nlohmann's tags.
  return detail::read_json(path);
}

namespace {
void require(bool ok, const std::string& msg) {
  if (!ok) throw std::invalid_argument(msg);
}

// A rough upper estimate of a run's memory (fp32): parameters with their
// gradients and up to three optimizer buffers, and one step's activations
// (about 20 B*T*d values and 3 B*H*T^2 attention values per layer, and the
// logits). Sizes far beyond the machine are refused here, before libtorch's
// allocator fails with its own message.
void check_fits_in_memory(const TrainConfig& c) {
  const double V = static_cast<double>(c.vocab_size > 0 ? c.vocab_size : 256);
  const double L = static_cast<double>(c.n_layer), d = static_cast<double>(c.n_embd);
  const double B = static_cast<double>(c.batch), T = static_cast<double>(c.ctx);
  const double H = static_cast<double>(c.n_head);
  const double parameters = 2 * V * d + L * 12 * d * d;
  const double activations = L * (20 * B * T * d + 3 * B * H * T * T) + 3 * B * T * V;
  const double bytes = 4 * (5 * parameters + activations);
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return;
  const double have = static_cast<double>(pages) * static_cast<double>(page);
  if (bytes <= have) return;
  char msg[400];
  std::snprintf(msg, sizeof(msg),
                "this model and batch need about %.3g GiB (%.3g parameters, %.3g activation "
                "values per step), more than the %.1f GiB of memory on this machine; reduce "
                "--batch, --ctx, --n-embd or --n-layer",
                bytes / 1073741824.0, parameters, activations, have / 1073741824.0);
  throw std::invalid_argument(msg);
}
}  // namespace

void validate(const TrainConfig& c) {
  for (const auto& f : train_config_fields()) {
    double v = 0;
    if (f.is_integer())
      v = static_cast<double>(c.*std::get<int64_t TrainConfig::*>(f.member));
    else if (f.is_float())
      v = c.*std::get<double TrainConfig::*>(f.member);
    else
      continue;
    // NaN fails both comparisons, so it is refused here too.
    require(std::isfinite(v) && v >= f.min && v <= f.max,
            f.flag() + " must be a finite number in " + f.range_text() + ", got " + number_text(v) +
                " (" + f.help + ")");
  }
  require(c.n_embd % c.n_head == 0 && (c.n_embd / c.n_head) % 2 == 0,
          "--n-embd " + std::to_string(c.n_embd) + " must be divisible by --n-head " +
              std::to_string(c.n_head) + " into an even head size (rotary embedding)");
  require(c.ns_steps >= -1,
          "--ns-steps must be >= 1, -1 (the schedule's own length) or auto (0), got " +
              std::to_string(c.ns_steps));
  bool known_opt = false;
  std::string names;
  for (const auto& i : optimizer_infos()) {
    known_opt |= i.name == c.optimizer;
    names += (names.empty() ? "" : ", ") + i.name;
  }
  require(known_opt, "unknown --optimizer '" + c.optimizer + "'; known: " + names);
  if (!c.orthogonalizer.empty())
    Orthogonalizer::from_name(
        c.orthogonalizer,
        c.ns_steps == 0 ? -1 : static_cast<int>(c.ns_steps));  // throws with names
  require(c.opt.is_object(), "config key 'opt' must be a JSON object, got " + c.opt.dump());
  {
    ModelOptimizerOptions o;
    o.name = c.optimizer;
    o.orthogonalizer = c.orthogonalizer;
    o.ns_steps = static_cast<int>(c.ns_steps);
    o.opt = c.opt;
    // auto: Muon's per-layer measurement (ns_steps_auto.h); only the optimizers
    // with its tolerance hyperparameter run it.
    require(c.ns_steps != 0 || resolve_hyperparameters(c.optimizer, nlohmann::json::object())
                                   .contains("ns_auto_tolerance"),
            "--ns-steps auto is Muon's per-layer step count (muon and its variants); optimizer '" +
                c.optimizer + "' takes a fixed count: pass --ns-steps N, or -1 for its default");
    resolve_hyperparameters(c.optimizer, effective_hyperparameters(o));  // throws naming the key
    const auto h = effective_hyperparameters(o);
    if (c.ns_steps == 0 && h.contains("orthogonalizer")) {
      const auto name = h.at("orthogonalizer").get<std::string>();
      const auto ortho = Orthogonalizer::from_name(name);
      require(ortho.kind != Orthogonalizer::Kind::Svd && !ortho.options.ns.precondition,
              "--ns-steps auto needs a Newton-Schulz orthogonalizer (a schedule or "
              "gram-<schedule>), not '" +
                  name + "'");
    }
  }
  require(c.schedule == "constant" || c.schedule == "wsd" || c.schedule == "cosine",
          "--schedule must be constant, wsd or cosine, got '" + c.schedule + "'");
  require(c.warmup < c.steps, "--warmup must be in [0, steps), got " + std::to_string(c.warmup) +
                                  " with --steps " + std::to_string(c.steps));
  require(!c.out.empty(), "--out must name a directory");
  check_fits_in_memory(c);
}

}  // namespace steepest
