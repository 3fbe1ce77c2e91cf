// Internal: files written to a new <path>.tmp.XXXXXX, flushed to disk and renamed, so a
// reader, a resumed run or a kill -9 never sees a half-written config,
// summary, checkpoint or report, and a full disk leaves the previous file as
// it was. Every failure names the file and the system's reason.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <string_view>

#include "util/read_file.h"

namespace steepest::detail {

inline std::string write_failure(const std::string& path, int err) {
  std::string msg = "cannot write '" + path + "': " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT || err == EFBIG)
    msg += " (disk full? free space and rerun; the previous '" + path + "', if any, is unchanged)";
  return msg;
}

// Creates a new file "<path>.tmp.XXXXXX" (random suffix, O_EXCL: never an
// existing file, and never through a symlink planted under a predictable name
// to send our bytes outside the output directory). Returns its descriptor and
// sets `tmp`; throws naming `path`.
inline int create_temp_beside(const std::string& path, std::string& tmp) {
  std::string name = path + ".tmp.XXXXXX";
  const int fd = ::mkostemp(&name[0], O_CLOEXEC);
  if (fd < 0) throw std::runtime_error(write_failure(path, errno));
  ::fchmod(fd, 0644);  // mkostemp's 0600 would hide results from the user's other tools
  tmp = name;
  return fd;
}

// The file a killed write_file_atomically(path, …) left behind is named
// "<path>.tmp.XXXXXX": returns <path> for such a name, "" otherwise.
inline std::string temp_target(const std::string& name) {
  const size_t at = name.rfind(".tmp.");
  return at != std::string::npos && at > 0 && name.size() - at == 11 ? name.substr(0, at) : "";
}

// Writes the concatenation of `parts` to `path` atomically (new temp file +
// fsync + rename); a failure removes the temp file and keeps the old `path`.
inline void write_file_atomically(const std::string& path,
                                  std::initializer_list<std::string_view> parts) {
  std::string tmp;
  const int fd = create_temp_beside(path, tmp);
  int err = 0;
  for (const std::string_view bytes : parts) {
    const char* p = bytes.data();
    size_t left = bytes.size();
    while (left > 0 && err == 0) {
      const ssize_t n = ::write(fd, p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err = n < 0 ? errno : ENOSPC;
        break;
      }
      p += n;
      left -= static_cast<size_t>(n);
    }
  }
  // fsync before rename: otherwise a crash could leave the new name on an empty file.
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error(write_failure(path, err));
  }
}

inline void write_file_atomically(const std::string& path, const std::string& bytes) {
  write_file_atomically(path, {std::string_view(bytes)});
}

// Copies `from` (a regular file that fits in memory) to `to` through
// write_file_atomically.
inline void copy_file_atomically(const std::string& from, const std::string& to) {
  const uint64_t ram = physical_memory_bytes();
  write_file_atomically(
      to, read_regular_file(from, ram > 0 ? ram : UINT64_MAX, "file to copy to '" + to + "'"));
}

}  // namespace steepest::detail
