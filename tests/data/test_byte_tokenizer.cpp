#include <gtest/gtest.h>

#include "steepest/data/byte_tokenizer.h"

namespace steepest {
namespace {

std::vector<int64_t> widen(const std::vector<uint16_t>& t) {
  return std::vector<int64_t>(t.begin(), t.end());
}

TEST(ByteTokenizer, OneTokenPerUtf8Byte) {
  // "é" is 0xC3 0xA9 in UTF-8: two tokens, both above 127.
  EXPECT_EQ(byte_encode("aé"), (std::vector<uint16_t>{'a', 0xC3, 0xA9}));
  EXPECT_TRUE(byte_encode("").empty());
}

TEST(ByteTokenizer, RoundTripsMultiByteUtf8Exactly) {
  // 1-, 2-, 3- and 4-byte UTF-8 sequences, an embedded NUL and a newline.
  const std::string text =
      std::string("In the beginning — «Ἐν ἀρχῇ» 太初有道 🙂\n") +
      std::string(1, '\0') + "end";
  const auto tokens = byte_encode(text);
  EXPECT_EQ(tokens.size(), text.size());
  for (const uint16_t t : tokens) EXPECT_LT(t, kByteVocabSize);
  EXPECT_EQ(byte_decode(widen(tokens)), text);
}

TEST(ByteTokenizer, RoundTripsEveryByte) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  const auto tokens = byte_encode(all);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(tokens[b], b);
  EXPECT_EQ(byte_decode(widen(tokens)), all);
}

TEST(ByteTokenizer, OutOfVocabDecodesAsReplacementCharacter) {
  EXPECT_EQ(byte_decode({'a', 256, 'b', 50256, -1}),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD\xEF\xBF\xBD");
}

}  // namespace
}  // namespace steepest
