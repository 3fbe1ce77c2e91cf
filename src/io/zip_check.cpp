#include "steepest/io/zip_check.h"

#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <stdexcept>

namespace steepest {
namespace {

constexpr uint32_t kEndOfDirectory = 0x06054b50, kZip64End = 0x06064b50, kZip64Locator = 0x07064b50,
                   kDirectoryEntry = 0x02014b50, kLocalHeader = 0x04034b50;

struct Reader {
  const std::string& bytes;
  const std::string& path;
  [[noreturn]] void fail(const std::string& why) const {
    throw std::runtime_error("checkpoint '" + path + "' is damaged (" + why +
                             "): it was cut short or corrupted; use an earlier checkpoint");
  }
  void need(uint64_t at, uint64_t n) const {
    if (at > bytes.size() || n > bytes.size() - at) fail("a record points past the end");
  }
  uint64_t le(uint64_t at, int n) const {
    need(at, static_cast<uint64_t>(n));
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(bytes[at + i]);
    return v;
  }
};

constexpr char kSealPrefix[] = "steepest-seal crc32=";
constexpr size_t kSealPrefixLen = sizeof(kSealPrefix) - 1, kSealLen = kSealPrefixLen + 8;

// Offset of the end-of-central-directory record: its 22 bytes and its comment
// must end the file exactly (nothing may follow, as nothing follows in what
// libtorch and we write).
uint64_t find_end_record(const Reader& r) {
  const std::string& bytes = r.bytes;
  if (bytes.size() < 22) r.fail("only " + std::to_string(bytes.size()) + " bytes");
  // The end record sits in the last 22 + 65535 (comment) bytes.
  uint64_t eocd = bytes.size() - 22;
  const uint64_t lowest = bytes.size() > 22 + 65535 ? bytes.size() - 22 - 65535 : 0;
  while (r.le(eocd, 4) != kEndOfDirectory) {
    if (eocd == lowest) r.fail("no zip end-of-directory record");
    --eocd;
  }
  if (eocd + 22 + r.le(eocd + 20, 2) != bytes.size())
    r.fail("the zip end record's comment does not end the file");
  return eocd;
}

uint32_t crc32_of(const std::string& bytes, uint64_t from, uint64_t size) {
  uLong sum = ::crc32(0L, Z_NULL, 0);
  for (uint64_t done = 0; done < size;) {  // zlib takes 32-bit lengths
    const uInt n = static_cast<uInt>(std::min<uint64_t>(size - done, 1u << 30));
    sum = ::crc32(sum, reinterpret_cast<const Bytef*>(bytes.data() + from + done), n);
    done += n;
  }
  return static_cast<uint32_t>(sum);
}

// CRC-32 of the `size` bytes that the raw deflate stream of `compressed` bytes
// at `from` inflates to.
uint32_t crc32_of_deflated(const Reader& r, uint64_t from, uint64_t compressed, uint64_t size,
                           const std::string& name) {
  // Deflate expands at most 1032:1; a larger claim is damage, not data.
  if (size > compressed * 1032 + 64 || compressed > (1u << 30))
    r.fail("member '" + name + "' claims an impossible size");
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) r.fail("zlib cannot start inflating");
  std::string out(static_cast<size_t>(size) + 1, '\0');  // + 1 catches overlong streams
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(r.bytes.data() + from));
  z.avail_in = static_cast<uInt>(compressed);
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int status = inflate(&z, Z_FINISH);
  const uint64_t produced = z.total_out;
  inflateEnd(&z);
  if (status != Z_STREAM_END || produced != size)
    r.fail("member '" + name + "' does not inflate to its size");
  return crc32_of(out, 0, size);
}

// The seal, when there is one, must match the CRC-32 of the bytes before it.
// Returns whether there is one.
bool check_seal(const Reader& r, uint64_t eocd, Seal required) {
  const std::string& bytes = r.bytes;
  const uint64_t comment = eocd + 22, comment_len = bytes.size() - comment;
  if (comment_len != kSealLen || bytes.compare(comment, kSealPrefixLen, kSealPrefix) != 0) {
    if (required == Seal::kOptional) return false;
    throw std::runtime_error(
        "checkpoint '" + r.path +
        "' carries no steepest seal (the CRC-32 of the whole file that steepest writes at its "
        "end): it was written by another program or by steepest before 2026-11-30, or its end "
        "is damaged. If you trust it, seal it with `steepest checkpoint seal " +
        r.path + "`");
  }
  uint32_t stored = 0;
  for (size_t i = comment + kSealPrefixLen; i < bytes.size(); ++i) {
    const char c = bytes[i];
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (digit < 0) r.fail("its seal is not a hexadecimal CRC-32");
    stored = (stored << 4) | static_cast<uint32_t>(digit);
  }
  // Compared through a volatile difference: a coverage-guided fuzzer copies
  // the operands of a plain == into its inputs and would forge seals, which
  // would hide from it the damage the seal is for.
  volatile uint32_t difference = stored ^ crc32_of(bytes, 0, comment);
  if (difference != 0) r.fail("the CRC-32 in its seal does not match the file");
  return true;
}

}  // namespace

