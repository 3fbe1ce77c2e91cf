// A sealed checkpoint's bytes with the seal taken off (the zip end record's
// comment dropped and its length zeroed): what steepest wrote before
// 2026-11-30, for the tests of the seal and of the CLI's refusals.
#pragma once

#include <string>

namespace steepest::testing {

inline std::string without_seal(std::string sealed) {
  const size_t eocd = sealed.rfind(std::string("PK\x05\x06", 4));
  if (eocd == std::string::npos || eocd + 22 > sealed.size()) return sealed;
  sealed.resize(eocd + 22);
  sealed[eocd + 20] = sealed[eocd + 21] = '\0';
  return sealed;
}

}  // namespace steepest::testing
