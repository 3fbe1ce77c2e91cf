#include "steepest/data/prepare.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include "steepest/data/byte_tokenizer.h"
#include "steepest/data/shard.h"

namespace steepest {
namespace {

namespace fs = std::filesystem;

// `bible` prints the whole KJV, one verse per line ("Gen1:1 In the beginning …").
constexpr const char* kBibleProgram = "bible";
constexpr const char* kBibleCommand = "bible -f Gen1:1-Rev22:21";

// Each split needs at least one input token and its target.
constexpr int64_t kMinSplitTokens = 2;

std::string format_fraction(double f) {
  std::ostringstream ss;
  ss << f;
  return ss.str();
}

void check_val_fraction(const char* fn, double val_fraction) {
  // Written as !(a && b) so NaN is rejected too.
  if (!(val_fraction > 0.0 && val_fraction < 1.0))
    throw std::runtime_error(std::string(fn) + ": val_fraction must be in (0, 1), got " +
                             format_fraction(val_fraction) + "; e.g. 0.1 keeps 10% for validation");
}

// Byte-tokenizes `text` and writes the last val_fraction of it as val, the
// rest as train. `source` names where the text came from, for errors.
PreparedDataset write_splits(const char* fn, const std::string& text, const std::string& source,
                             const std::string& out_dir, double val_fraction) {
  const auto total = static_cast<int64_t>(text.size());
  const auto n_val = static_cast<int64_t>(std::llround(static_cast<double>(total) * val_fraction));
  const int64_t n_train = total - n_val;
  if (n_train < kMinSplitTokens || n_val < kMinSplitTokens)
    throw std::runtime_error(std::string(fn) + ": " + source + " has only " +
                             std::to_string(total) + " bytes; with val_fraction " +
                             format_fraction(val_fraction) + " that is " + std::to_string(n_train) +
                             " train and " + std::to_string(n_val) + " val tokens, need at least " +
                             std::to_string(kMinSplitTokens) + " in each; use more text");

  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec)
    throw std::runtime_error(std::string(fn) + ": cannot create output directory '" + out_dir +
                             "': " + ec.message());

  const std::vector<uint16_t> tokens = byte_encode(text);
  PreparedDataset result;
  result.train_path = (fs::path(out_dir) / "train_000000.bin").string();
  result.val_path = (fs::path(out_dir) / "val_000000.bin").string();
  result.train_tokens = n_train;
  result.val_tokens = n_val;
  // Val first: prepare_default_corpus reuses a directory only when both exist,
  // and a crash between the two writes then leaves just val, never a train
  // shard that silently holds the whole corpus.
  write_shard(result.val_path, std::vector<uint16_t>(tokens.begin() + n_train, tokens.end()));
  write_shard(result.train_path, std::vector<uint16_t>(tokens.begin(), tokens.begin() + n_train));
  return result;
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (dir.empty()) continue;
    const std::string candidate = (fs::path(dir) / program).string();
    if (::access(candidate.c_str(), X_OK) == 0 && fs::is_regular_file(candidate)) return true;
  }
  return false;
}

std::string run_bible() {
  const std::string fn = "prepare_default_corpus";
  if (!on_path(kBibleProgram))
    throw std::runtime_error(fn + ": the `" + std::string(kBibleProgram) +
                             "` program is not on PATH; install bible-kjv (make deps)");
  FILE* pipe = ::popen(kBibleCommand, "r");
  if (pipe == nullptr)
    throw std::runtime_error(fn + ": cannot run `" + std::string(kBibleCommand) + "`");
  std::string text;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) text.append(buf, n);
  const int status = ::pclose(pipe);
  if (status != 0)
    throw std::runtime_error(fn + ": `" + std::string(kBibleCommand) + "` failed (status " +
                             std::to_string(status) + "); reinstall bible-kjv (make deps)");
  if (text.empty())
    throw std::runtime_error(fn + ": `" + std::string(kBibleCommand) +
                             "` printed nothing; reinstall bible-kjv (make deps)");
  return text;
}

}  // namespace

PreparedDataset prepare_text_dataset(const std::vector<std::string>& text_files,
                                     const std::string& out_dir, double val_fraction, bool force) {
  check_val_fraction("prepare_text_dataset", val_fraction);
  if (text_files.empty())
    throw std::runtime_error("prepare_text_dataset: no input text files given");
  for (const char* name : {"train_000000.bin", "val_000000.bin"}) {
    const fs::path shard = fs::path(out_dir) / name;
    std::error_code ec;
    if (!fs::exists(shard, ec)) continue;
    for (const std::string& file : text_files)
      if (fs::equivalent(file, shard, ec))
        throw std::runtime_error("prepare_text_dataset: input '" + file +
                                 "' is also the output shard '" + shard.string() +
                                 "'; choose another --out");
    if (!force)
      throw std::runtime_error("prepare_text_dataset: '" + shard.string() +
                               "' already exists; pass --force to replace the shards in '" +
                               out_dir + "', or choose another --out");
  }
  std::string text;
  for (const std::string& file : text_files) {
    std::error_code ec;
    if (fs::is_directory(file, ec))
      throw std::runtime_error("prepare_text_dataset: '" + file +
                               "' is a directory; pass the text files inside it");
    std::ifstream in(file, std::ios::binary);
    if (!in)
      throw std::runtime_error("prepare_text_dataset: cannot read text file '" + file +
                               "' (does it exist? is it readable?)");
    text.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    if (in.bad()) throw std::runtime_error("prepare_text_dataset: read error in '" + file + "'");
  }
  const std::string source = text_files.size() == 1
                                 ? "'" + text_files[0] + "'"
                                 : "the " + std::to_string(text_files.size()) + " input files";
  return write_splits("prepare_text_dataset", text, source, out_dir, val_fraction);
}

PreparedDataset prepare_default_corpus(const std::string& out_dir, double val_fraction,
                                       bool force) {
  check_val_fraction("prepare_default_corpus", val_fraction);
  PreparedDataset existing;
  existing.train_path = (fs::path(out_dir) / "train_000000.bin").string();
  existing.val_path = (fs::path(out_dir) / "val_000000.bin").string();
  std::error_code ec;
  if (!force && fs::exists(existing.train_path, ec) && fs::exists(existing.val_path, ec)) {
    // Reuse whatever split is on disk (val_fraction is not re-checked); the
    // full read also validates the shards.
    try {
      existing.train_tokens = read_shard(existing.train_path).numel();
      existing.val_tokens = read_shard(existing.val_path).numel();
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(std::string(e.what()) + "; delete '" + out_dir +
                               "' (or prepare with force) to rebuild it");
    }
    return existing;
  }
  return write_splits("prepare_default_corpus", run_bible(),
                      "the output of `" + std::string(kBibleCommand) + "`", out_dir, val_fraction);
}

}  // namespace steepest
