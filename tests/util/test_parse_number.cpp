// Numbers in names, flags and run ids parse the same under every locale
// (issue #25: std::stod under a German LC_NUMERIC refused `schatten-2.5`).
#include <gtest/gtest.h>

#include <clocale>
#include <string>

#include "steepest/norms/norm.h"
#include "util/parse_number.h"

namespace steepest {
namespace {

TEST(ParseNumber, WholeTextOrNothing) {
  EXPECT_EQ(detail::parse_double("2.5"), 2.5);
  EXPECT_EQ(detail::parse_double("+1e-3"), 1e-3);
  EXPECT_EQ(detail::parse_double("-0.125"), -0.125);
  EXPECT_FALSE(detail::parse_double("2,5"));
  EXPECT_FALSE(detail::parse_double("2.5x"));
  EXPECT_FALSE(detail::parse_double(""));
  EXPECT_FALSE(detail::parse_double("+"));
  EXPECT_FALSE(detail::parse_double(" 2"));
  EXPECT_FALSE(detail::parse_double("1e999"));  // out of range
}

// Under a locale whose decimal point is ',' (where one is installed).
TEST(ParseNumber, ANormParameterParsesUnderACommaLocale) {
  const std::string before = std::setlocale(LC_NUMERIC, nullptr);
  const char* set = nullptr;
  for (const char* name : {"de_DE.UTF-8", "de_DE.utf8", "fr_FR.UTF-8", "de_DE"})
    if ((set = std::setlocale(LC_NUMERIC, name)) != nullptr) break;
  if (set == nullptr) GTEST_SKIP() << "no locale with a decimal comma is installed";
  EXPECT_EQ(detail::parse_double("2.5"), 2.5);
  EXPECT_NO_THROW(make_norm("schatten-2.5"));
  std::setlocale(LC_NUMERIC, before.c_str());
}

}  // namespace
}  // namespace steepest
