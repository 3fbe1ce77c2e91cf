#include "steepest/train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include "steepest/io/zip_check.h"
#include "util/atomic_file.h"

namespace steepest {
namespace fs = std::filesystem;

void save_checkpoint(const std::string& path, const torch::nn::Module& model,
                     const ModelOptimizer& optimizer, const TrainConfig& config,
                     const TrainState& state, bool write_file) {
  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive(archive.compilation_unit());
  model.save(model_archive);
  archive.write("model", model_archive);
  torch::serialize::OutputArchive opt_archive(archive.compilation_unit());
  optimizer.save(opt_archive);
  archive.write("optimizer", opt_archive);
  archive.write("config", c10::IValue(to_json(config).dump()));
  archive.write("step", c10::IValue(state.step));
  archive.write("data_position", c10::IValue(static_cast<int64_t>(state.data_position)));
  archive.write("best_val_loss", c10::IValue(state.best_val_loss));
  archive.write("wall_seconds", c10::IValue(state.wall_seconds));
  archive.write("tokens", c10::IValue(state.tokens));
  archive.write("rng_state", at::detail::getDefaultCPUGenerator().get_state(), /*is_buffer=*/true);
  if (!write_file) return;
  // Serialized in memory, then written by us: libtorch's file writer aborts
  // the process when the disk fills; ours leaves the previous file intact.
  std::ostringstream bytes;
  try {
    archive.save_to(bytes);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot serialize checkpoint '" + path + "': " + e.what());
  }
  std::string sealed = bytes.str();
  seal_zip_archive(sealed, path);
  detail::write_file_atomically(path, sealed);
}

namespace {
std::string read_checkpoint_bytes(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec))
    throw std::runtime_error("checkpoint '" + path + "' is a directory; give a .pt file");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read checkpoint '" + path + "' (missing or unreadable)");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error("cannot read checkpoint '" + path + "' (read error)");
  return bytes;
}

torch::serialize::InputArchive open_checkpoint(const std::string& path) {
  std::string bytes = read_checkpoint_bytes(path);
  check_zip_archive(bytes, path);  // before libtorch, which trusts what it reads
  torch::serialize::InputArchive archive;
  try {
    std::istringstream stream(std::move(bytes));
    archive.load_from(stream);
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot read checkpoint '" + path +
                             "' (corrupt, or not a checkpoint of steepest)");
  }
  return archive;
}
}  // namespace

TrainState load_checkpoint(const std::string& path, torch::nn::Module& model,
                           ModelOptimizer& optimizer) {
  auto archive = open_checkpoint(path);
  TrainState s;
  c10::IValue v;
  try {
    torch::serialize::InputArchive model_archive, opt_archive;
    archive.read("model", model_archive);
    model.load(model_archive);
    archive.read("optimizer", opt_archive);
    optimizer.load(opt_archive);
    archive.read("step", v);
    s.step = v.toInt();
    archive.read("data_position", v);
    s.data_position = static_cast<uint64_t>(v.toInt());
    archive.read("best_val_loss", v);
    s.best_val_loss = v.toDouble();
    archive.read("wall_seconds", v);
    s.wall_seconds = v.toDouble();
    archive.read("tokens", v);
    s.tokens = v.toInt();
    at::Tensor rng;
    archive.read("rng_state", rng, /*is_buffer=*/true);
    at::Generator gen = at::detail::getDefaultCPUGenerator();
    gen.set_state(rng);
  } catch (const c10::Error& e) {
    throw std::runtime_error("checkpoint '" + path +
                             "' does not fit this run: " + e.what_without_backtrace());
  }
  return s;
}

void load_checkpoint_weights(const std::string& path, torch::nn::Module& model) {
  auto archive = open_checkpoint(path);
  try {
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    model.load(model_archive);
  } catch (const c10::Error& e) {
    throw std::runtime_error("checkpoint '" + path +
                             "' does not fit this model: " + e.what_without_backtrace());
  }
}

TrainConfig read_checkpoint_config(const std::string& path) {
  auto archive = open_checkpoint(path);
  c10::IValue v;
  std::string text;
  try {
    archive.read("config", v);
    text = v.toStringRef();
  } catch (const c10::Error&) {
    throw std::runtime_error("checkpoint '" + path +
                             "' holds no training config: not a checkpoint of `steepest train`");
  }
  try {
    return train_config_from_json(nlohmann::json::parse(text));
  } catch (const std::exception& e) {
    throw std::runtime_error("checkpoint '" + path + "' holds an unusable training config (" +
                             e.what() + "); it is corrupt or from an incompatible version");
  }
}

bool seal_checkpoint_file(const std::string& path) {
  std::string bytes = read_checkpoint_bytes(path);
  if (check_zip_archive(bytes, path, Seal::kOptional)) return false;  // sealed, and it matches
  seal_zip_archive(bytes, path);
  detail::write_file_atomically(path, bytes);
  return true;
}

std::string resolve_checkpoint(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const auto p = fs::path(path) / "checkpoint.pt";
    if (!fs::exists(p, ec))
      throw std::runtime_error("run directory '" + path + "' has no checkpoint.pt to resume from");
    return p.string();
  }
  if (!fs::exists(path, ec)) throw std::runtime_error("no checkpoint at '" + path + "'");
  return path;
}

}  // namespace steepest
