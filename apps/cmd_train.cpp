// `steepest train`: flags generated from TrainConfig, --config files, resume.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "commands.h"
#include "steepest/train/checkpoint.h"
#include "steepest/train/config.h"
#include "steepest/train/distributed.h"
#include "steepest/train/trainer.h"

namespace steepest::app {
namespace {

struct TrainArgs {
  std::string config_file, resume;
  bool overwrite = false, print_config = false;
  double checkpoint_minutes = 10.0;
  int nproc = 0;  // given: start that many local ranks
  CLI::Option* nproc_option = nullptr;
  std::map<std::string, std::string> values;  // config key → flag text, for flags given
  std::map<std::string, CLI::Option*> options;
  std::vector<std::string> opt;  // --opt KEY=VALUE
};

// "KEY=VALUE" → (KEY, VALUE as JSON: a number, true/false, or else a string).
std::pair<std::string, nlohmann::json> parse_opt(const std::string& text) {
  const auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw std::invalid_argument("--opt expects KEY=VALUE (e.g. --opt p=0.25), got '" + text + "'");
  const std::string key = text.substr(0, eq), value = text.substr(eq + 1);
  nlohmann::json v = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (v.is_discarded() || !(v.is_number() || v.is_boolean() || v.is_string())) v = value;
  return {key, v};
}

// Converts a flag's text to the JSON type of the field. Integers also take a
// whole number in float notation (--steps 1e4); anything else names the flag.
nlohmann::json typed(const TrainConfigField& f, const std::string& text) {
  if (f.is_bool()) {
    if (text == "true" || text == "1" || text == "on") return true;
    if (text == "false" || text == "0" || text == "off") return false;
    throw std::invalid_argument(f.flag() + " is a switch: give it alone, or =true / =false, got '" +
                                text + "'");
  }
  if (!f.is_integer() && !f.is_float()) return text;
  if (f.word != nullptr && text == f.word) return 0;
  const std::string want = f.is_integer() ? "a whole number" : "a number";
  try {
    size_t used = 0;
    if (f.is_integer()) {
      const long long v = std::stoll(text, &used);
      if (used == text.size()) return v;
    }
    const double v = std::stod(text, &used);
    if (used != text.size()) throw std::invalid_argument(text);
    if (f.is_float()) return v;
    if (std::isfinite(v) && std::floor(v) == v && std::abs(v) < 9.0e18)
      return static_cast<long long>(v);
  } catch (const std::exception&) {
  }
  throw std::invalid_argument(f.flag() + " expects " + want + " in " + f.range_text() + ", got '" +
                              text + "'");
}

// The resolved config for --nproc's ranks: a new file of a random name
// (mkstemps: O_CREAT|O_EXCL, mode 0600), so a planted file or symlink in a
// shared $TMPDIR is never written through; removed when the launch ends.
struct LaunchConfigFile {
  std::string path;
  explicit LaunchConfigFile(const std::string& text) {
    path = (std::filesystem::temp_directory_path() / "steepest-launch-XXXXXX.json").string();
    const int fd = ::mkostemps(path.data(), 5, O_CLOEXEC);
    if (fd < 0)
      throw std::runtime_error("--nproc: cannot create a config file in " +
                               std::filesystem::temp_directory_path().string() + " (" +
                               std::strerror(errno) + "); set TMPDIR to a writable directory");
    size_t at = 0;
    while (at < text.size()) {
      const ssize_t n = ::write(fd, text.data() + at, text.size() - at);
      if (n <= 0 && errno == EINTR) continue;
      if (n <= 0) break;
      at += static_cast<size_t>(n);
    }
    ::close(fd);
    if (at < text.size()) {
      remove();
      throw std::runtime_error("--nproc: cannot write '" + path + "'");
    }
  }
  void remove() const { ::unlink(path.c_str()); }
  ~LaunchConfigFile() { remove(); }
  LaunchConfigFile(const LaunchConfigFile&) = delete;
  LaunchConfigFile& operator=(const LaunchConfigFile&) = delete;
};

}  // namespace

void add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Train a GPT with any optimizer; writes a run directory");
  cmd->add_option("--config", args->config_file, "JSON config file (flags given override it)");
  cmd->add_option("--resume", args->resume,
                  "continue a run: its directory (latest checkpoint) or a checkpoint file");
  cmd->add_flag("--overwrite", args->overwrite, "replace an existing run in --out");
  cmd->add_option("--checkpoint-minutes", args->checkpoint_minutes,
                  "also write checkpoint.pt (what --resume continues from) when this many minutes "
                  "have passed since the last one, so a killed run loses at most that much; 0: "
                  "only every --checkpoint-every steps and at the end (default 10)")
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_flag("--print-config", args->print_config, "print the resolved config and exit");
  args->nproc_option = cmd->add_option(
      "--nproc", args->nproc,
      "start N local data-parallel ranks, 1-" + std::to_string(kMaxLocalRanks) +
          " (c10d Gloo on 127.0.0.1; 1: one process); --batch stays the global batch and must "
          "divide by N. Multi-machine: run one process per rank under torchrun's "
          "RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT instead");
  cmd->add_option("--opt", args->opt,
                  "optimizer hyperparameter KEY=VALUE, repeatable; `steepest optimizers` lists "
                  "each optimizer's (overrides the config's \"opt\" object key by key)")
      ->type_name("KEY=VALUE");
  const auto defaults = to_json(TrainConfig{});
  for (const auto& f : train_config_fields()) {
    if (f.type_name() == std::string("JSON")) continue;  // "opt": --opt above
    const std::string help = std::string(f.help) +
                             (f.range_text().empty() ? "" : " " + f.range_text()) + " (default " +
                             defaults.at(f.name).dump() + ")";
    if (f.is_bool()) {  // a switch: --key sets true, --key=false turns it off again
      args->options[f.name] = cmd->add_flag(f.flag() + "{true}", args->values[f.name], help);
      continue;
    }
    // Given twice (a script's default, then the user's), the last one counts.
    args->options[f.name] = cmd->add_option(f.flag(), args->values[f.name], help)
                                ->type_name(f.type_name())
                                ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  cmd->callback([args] {
    follow_launcher();  // a rank of --nproc dies with its launcher
    // defaults < checkpoint's config (resume) < --config file < flags given.
    nlohmann::json j = nlohmann::json::object();
    std::string checkpoint;
    if (!args->resume.empty() && args->options.at("init_from")->count() > 0)
      throw std::invalid_argument(
          "--init-from cannot be combined with --resume: a resumed run continues from its own "
          "checkpoint's weights. Drop --init-from, or start a new run (--out) with it");
    if (!args->resume.empty()) {
      checkpoint = resolve_checkpoint(args->resume);
      j = nlohmann::json::parse(to_json(read_checkpoint_config(checkpoint)).dump());
      j["out"] = std::filesystem::path(checkpoint).parent_path().string();
    }
    if (!args->config_file.empty()) {
      const nlohmann::json file = read_json_file(args->config_file);
      if (!file.is_object())
        throw std::invalid_argument("config file '" + args->config_file +
                                    "' must hold a JSON object");
      for (const auto& item : file.items()) j[item.key()] = item.value();
    }
    for (const auto& f : train_config_fields())
      if (args->options.count(f.name) && args->options.at(f.name)->count() > 0)
        j[f.name] = typed(f, args->values.at(f.name));
    if (!args->opt.empty()) {
      if (!j.contains("opt") || !j["opt"].is_object()) j["opt"] = nlohmann::json::object();
      for (const auto& text : args->opt) {
        const auto [key, value] = parse_opt(text);
        j["opt"][key] = value;
      }
    }
    const TrainConfig cfg = train_config_from_json(j);
    validate(cfg);
    if (args->print_config) {
      std::cout << to_json(cfg).dump(2) << std::endl;
      return;
    }
    if (args->nproc_option->count() > 0) {
      // Before anything starts: N ranks would each fail alone otherwise.
      check_nproc(args->nproc, cfg.batch);
      if (dist_env_from_environment().active())
        throw std::invalid_argument(
            "--nproc starts its own ranks; this process already is one (RANK/WORLD_SIZE are "
            "set). Use either --nproc or torchrun's variables");
      // Every rank gets the resolved config, so all of them run the same one.
      const LaunchConfigFile file(to_json(cfg).dump(2));
      std::vector<std::string> argv = {std::filesystem::read_symlink("/proc/self/exe").string(),
                                       "train", "--config", file.path};
      if (args->overwrite) argv.push_back("--overwrite");
      argv.insert(argv.end(), {"--checkpoint-minutes", std::to_string(args->checkpoint_minutes)});
      if (!checkpoint.empty()) argv.insert(argv.end(), {"--resume", checkpoint});
      const int rc = launch_local_ranks(args->nproc, argv, std::chrono::seconds(cfg.dist_timeout));
      if (rc > 128) {  // stopped by a signal: the ranks are gone; end the same way
        file.remove();
        std::signal(rc - 128, SIG_DFL);
        std::raise(rc - 128);
      }
      if (rc != 0)
        throw std::runtime_error("distributed run failed (see the rank's message above)");
      return;
    }
    TrainRunOptions ro;
    ro.overwrite = args->overwrite;
    ro.resume = checkpoint;
    ro.checkpoint_minutes = args->checkpoint_minutes;
    const auto summary = train(cfg, ro);
    if (dist_env_from_environment().rank != 0) return;  // rank 0 reports
    std::cout << "\nval loss by step:";
    for (const auto& [s, v] : summary.val_curve) std::cout << "  " << s << ": " << v;
    std::printf(
        "\nfinal val loss %.4f (best %.4f) after %lld steps, %.1f s, %.0f tokens/s, "
        "%.1f ms/step (optimizer %.1f ms)\nrun directory: %s\n",
        summary.final_val_loss, summary.best_val_loss, static_cast<long long>(summary.steps),
        summary.wall_seconds, summary.tokens_per_s, summary.ms_per_step,
        summary.optimizer_ms_per_step, cfg.out.c_str());
  });
}

}  // namespace steepest::app
