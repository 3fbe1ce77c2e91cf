#include "steepest/train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>
#include <c10/util/Exception.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <utility>
#include <vector>

#include "steepest/io/zip_check.h"
#include "util/atomic_file.h"
#include "util/read_file.h"

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
  // A checkpoint is held in memory whole: one larger than the machine's memory is not ours.
  const uint64_t ram = detail::physical_memory_bytes();
  return detail::read_regular_file(path, ram > 0 ? ram : UINT64_MAX, "checkpoint");
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

// Reads the model's weights from `archive`. libtorch's Module::load replaces a
// weight of another shape without a word (a 10×32 embedding in a vocab-256
// model then fails later as "index out of range"), so every weight and buffer
// must keep the shape the checkpoint's own config gave the model.
void load_model_weights(torch::serialize::InputArchive& archive, torch::nn::Module& model,
                        const std::string& path) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> shapes;
  for (const auto& p : model.named_parameters())
    shapes.emplace_back(p.key(), p.value().sizes().vec());
  for (const auto& b : model.named_buffers()) shapes.emplace_back(b.key(), b.value().sizes().vec());
  torch::serialize::InputArchive model_archive;
  archive.read("model", model_archive);
  model.load(model_archive);
  std::map<std::string, at::Tensor> now;
  for (const auto& p : model.named_parameters()) now[p.key()] = p.value();
  for (const auto& b : model.named_buffers()) now[b.key()] = b.value();
  for (const auto& [name, shape] : shapes) {
    const at::Tensor& t = now.at(name);
    if (t.sizes().vec() != shape)
      throw std::runtime_error("checkpoint '" + path + "': weight '" + name + "' is " +
                               c10::str(t.sizes()) + " but the model its config describes has " +
                               c10::str(at::IntArrayRef(shape)) +
                               "; the file was altered or damaged (it cannot be used)");
  }
}

}  // namespace

TrainState load_checkpoint(const std::string& path, torch::nn::Module& model,
                           ModelOptimizer& optimizer) {
  auto archive = open_checkpoint(path);
  TrainState s;
  c10::IValue v;
  try {
    torch::serialize::InputArchive opt_archive;
    load_model_weights(archive, model, path);
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
    if (s.step < 0 || s.tokens < 0 || static_cast<int64_t>(s.data_position) < 0 ||
        std::isnan(s.best_val_loss) || !std::isfinite(s.wall_seconds) || s.wall_seconds < 0)
      throw std::runtime_error("checkpoint '" + path +
                               "' holds an impossible training state (step " +
                               std::to_string(s.step) + ", tokens " + std::to_string(s.tokens) +
                               "); the file was altered or damaged (it cannot be resumed)");
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
    load_model_weights(archive, model, path);
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
  TrainConfig config;
  try {
    config = train_config_from_json(nlohmann::json::parse(text));
  } catch (const std::exception& e) {
    throw std::runtime_error("checkpoint '" + path + "' holds an unusable training config (" +
                             e.what() + "); it is corrupt or from an incompatible version");
  }
  // Every reader builds the model it describes: a config altered to ask for
  // 17 GB must fail here, with our message, not in libtorch's allocator.
  try {
    validate(config);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error("checkpoint '" + path +
                             "' holds a config this machine cannot use: " + e.what());
  }
  return config;
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
