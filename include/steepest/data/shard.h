// Token shards in the llm.c / modded-nanogpt format (karpathy/llm.c, dev/data/data_common.py):
// a 256 × int32 little-endian header — [0] magic 20240520, [1] version 1,
// [2] token count — followed by that many uint16 tokens.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

namespace steepest {

constexpr int32_t kShardMagic = 20240520;  // llm.c dev/data/data_common.py
constexpr int32_t kShardVersion = 1;       // 1 = uint16 tokens
constexpr int64_t kShardHeaderInts = 256;

// Reads one shard. Returns a 1-D int32 CPU tensor of its tokens.
// Throws std::runtime_error naming the file, what was expected and what was
// found, with a hint: missing file, a directory, short header, wrong magic,
// wrong version, a count of 2^31 or more, file size not equal to header +
// count·2 bytes (truncated or trailing bytes). The size is checked before
// anything is allocated. 0 tokens is a valid shard (TokenDataset refuses it).
at::Tensor read_shard(const std::string& path);

// Writes tokens as a version-1 shard, to `path`.tmp then renamed, so a
// crash never leaves a half-written shard under the final name.
void write_shard(const std::string& path, const std::vector<uint16_t>& tokens);

// Files matching a shell glob (e.g. "data/fineweb_train_*.bin"), sorted.
// Throws std::runtime_error naming the pattern when nothing matches.
std::vector<std::string> expand_glob(const std::string& pattern);

}  // namespace steepest