void seal_zip_archive(std::string& zip, const std::string& path) {
  const Reader r{zip, path};
  const uint64_t eocd = find_end_record(r);
  if (eocd + 22 != zip.size())
    throw std::runtime_error("cannot seal '" + path +
                             "': its zip end record already has a comment (sealed already?)");
  zip[eocd + 20] = static_cast<char>(kSealLen & 0xff);
  zip[eocd + 21] = static_cast<char>(kSealLen >> 8);
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", static_cast<unsigned>(crc32_of(zip, 0, zip.size())));
  zip += kSealPrefix;
  zip += hex;
}

bool check_zip_archive(const std::string& bytes, const std::string& path, Seal seal) {
  const Reader r{bytes, path};
  const uint64_t eocd = find_end_record(r);
  const bool sealed = check_seal(r, eocd, seal);
  uint64_t entries = r.le(eocd + 10, 2), dir_size = r.le(eocd + 12, 4),
           dir_offset = r.le(eocd + 16, 4);
  if (entries == 0xffff || dir_size == 0xffffffff || dir_offset == 0xffffffff) {
    if (eocd < 20 || r.le(eocd - 20, 4) != kZip64Locator) r.fail("no zip64 locator");
    const uint64_t end64 = r.le(eocd - 20 + 8, 8);
    if (r.le(end64, 4) != kZip64End) r.fail("no zip64 end record");
    entries = r.le(end64 + 32, 8);
    dir_size = r.le(end64 + 40, 8);
    dir_offset = r.le(end64 + 48, 8);
  }
  r.need(dir_offset, dir_size);
  if (entries == 0) r.fail("no members");
  uint64_t at = dir_offset;
  for (uint64_t i = 0; i < entries; ++i) {
    if (r.le(at, 4) != kDirectoryEntry) r.fail("central directory entry " + std::to_string(i));
    const uint64_t method = r.le(at + 10, 2), crc = r.le(at + 16, 4);
    uint64_t compressed = r.le(at + 20, 4), size = r.le(at + 24, 4);
    const uint64_t name_len = r.le(at + 28, 2), extra_len = r.le(at + 30, 2),
                   comment_len = r.le(at + 32, 2);
    uint64_t local = r.le(at + 42, 4);
    // zip64: the sizes and offset that read 0xffffffff follow in extra field 0x0001.
    for (uint64_t e = at + 46 + name_len; e + 4 <= at + 46 + name_len + extra_len;) {
      const uint64_t id = r.le(e, 2), len = r.le(e + 2, 2);
      if (id == 1) {
        uint64_t f = e + 4;
        if (size == 0xffffffff) size = r.le(f, 8), f += 8;
        if (compressed == 0xffffffff) compressed = r.le(f, 8), f += 8;
        if (local == 0xffffffff) local = r.le(f, 8);
      }
      e += 4 + len;
    }
    const std::string name = bytes.substr(at + 46, std::min<uint64_t>(name_len, 200));
    if (r.le(local, 4) != kLocalHeader) r.fail("member '" + name + "' has no local header");
    const uint64_t data = local + 30 + r.le(local + 26, 2) + r.le(local + 28, 2);
    r.need(data, compressed);
    // libtorch stores tensors uncompressed (so that they can be mapped) and
    // deflates its small code members.
    uint32_t sum = 0;
    if (method == 0) {
      if (compressed != size) r.fail("member '" + name + "' has inconsistent sizes");
      sum = crc32_of(bytes, data, size);
    } else if (method == 8) {
      sum = crc32_of_deflated(r, data, compressed, size, name);
    } else {
      r.fail("member '" + name + "' uses compression method " + std::to_string(method));
    }
    if (sum != crc) r.fail("member '" + name + "' fails its CRC-32 check");
    at += 46 + name_len + extra_len + comment_len;
  }
  return sealed;
}

}  // namespace steepest
