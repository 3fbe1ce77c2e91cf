#include "steepest/train/trainer.h"

#include <c10/util/Exception.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include "steepest/data/byte_tokenizer.h"
#include "steepest/model/gpt_module_tree.h"
#include "steepest/optim/model_optimizer.h"
#include "steepest/optim/registry.h"
#include "steepest/train/checkpoint.h"
#include "steepest/train/distributed.h"
#include "steepest/train/divergence.h"
#include "steepest/train/lr_schedule.h"
#include "steepest/train/metrics.h"
#include "steepest/train/progress.h"
#include "steepest/train/spectra_recorder.h"
#include "steepest/util/memory.h"
#include "steepest/util/threads.h"
#include "util/atomic_file.h"
#include "util/file_lock.h"

namespace steepest {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Files a run writes; --overwrite removes exactly these, never the directory.
bool is_run_file(const fs::path& p) {
  const std::string n = p.filename().string();
  return n == "config.json" || n == "metrics.jsonl" || n == "spectra.jsonl" ||
         n == "summary.json" || n == "checkpoint.pt" ||
         (n.rfind("ckpt-", 0) == 0 && p.extension() == ".pt");
}

bool is_steepest_run(const fs::path& dir) {
  std::error_code ec;
  // A trainer killed between creating metrics.jsonl and renaming its
  // config.json into place leaves an empty metrics.jsonl (and perhaps a
  // config.json.tmp) and nothing else of a run's: ours, and nothing to lose.
  bool only_empty_metrics =
      fs::exists(dir / "metrics.jsonl", ec) && fs::file_size(dir / "metrics.jsonl", ec) == 0 && !ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (is_run_file(e.path()) && e.path().filename() != "metrics.jsonl") only_empty_metrics = false;
  if (only_empty_metrics && !ec) return true;  // a directory we could not list is not ours
  if (!fs::exists(dir / "metrics.jsonl", ec) || !fs::exists(dir / "config.json", ec)) return false;
  try {
    train_config_from_json(read_json_file((dir / "config.json").string()));
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// Refuses a run directory inside a bench's results while that bench runs
// (it holds <results>/.bench.lock): the bench would count this run as one of
// its own. The bench's own trainers carry STEEPEST_BENCH_RUN.
void refuse_running_bench_results(const fs::path& out) {
  if (std::getenv("STEEPEST_BENCH_RUN") != nullptr) return;
  std::error_code ec;
  for (fs::path dir = fs::weakly_canonical(fs::absolute(out), ec); !dir.empty();
       dir = dir.parent_path()) {
    const fs::path lock = dir / ".bench.lock";
    const int fd = ::open(lock.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      const bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
      ::close(fd);
      if (held)
        throw std::runtime_error("'" + out.string() + "' lies inside the results directory '" +
                                 dir.string() +
                                 "' of a bench that is running now (it holds .bench.lock), "
                                 "which would count this run as one of its own; choose another "
                                 "--out, or wait for the bench to finish");
    }
    if (dir == dir.parent_path()) break;
  }
}

// Creates (or checks) the run directory and returns its lock: one trainer per
// run directory, held until the returned object is destroyed.
std::unique_ptr<detail::FileLock> prepare_run_dir(const std::string& out, bool overwrite,
                                                  bool resuming_here) {
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec || !fs::is_directory(out))
    throw std::runtime_error("cannot create run directory '" + out + "': " + ec.message());
  auto lock = std::make_unique<detail::FileLock>(
      (fs::path(out) / ".steepest.lock").string(),
      "another `steepest train` is writing to '" + out +
          "' (it holds its .steepest.lock); wait for it, stop it, or choose another --out");
  bool has_run = false;
  for (const auto& e : fs::directory_iterator(out, ec)) has_run |= is_run_file(e.path());
  if (has_run && !overwrite && !resuming_here)
    throw std::runtime_error("run directory '" + out +
                             "' already holds a run; pass --overwrite to replace it or --resume " +
                             out + " to continue it");
  // --overwrite deletes only what a run of ours wrote: a directory whose
  // config.json is not a training config (or that has no metrics.jsonl) holds
  // someone else's files of the same names.
  if (has_run && overwrite && !resuming_here && !is_steepest_run(out))
    throw std::runtime_error("'" + out +
                             "' holds files named like a run's (config.json, summary.json, "
                             "checkpoint.pt or ckpt-*.pt) but is not a steepest run directory "
                             "(no training config.json with metrics.jsonl); nothing was deleted. "
                             "Choose another --out");
  if (has_run && overwrite && !resuming_here)
    for (const auto& e : fs::directory_iterator(out, ec))
      if (is_run_file(e.path())) fs::remove(e.path(), ec);
  // A <file>.tmp.XXXXXX (<file>.tmp before) is what a killed write left
  // behind; it is never read, only removed.
  std::vector<fs::path> stale;
  for (const auto& e : fs::directory_iterator(out, ec)) {
    const std::string name = e.path().string();
    const std::string target = detail::temp_target(name);
    if ((!target.empty() && is_run_file(target)) ||
        (e.path().extension() == ".tmp" && is_run_file(e.path().parent_path() / e.path().stem())))
      stale.push_back(e.path());
  }
  for (const auto& p : stale) fs::remove(p, ec);
  // Prove the directory is writable now rather than after the first steps.
  // A new file of a random name: never one planted there (a symlink named
  // .write-test would have truncated its target).
  try {
    std::string probe;
    ::close(detail::create_temp_beside((fs::path(out) / ".write-test").string(), probe));
    fs::remove(probe, ec);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("run directory '" + out + "' is not writable (" + e.what() + ")");
  }
  return lock;
}

bool all_finite(const std::vector<at::Tensor>& tensors) {
  for (const auto& t : tensors)
    if (!at::isfinite(t).all().item<bool>()) return false;
  return true;
}

// Stops a run whose loss or weights went bad, naming the step, the last
// checkpoint written while the run was healthy, and what to change.
[[noreturn]] void diverged(int64_t step, const std::string& what, const std::string& last_good) {
  throw std::runtime_error(
      "training diverged at step " + std::to_string(step) + ": " + what + ". " +
      (last_good.empty() ? std::string("No checkpoint was written before it.")
                         : "The last good checkpoint is '" + last_good + "'.") +
      " Lower --lr, add --warmup or set --grad-clip.");
}

bool same_directory(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  return fs::exists(a, ec) && fs::exists(b, ec) && fs::equivalent(a, b, ec);
}

void write_json_file(const fs::path& path, const nlohmann::ordered_json& j) {
  detail::write_file_atomically(path, j.dump(2) + "\n");
}

}  // namespace

nlohmann::ordered_json TrainSummary::to_json() const {
  nlohmann::ordered_json curve = nlohmann::ordered_json::array();
  for (const auto& [s, v] : val_curve) curve.push_back({{"step", s}, {"val_loss", v}});
  return {{"final_val_loss", final_val_loss},
          {"best_val_loss", best_val_loss},
          {"final_train_loss", final_train_loss},
          {"steps", steps},
          {"tokens", tokens},
          {"parameters", parameters},
          {"wall_seconds", wall_seconds},
          {"tokens_per_s", tokens_per_s},
          {"ms_per_step", ms_per_step},
          {"optimizer_ms_per_step", optimizer_ms_per_step},
          {"optimizer_state_bytes", optimizer_state_bytes},
          {"optimizer_gemms_per_step", optimizer_gemms_per_step},
          {"optimizer_flops_per_step", optimizer_flops_per_step},
          {"val_curve", curve}};
}

int64_t resolve_vocab_size(const TrainConfig& config, const TokenDataset& train) {
  if (config.vocab_size > 0) return config.vocab_size;
  const int64_t max_id = train.tokens().max().item<int64_t>();
  if (max_id < kByteVocabSize) return kByteVocabSize;
  const int64_t need = std::max<int64_t>(max_id + 1, 50257);  // GPT-2's vocabulary
  return (need + 63) / 64 * 64;
}

GPTConfig gpt_config(const TrainConfig& c) {
  GPTConfig g;
  g.vocab_size = c.vocab_size;
  g.n_layer = c.n_layer;
  g.n_head = c.n_head;
  g.n_embd = c.n_embd;
  g.ctx = c.ctx;
  g.logit_softcap = c.softcap;
  g.residual_mixing = c.residual_mixing;
  g.attn_1_over_d = c.attn_1_over_d;
  g.orthogonal_init = c.orthogonal_init;
  return g;
}

ModelOptimizerOptions model_optimizer_options(const TrainConfig& c) {
  ModelOptimizerOptions o;
  o.name = c.optimizer;
  o.lr = c.lr;
  o.adamw_lr = c.adamw_lr;
  o.weight_decay = c.weight_decay;
  o.orthogonalizer = c.orthogonalizer;
  o.ns_steps = static_cast<int>(c.ns_steps);
  o.opt = c.opt;
  o.total_steps = c.steps;
  if (c.optimizer == "modular") {
    // The GPT's own tree, with the masses of the resolved hyperparameters.
    const auto h = resolve_hyperparameters("modular", c.opt);
    GptMasses masses;
    masses.embed = h.at("embed_mass").get<double>();
    masses.blocks = h.at("blocks_mass").get<double>();
    masses.head = h.at("head_mass").get<double>();
    o.module_tree = gpt_module_tree(gpt_config(c), masses);
  }
  return o;
}

double evaluate(GPT& model, const TokenDataset& val, int64_t batch, int64_t ctx, int64_t batches) {
  at::NoGradGuard no_grad;
  double sum = 0;
  for (int64_t i = 0; i < batches; ++i) {
    const auto [x, y] = sequential_batch(val, i, batch, ctx);
    sum += model->loss(x, y).item<double>();
  }
  return sum / static_cast<double>(batches);
}

TrainSummary train(const TrainConfig& config_in, const TrainRunOptions& options) {
  TrainConfig cfg = config_in;
  validate(cfg);
  const int threads = cfg.threads > 0 ? static_cast<int>(cfg.threads)
                                      : static_cast<int>(std::thread::hardware_concurrency());
  set_threads(std::max(1, threads));
  keep_freed_memory();

  // Data parallelism (torchrun's variables, or --nproc): every rank runs this
  // function with the same config; rank 0 alone writes files and progress.
  const DistEnv env = dist_env_from_environment();
  const bool lead = env.rank == 0;
  std::shared_ptr<GlooCollectives> comm;
  if (env.active()) {
    if (cfg.batch % env.world_size != 0)
      throw std::invalid_argument("--batch " + std::to_string(cfg.batch) +
                                  " is the global batch and must divide by the " +
                                  std::to_string(env.world_size) + " ranks");
    comm = std::make_shared<GlooCollectives>(env, std::chrono::seconds(cfg.dist_timeout));
    comm->check_same_config(to_json(cfg));
  }
  // A setup step that can fail on one rank: every rank learns of it, so none
  // is left waiting in a collective.
  const auto agree = [&](const std::function<void()>& f) {
    std::exception_ptr error;
    try {
      f();
    } catch (...) {
      error = std::current_exception();
    }
    if (comm) {
      at::Tensor failed = at::full({1}, error ? 1 : 0, at::kLong);
      comm->all_reduce_sum(failed);
      if (!error && failed.item<int64_t>() > 0)
        throw std::runtime_error("rank " + std::to_string(env.rank) +
                                 ": another rank failed during setup (its message says why)");
    }
    if (error) std::rethrow_exception(error);
  };
  Progress progress(cfg.steps, lead ? options.log : nullptr, options.tty);

  // Data first: a bad shard should fail before anything is written.
  const auto load_train = [&] {
    try {
      return TokenDataset(cfg.train, cfg.vocab_size > 0 ? cfg.vocab_size : (int64_t{1} << 31));
    } catch (const std::runtime_error& e) {
      if (cfg.train != TrainConfig{}.train) throw;
      throw std::runtime_error(
          std::string(e.what()) +
          "; the default corpus is built by `steepest data prepare --default`");
    }
  };
  std::optional<TokenDataset> train_holder, val_holder;
  agree([&] {
    train_holder.emplace(load_train());
    cfg.vocab_size = resolve_vocab_size(cfg, *train_holder);
    val_holder.emplace(cfg.val, cfg.vocab_size);
  });
  TokenDataset& train_data = *train_holder;
  TokenDataset& val_data = *val_holder;
  if (train_data.size() <= cfg.ctx)
    throw std::invalid_argument("--ctx " + std::to_string(cfg.ctx) + " is longer than the " +
                                std::to_string(train_data.size()) +
                                " training tokens; use a smaller --ctx or more data");
  if (val_data.size() <= cfg.ctx)
    throw std::invalid_argument("--ctx " + std::to_string(cfg.ctx) + " is longer than the " +
                                std::to_string(val_data.size()) + " validation tokens in '" +
                                cfg.val + "'");

  const bool resuming = !options.resume.empty();
  const bool resuming_here =
      resuming && same_directory(fs::absolute(options.resume).parent_path(), cfg.out);
  std::unique_ptr<detail::FileLock> run_lock;
  agree([&] {
    // Every input is found before anything is deleted: --overwrite empties
    // --out, so a checkpoint inside it would be gone before it was read.
    if (!resuming && !cfg.init_from.empty()) {
      const fs::path from = fs::absolute(resolve_checkpoint(cfg.init_from));
      for (fs::path dir = from.parent_path(); options.overwrite && !dir.empty();
           dir = dir.parent_path()) {
        if (same_directory(dir, cfg.out))
          throw std::invalid_argument(
              "--init-from '" + cfg.init_from + "' lies inside --out '" + cfg.out +
              "', which --overwrite would empty before it is read; copy the checkpoint "
              "elsewhere first, or choose another --out");
        if (dir == dir.parent_path()) break;
      }
    }
    if (lead) refuse_running_bench_results(cfg.out);
    if (lead) run_lock = prepare_run_dir(cfg.out, options.overwrite, resuming_here);
  });
  const fs::path out(cfg.out);

  at::manual_seed(static_cast<uint64_t>(cfg.seed));
  GPT model(gpt_config(cfg));
  ModelOptimizerOptions optimizer_options = model_optimizer_options(cfg);
  optimizer_options.collectives = comm;
  ModelOptimizer optimizer(*model, optimizer_options);
  BatchSampler sampler(train_data, cfg.batch, cfg.ctx, static_cast<uint64_t>(cfg.seed));

  TrainState state;
  std::optional<MetricsWriter> metrics;
  std::optional<SpectraRecorder> spectra;
  agree([&] {
    if (resuming) {
      // The model's shape comes from the checkpoint: a flag that changes it
      // would load mismatched weights into a run that cannot be used later.
      const nlohmann::ordered_json was = to_json(read_checkpoint_config(options.resume));
      const nlohmann::ordered_json now = to_json(cfg);
      for (const char* key : {"vocab_size", "n_layer", "n_head", "n_embd", "residual_mixing",
                              "attn_1_over_d", "optimizer"})
        if (was.at(key) != now.at(key) && !(std::string(key) == "vocab_size" && was.at(key) == 0))
          throw std::invalid_argument(
              "checkpoint '" + options.resume + "' was trained with " + key + " " +
              was.at(key).dump() + ", this run asks for " + now.at(key).dump() +
              "; drop the flag that changes it, or start a new run with --out");
      state = load_checkpoint(options.resume, *model, optimizer);
      sampler.set_position(state.data_position);
      // A run killed after its last checkpoint but before summary.json is only finished here.
      std::error_code ec;
      const bool unfinished_end =
          resuming_here && state.step == cfg.steps && !fs::exists(out / "summary.json", ec);
      if (state.step >= cfg.steps && !unfinished_end)
        throw std::invalid_argument("checkpoint '" + options.resume + "' is already at step " +
                                    std::to_string(state.step) + " of --steps " +
                                    std::to_string(cfg.steps) + "; pass a larger --steps");
      progress.print("resumed from " + options.resume + " at step " + std::to_string(state.step));
    } else if (!cfg.init_from.empty()) {
      // Fine-tuning: only the weights; the model's shape must be the checkpoint's.
      const std::string from = resolve_checkpoint(cfg.init_from);
      const nlohmann::ordered_json was = to_json(read_checkpoint_config(from));
      const nlohmann::ordered_json now = to_json(cfg);
      for (const char* key :
           {"vocab_size", "n_layer", "n_head", "n_embd", "residual_mixing", "attn_1_over_d"})
        if (was.at(key) != now.at(key))
          throw std::invalid_argument("--init-from '" + cfg.init_from + "': its model has " + key +
                                      " " + was.at(key).dump() + ", this run " +
                                      now.at(key).dump() + "; use the same model shape (and a " +
                                      "corpus with the same vocabulary)");
      load_checkpoint_weights(from, *model);
      progress.print("initialized from the weights of " + from);
    }
    if (resuming_here && lead) {
      // Resuming from an earlier checkpoint of this directory would overwrite
      // the later ones and the metrics after it: make that a decision.
      std::error_code ec;
      std::vector<fs::path> later;
      for (const auto& e : fs::directory_iterator(out, ec)) {
        const std::string n = e.path().filename().string();
        if (n.rfind("ckpt-", 0) != 0 || e.path().extension() != ".pt") continue;
        int64_t k = -1;
        try {
          k = std::stoll(n.substr(5));
        } catch (const std::exception&) {
          continue;
        }
        if (k > state.step) later.push_back(e.path());
      }
      if (!later.empty() && !options.overwrite)
        throw std::invalid_argument(
            "resuming '" + options.resume + "' (step " + std::to_string(state.step) +
            ") in its own directory would overwrite the later '" + later.front().string() +
            "' and the metrics after step " + std::to_string(state.step) +
            "; pass --out NEWDIR to branch off, or --overwrite to discard them");
      for (const auto& f : later) fs::remove(f, ec);
      // A kill between checkpoint.pt and its kept copy left no ckpt-<step>.pt: make it now.
      const fs::path kept = out / ("ckpt-" + std::to_string(state.step) + ".pt");
      if (cfg.checkpoint_every > 0 && state.step % cfg.checkpoint_every == 0 &&
          !fs::exists(kept, ec) && fs::path(options.resume).filename() == "checkpoint.pt")
        detail::copy_file_atomically(options.resume, kept.string());
    }
    if (lead) {
      // metrics.jsonl first: a directory with our config.json always has both,
      // which is how --overwrite recognizes a run of ours.
      metrics.emplace((out / "metrics.jsonl").string(), resuming_here ? state.step : -1);
      if (cfg.spectra_every > 0)
        spectra.emplace((out / "spectra.jsonl").string(), cfg.spectra_every,
                        resuming_here ? state.step : -1);
      write_json_file(out / "config.json", to_json(cfg));
    }
  });

  char line[256];
  std::snprintf(line, sizeof(line),
                "model: %lld parameters | data: %lld train / %lld val tokens, vocab %lld | "
                "optimizer: %s | %lld steps of %lld x %lld tokens%s",
                static_cast<long long>(model->num_parameters()),
                static_cast<long long>(train_data.size()), static_cast<long long>(val_data.size()),
                static_cast<long long>(cfg.vocab_size), cfg.optimizer.c_str(),
                static_cast<long long>(cfg.steps), static_cast<long long>(cfg.batch),
                static_cast<long long>(cfg.ctx),
                comm ? (" | " + std::to_string(env.world_size) + " ranks").c_str() : "");
  progress.print(line);
  if (!resuming) progress.print(optimizer.table());

  TrainSummary summary;
  summary.parameters = model->num_parameters();
  const int64_t tokens_per_step = cfg.batch * cfg.ctx;
  double window_s = 0, window_opt_s = 0, window_opt_local_s = 0, window_spectra_s = 0,
         window_loss = 0, run_opt_s = 0, run_s = 0;
  int64_t window_n = 0, run_n = 0;
  double last_loss = NAN, last_val = NAN;
  const std::string latest = (out / "checkpoint.pt").string();
  std::vector<at::Tensor> parameters;
  for (const auto& p : model->parameters())
    if (p.requires_grad()) parameters.push_back(p);
  const int world = env.world_size;
  const int64_t rows = cfg.batch / world;  // this rank's slice of every global batch
  CommStats comm_seen;
  std::string last_good = resuming ? options.resume : "";
  DivergenceMonitor divergence(cfg.vocab_size);
  auto last_save = Clock::now();

  for (int64_t step = state.step + 1; step <= cfg.steps; ++step) {
    const auto t0 = Clock::now();
    const double factor = lr_factor(cfg.schedule, step, cfg.steps, cfg.warmup, cfg.decay_fraction);
    optimizer.set_lr_factor(factor);
    divergence.note_step_lr(optimizer.lr());
    auto [x, y] = sampler.next();
    if (comm) {
      x = x.narrow(0, env.rank * rows, rows);
      y = y.narrow(0, env.rank * rows, rows);
    }
    optimizer.zero_grad();
    const at::Tensor loss = model->loss(x, y);
    double loss_value = loss.item<double>();
    if (comm) {  // the global batch's mean: equal slices, so the mean of the ranks' means
      at::Tensor l = at::full({1}, loss_value, at::kDouble);
      comm->all_reduce_sum(l);
      loss_value = l.item<double>() / world;
    }
    if (const auto why = divergence.observe(loss_value)) diverged(step, *why, last_good);
    loss.backward();
    if (comm) average_gradients(parameters, *comm);
    if (cfg.grad_clip > 0) {
      std::vector<at::Tensor> grads;
      for (const auto& p : model->parameters())
        if (p.grad().defined()) grads.push_back(p.grad());
      const double norm =
          at::stack(
              c10::fmap(grads, [](const at::Tensor& g) { return at::linalg_vector_norm(g, 2); }))
              .norm()
              .item<double>();
      if (norm > cfg.grad_clip)
        for (auto& g : grads) g.mul_(cfg.grad_clip / (norm + 1e-6));
    }
    const bool record_spectra = spectra && spectra->due(step);
    const auto t_spectra = Clock::now();
    if (record_spectra) spectra->before_step(*model);
    double spectra_s = record_spectra ? seconds_since(t_spectra) : 0.0;
    const auto t_opt = Clock::now();
    const double comm_before = comm ? comm->stats().seconds : 0.0;
    try {
      optimizer.step();
    } catch (const c10::Error& e) {
      throw std::runtime_error(
          "at step " + std::to_string(step) + ": " + e.what_without_backtrace() +
          (last_good.empty() ? "" : " Last good checkpoint: '" + last_good + "'."));
    }
    const double opt_s = seconds_since(t_opt);
    // The optimizer's own work, without its collectives (the sharded all-gather).
    const double opt_local_s = opt_s - (comm ? comm->stats().seconds - comm_before : 0.0);
    if (record_spectra) {
      const auto t_after = Clock::now();
      spectra->after_step(step, *model, optimizer.composite());
      spectra_s += seconds_since(t_after);
    }
    const double step_s = seconds_since(t0);
    state.step = step;
    state.data_position = sampler.position();
    state.tokens += tokens_per_step;
    state.wall_seconds += step_s;
    window_s += step_s;
    window_opt_s += opt_s;
    window_opt_local_s += opt_local_s;
    window_spectra_s += spectra_s;
    window_loss += loss_value;
    ++window_n;
    run_s += step_s;
    run_opt_s += opt_s;
    ++run_n;
    last_loss = loss_value;

    const bool eval_now = step % cfg.eval_every == 0 || step == cfg.steps;
    std::optional<double> val;
    if (eval_now && lead) {
      val = evaluate(model, val_data, cfg.batch, cfg.ctx, cfg.eval_batches);
      // Checked before this step's checkpoint, which would otherwise hold the bad model.
      if (const auto why = divergence.observe_val(*val, step, cfg.steps))
        diverged(step, *why, last_good);
      last_val = *val;
      state.best_val_loss = std::min(state.best_val_loss, *val);
      summary.val_curve.emplace_back(step, *val);
    }
    if (step % cfg.log_every == 0 || eval_now) {
      double slowest_opt_s = window_opt_local_s;
      CommStats window_comm;
      if (comm) {
        // Measured before this window's own gather, so it reports the steps.
        window_comm.bytes = comm->stats().bytes - comm_seen.bytes;
        window_comm.seconds = comm->stats().seconds - comm_seen.seconds;
        slowest_opt_s =
            comm->all_gather(at::full({1}, window_opt_local_s, at::kDouble)).max().item<double>();
        comm_seen = comm->stats();
      }
      nlohmann::ordered_json m = {{"step", step}, {"train_loss", loss_value}};
      if (val) m["val_loss"] = *val;
      const Cost c = optimizer.last_step_cost();
      m["lr"] = optimizer.lr();
      m["tokens_per_s"] = tokens_per_step * window_n / window_s;
      m["ms_per_step"] = 1e3 * window_s / window_n;
      m["optimizer_ms"] = 1e3 * window_opt_s / window_n;
      m["optimizer_gemms"] = c.gemms;
      m["optimizer_flops"] = c.total_flops();
      if (spectra)
        m["spectra_ms"] = 1e3 * window_spectra_s / window_n;  // recording, in ms_per_step
      if (comm) {
        m["world_size"] = world;
        m["optimizer_local_ms"] = 1e3 * window_opt_local_s / window_n;
        m["slowest_optimizer_local_ms"] = 1e3 * slowest_opt_s / window_n;
        m["comm_bytes_per_step"] = static_cast<double>(window_comm.bytes) / window_n;
        m["comm_ms"] = 1e3 * window_comm.seconds / window_n;
      }
      if (metrics) metrics->write(m);
      progress.update(step, window_loss / window_n, tokens_per_step * window_n / window_s,
                      window_s / window_n);
      window_s = window_opt_s = window_opt_local_s = window_spectra_s = window_loss = 0;
      window_n = 0;
    }
    if (val) {
      std::snprintf(line, sizeof(line), "step %lld: val loss %.4f (best %.4f)",
                    static_cast<long long>(step), *val, state.best_val_loss);
      progress.print(line);
    }
    const bool keep = cfg.checkpoint_every > 0 && step % cfg.checkpoint_every == 0;
    // Time-based saves: every rank must join a save (the sharded state is
    // gathered), so ranks agree at log steps, where any rank that is due decides.
    bool due = options.checkpoint_minutes > 0 &&
               seconds_since(last_save) >= 60.0 * options.checkpoint_minutes;
    if (comm && options.checkpoint_minutes > 0) {
      if (step % cfg.log_every == 0) {
        at::Tensor any = at::full({1}, due ? 1 : 0, at::kLong);
        comm->all_reduce_sum(any);
        due = any.item<int64_t>() > 0;
      } else {
        due = false;
      }
    }
    if (keep || due || step == cfg.steps) {
      last_save = Clock::now();
      // A checkpoint of non-finite weights could be neither evaluated nor resumed.
      if (!all_finite(parameters)) diverged(step, "the weights are no longer finite", last_good);
      // Every rank joins (the sharded state is gathered); rank 0 writes the file.
      save_checkpoint(latest, *model, optimizer, cfg, state, /*write_file=*/lead);
      last_good = latest;
      if (keep && lead) {
        const auto kept = (out / ("ckpt-" + std::to_string(step) + ".pt")).string();
        detail::copy_file_atomically(latest, kept);
        last_good = kept;
      }
    }
  }
  progress.finish();

  if (lead && std::isnan(last_val)) {  // finishing a run whose loop had already ended
    last_val = evaluate(model, val_data, cfg.batch, cfg.ctx, cfg.eval_batches);
    summary.val_curve.emplace_back(state.step, last_val);
  }
  summary.final_val_loss = last_val;
  summary.best_val_loss = state.best_val_loss;
  summary.final_train_loss = last_loss;
  summary.steps = state.step;
  summary.tokens = state.tokens;
  summary.wall_seconds = state.wall_seconds;
  summary.tokens_per_s = run_n > 0 ? tokens_per_step * run_n / run_s : 0;
  summary.ms_per_step = run_n > 0 ? 1e3 * run_s / run_n : 0;
  summary.optimizer_ms_per_step = run_n > 0 ? 1e3 * run_opt_s / run_n : 0;
  summary.optimizer_state_bytes = optimizer.state_bytes();
  summary.optimizer_gemms_per_step = optimizer.last_step_cost().gemms;
  summary.optimizer_flops_per_step = optimizer.last_step_cost().total_flops();
  if (lead) write_json_file(out / "summary.json", summary.to_json());
  return summary;
}

}  // namespace steepest
