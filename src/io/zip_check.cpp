#include "steepest/io/zip_check.h"

#include <zlib.h>

#include <cstdint>
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

}  // namespace

void check_zip_archive(const std::string& bytes, const std::string& path) {
  const Reader r{bytes, path};
  if (bytes.size() < 22) r.fail("only " + std::to_string(bytes.size()) + " bytes");
  // The end record sits in the last 22 + 65535 (comment) bytes.
  uint64_t eocd = bytes.size() - 22;
  const uint64_t lowest = bytes.size() > 22 + 65535 ? bytes.size() - 22 - 65535 : 0;
  while (r.le(eocd, 4) != kEndOfDirectory) {
    if (eocd == lowest) r.fail("no zip end-of-directory record");
    --eocd;
  }
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
    if (method == 0) {
      if (compressed != size) r.fail("member '" + name + "' has inconsistent sizes");
      uLong sum = ::crc32(0L, Z_NULL, 0);
      for (uint64_t done = 0; done < size;) {  // zlib takes 32-bit lengths
        const uInt n = static_cast<uInt>(std::min<uint64_t>(size - done, 1u << 30));
        sum = ::crc32(sum, reinterpret_cast<const Bytef*>(bytes.data() + data + done), n);
        done += n;
      }
      if (sum != crc) r.fail("member '" + name + "' fails its CRC-32 check");
    }
    at += 46 + name_len + extra_len + comment_len;
  }
}

}  // namespace steepest
