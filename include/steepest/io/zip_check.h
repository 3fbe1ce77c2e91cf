// Integrity of steepest's checkpoint files: zip archives written by libtorch,
// sealed by us with a CRC-32 of the whole file. libtorch 1.13's reader trusts
// lengths, never checks a member's CRC-32 and crashes on some damaged files
// (tests/fuzz/README.md). Checking first turns every damaged file into our
// error. The seal guards against damage (a cut, a flipped bit, a bad copy),
// not against forgery: like torch.load, never load a checkpoint you do not trust.
#pragma once

#include <string>

namespace steepest {

// Seals `zip`, an archive that ends with an end-of-central-directory record
// without a comment (as libtorch writes them): the comment becomes
// "steepest-seal crc32=XXXXXXXX", the CRC-32 of every byte before it. Throws
// std::runtime_error naming `path` if `zip` does not end that way.
void seal_zip_archive(std::string& zip, const std::string& path);

// Whether check_zip_archive refuses an archive without a seal.
enum class Seal { kRequired, kOptional };

// Checks the seal (when one is present, or `seal` is kRequired), then walks
// the end record (zip64 too), every central directory entry and its local
// header: each member must lie inside the file, be stored uncompressed, and
// match its CRC-32. Throws std::runtime_error naming `path` and the first
// problem; an unsealed file's message says how to seal one that is trusted.
// Returns whether the archive carries a (matching) seal.
bool check_zip_archive(const std::string& bytes, const std::string& path,
                       Seal seal = Seal::kRequired);

}  // namespace steepest
