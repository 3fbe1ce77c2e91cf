#include "steepest/data/byte_tokenizer.h"

namespace steepest {

std::vector<uint16_t> byte_encode(const std::string& text) {
  std::vector<uint16_t> tokens(text.size());
  // Through unsigned char: plain char is signed here, and byte 0xE4 must be 228.
  for (size_t i = 0; i < text.size(); ++i) tokens[i] = static_cast<unsigned char>(text[i]);
  return tokens;
}

std::string byte_decode(const std::vector<int64_t>& tokens) {
  static const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD in UTF-8
  std::string text;
  text.reserve(tokens.size());
  for (const int64_t t : tokens) {
    if (t >= 0 && t < kByteVocabSize)
      text.push_back(static_cast<char>(static_cast<unsigned char>(t)));
    else
      text += kReplacement;
  }
  return text;
}

}  // namespace steepest
