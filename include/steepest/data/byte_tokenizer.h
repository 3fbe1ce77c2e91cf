// Byte-level tokenizer: each UTF-8 byte is one token (vocab 256). Any text
// round-trips exactly; no merges, no unknown tokens.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace steepest {

constexpr int64_t kByteVocabSize = 256;

std::vector<uint16_t> byte_encode(const std::string& text);

// Tokens ≥ 256 (from a model with a larger vocab) are written as U+FFFD.
std::string byte_decode(const std::vector<int64_t>& tokens);

}  // namespace steepest
