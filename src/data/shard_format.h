// Internal: checks shared by the shard reader and writer (exposed for tests).
#pragma once

#include <cstdint>
#include <string>

namespace steepest::detail {

// The header stores the token count as an int32, so a shard holds at most
// INT32_MAX tokens; larger token streams must be split over several shards.
void check_shard_token_count(const std::string& path, uint64_t count);

}  // namespace steepest::detail
