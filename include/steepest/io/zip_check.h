// Integrity check of a zip archive in memory (the container of libtorch's
// checkpoints). libtorch 1.13's reader trusts lengths and never checks the
// members' CRC-32: a damaged file can make it allocate gigabytes or crash
// (tests/fuzz/corpus/known-libtorch/). Checking first turns every such file
// into our error.
#pragma once

#include <string>

namespace steepest {

// Walks the end-of-central-directory record (zip64 too), every central
// directory entry and its local header, checks that each member lies inside
// the file, and that each stored (uncompressed) member's CRC-32 matches.
// Throws std::runtime_error naming `path` and the first problem.
void check_zip_archive(const std::string& bytes, const std::string& path);

}  // namespace steepest
