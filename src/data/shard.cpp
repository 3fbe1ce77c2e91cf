#include "steepest/data/shard.h"

#include <glob.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <stdexcept>

#include "data/shard_format.h"
#include "util/atomic_file.h"

namespace steepest {
namespace {

constexpr int64_t kHeaderBytes = kShardHeaderInts * 4;  // 1024

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error("token shard '" + path + "': " + what);
}

// The format is little-endian on disk; decode byte by byte so the reader is
// also correct on a big-endian host.
int32_t load_le32(const unsigned char* b) {
  return static_cast<int32_t>(static_cast<uint32_t>(b[0]) | (static_cast<uint32_t>(b[1]) << 8) |
                              (static_cast<uint32_t>(b[2]) << 16) |
                              (static_cast<uint32_t>(b[3]) << 24));
}

void store_le32(unsigned char* b, int32_t v) {
  const auto u = static_cast<uint32_t>(v);
  for (int i = 0; i < 4; ++i) b[i] = static_cast<unsigned char>(u >> (8 * i));
}

}  // namespace

namespace detail {

void check_shard_token_count(const std::string& path, uint64_t count) {
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int32_t>::max());
  if (count > kMax)
    fail(path, std::to_string(count) +
                   " tokens do not fit the int32 count in the header (at most " +
                   std::to_string(kMax) + "); split the tokens over several shards");
}

}  // namespace detail

at::Tensor read_shard(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) fail(path, "no such file (check the path or prepare the data first)");
  if (fs::is_directory(st))
    fail(path, "is a directory, not a token shard; pass a shard file or a glob such as '" +
                   (fs::path(path) / "train_*.bin").string() + "'");
  if (!fs::is_regular_file(st)) fail(path, "not a regular file, so not a token shard");
  const uintmax_t size = fs::file_size(path, ec);
  if (ec) fail(path, "cannot determine the file size: " + ec.message());
  const auto file_bytes = static_cast<int64_t>(size);
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open for reading (check permissions)");
  if (file_bytes < kHeaderBytes)
    fail(path, "file is " + std::to_string(file_bytes) + " bytes, shorter than the " +
                   std::to_string(kHeaderBytes) + "-byte header; not a token shard");

  unsigned char header[kHeaderBytes];
  if (!in.read(reinterpret_cast<char*>(header), kHeaderBytes)) fail(path, "cannot read the header");
  const int32_t magic = load_le32(header), version = load_le32(header + 4);
  const int64_t count = load_le32(header + 8);
  if (magic != kShardMagic)
    fail(path, "bad magic number: expected " + std::to_string(kShardMagic) + ", found " +
                   std::to_string(magic) + "; not an llm.c / modded-nanogpt token shard");
  if (version != kShardVersion)
    fail(path, "unsupported version: expected " + std::to_string(kShardVersion) +
                   " (uint16 tokens), found " + std::to_string(version));
  if (count < 0)
    fail(path, "header has a negative token count " + std::to_string(count) + " (" +
                   std::to_string(static_cast<uint32_t>(count)) +
                   " as unsigned, above the format's int32 limit); the header is damaged");
  // count <= INT32_MAX, so this cannot overflow; it is checked against the
  // file before anything is allocated.
  const int64_t expected_bytes = kHeaderBytes + 2 * count;
  if (file_bytes != expected_bytes)
    fail(path,
         std::string(file_bytes < expected_bytes ? "truncated" : "trailing bytes") +
             ": header says " + std::to_string(count) + " tokens, so expected " +
             std::to_string(expected_bytes) + " bytes, found " + std::to_string(file_bytes) +
             " bytes" +
             (file_bytes < expected_bytes ? "; the file is incomplete, prepare the data again"
                                          : "; the header's token count does not match the data"));

  // Read the uint16 payload into the front of the int32 result, then widen in
  // place from the back: out[i] (bytes 4i..4i+3) never overwrites a token j < i
  // that is still unread (bytes 2j..2j+1), so no second buffer is needed.
  at::Tensor tokens = at::empty({count}, at::TensorOptions().dtype(at::kInt));
  auto* bytes = reinterpret_cast<unsigned char*>(tokens.data_ptr<int32_t>());
  if (!in.read(reinterpret_cast<char*>(bytes), static_cast<std::streamsize>(2 * count)))
    fail(path, "read failed after " + std::to_string(kHeaderBytes + in.gcount()) + " of " +
                   std::to_string(expected_bytes) + " bytes");
  int32_t* out = tokens.data_ptr<int32_t>();
  for (int64_t i = count - 1; i >= 0; --i) {
    const int32_t v = bytes[2 * i] | (bytes[2 * i + 1] << 8);
    out[i] = v;
  }
  return tokens;
}

void write_shard(const std::string& path, const std::vector<uint16_t>& tokens) {
  detail::check_shard_token_count(path, tokens.size());
  unsigned char header[kHeaderBytes] = {};
  store_le32(header, kShardMagic);
  store_le32(header + 4, kShardVersion);
  store_le32(header + 8, static_cast<int32_t>(tokens.size()));
  std::vector<unsigned char> payload(2 * tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    payload[2 * i] = static_cast<unsigned char>(tokens[i] & 0xff);
    payload[2 * i + 1] = static_cast<unsigned char>(tokens[i] >> 8);
  }
  try {
    detail::write_file_atomically(
        path, {std::string_view(reinterpret_cast<const char*>(header), kHeaderBytes),
               std::string_view(reinterpret_cast<const char*>(payload.data()), payload.size())});
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string("write_shard: ") + e.what() +
                             " (does the directory exist?)");
  }
}

std::vector<std::string> expand_glob(const std::string& pattern) {
  glob_t g{};
  const int rc = ::glob(pattern.c_str(), 0, nullptr, &g);
  std::vector<std::string> files;
  if (rc == 0)
    for (size_t i = 0; i < g.gl_pathc; ++i) files.emplace_back(g.gl_pathv[i]);
  ::globfree(&g);
  if (rc == GLOB_NOSPACE)
    throw std::runtime_error("expand_glob: out of memory for '" + pattern + "'");
  if (rc == GLOB_ABORTED)
    throw std::runtime_error("expand_glob: read error while matching '" + pattern +
                             "' (check directory permissions)");
  if (files.empty()) {
    std::error_code ec;
    throw std::runtime_error("no files match '" + pattern + "' (relative to '" +
                             std::filesystem::current_path(ec).string() +
                             "'); check the path, or prepare the data first");
  }
  // glob() sorts with the locale's collation; a byte-wise sort makes the shard
  // order (and so the token stream) the same everywhere.
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace steepest
