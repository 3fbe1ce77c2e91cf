// `steepest train`: flags generated from TrainConfig, --config files, resume.
#include <unistd.h>

#include <chrono>
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
  int nproc = 0;                              // > 0: start that many local ranks
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

std::string dashed(std::string key) {
  for (auto& c : key)
    if (c == '_') c = '-';
  return key;
}

// Converts a flag's text to the JSON type of the key's default value.
nlohmann::json typed(const std::string& key, const std::string& text,
                     const nlohmann::ordered_json& defaults) {
  const auto& d = defaults.at(key);
  if (d.is_boolean()) {
    if (text == "true" || text == "1" || text == "on") return true;
    if (text == "false" || text == "0" || text == "off") return false;
    throw std::invalid_argument("--" + dashed(key) +
                                " is a switch: give it alone, or =true / =false, "
                                "got '" +
                                text + "'");
  }
  try {
    if (d.is_number_integer()) {
      size_t used = 0;
      const long long v = std::stoll(text, &used);
      if (used != text.size()) throw std::invalid_argument(text);
      return v;
    }
    if (d.is_number_float()) {
      size_t used = 0;
      const double v = std::stod(text, &used);
      if (used != text.size()) throw std::invalid_argument(text);
      return v;
    }
  } catch (const std::exception&) {
    throw std::invalid_argument("--" + dashed(key) + " expects a " +
                                (d.is_number_integer() ? "whole number" : "number") + ", got '" +
                                text + "'");
  }
  return text;
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand("train", "Train a GPT with any optimizer; writes a run directory");
  cmd->add_option("--config", args->config_file, "JSON config file (flags given override it)");
  cmd->add_option("--resume", args->resume,
                  "continue a run: its directory (latest checkpoint) or a checkpoint file");
  cmd->add_flag("--overwrite", args->overwrite, "replace an existing run in --out");
  cmd->add_flag("--print-config", args->print_config, "print the resolved config and exit");
  cmd->add_option("--nproc", args->nproc,
                  "start N local data-parallel ranks (c10d Gloo on 127.0.0.1); --batch stays "
                  "the global batch. Multi-machine: run one process per rank under torchrun's "
                  "RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT instead");
  const auto defaults = to_json(TrainConfig{});
  cmd->add_option("--opt", args->opt,
                  "optimizer hyperparameter KEY=VALUE, repeatable; `steepest optimizers` lists "
                  "each optimizer's (overrides the config's \"opt\" object key by key)")
      ->type_name("KEY=VALUE");
  for (const auto& item : defaults.items()) {
    const std::string key = item.key();
    const auto& d = item.value();
    if (d.is_object()) continue;  // "opt": --opt above
    if (d.is_boolean()) {         // a switch: --key sets true, --key=false turns it off again
      args->options[key] =
          cmd->add_flag("--" + dashed(key) + "{true}", args->values[key],
                        std::string(train_config_help(key)) + " (default " + d.dump() + ")");
      continue;
    }
    args->options[key] =
        cmd->add_option("--" + dashed(key), args->values[key],
                        std::string(train_config_help(key)) + " (default " + d.dump() + ")")
            ->type_name(d.is_number_integer() ? "INT"
                        : d.is_number_float() ? "FLOAT"
                                              : "TEXT");
  }
  cmd->callback([args, defaults] {
    // defaults < checkpoint's config (resume) < --config file < flags given.
    nlohmann::json j = nlohmann::json::object();
    std::string checkpoint;
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
    for (const auto& [key, opt] : args->options)
      if (opt->count() > 0) j[key] = typed(key, args->values[key], defaults);
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
    if (args->nproc > 0) {
      if (dist_env_from_environment().active())
        throw std::invalid_argument(
            "--nproc starts its own ranks; this process already is one (RANK/WORLD_SIZE are "
            "set). Use either --nproc or torchrun's variables");
      // Every rank gets the resolved config, so all of them run the same one.
      const auto file = std::filesystem::temp_directory_path() /
                        ("steepest-launch-" + std::to_string(::getpid()) + ".json");
      {
        std::ofstream f(file);
        f << to_json(cfg).dump(2);
        if (!f) throw std::runtime_error("--nproc: cannot write '" + file.string() + "'");
      }
      std::vector<std::string> argv = {std::filesystem::read_symlink("/proc/self/exe").string(),
                                       "train", "--config", file.string()};
      if (args->overwrite) argv.push_back("--overwrite");
      if (!checkpoint.empty()) argv.insert(argv.end(), {"--resume", checkpoint});
      const int rc = launch_local_ranks(args->nproc, argv, std::chrono::seconds(cfg.dist_timeout));
      std::filesystem::remove(file);
      if (rc != 0)
        throw std::runtime_error("distributed run failed (see the rank's message above)");
      return;
    }
    TrainRunOptions ro;
    ro.overwrite = args->overwrite;
    ro.resume = checkpoint;
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
