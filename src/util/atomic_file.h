// Internal: files written to <path>.tmp, flushed to disk and renamed, so a
// reader, a resumed run or a kill -9 never sees a half-written config,
// summary, checkpoint or report, and a full disk leaves the previous file as
// it was. Every failure names the file and the system's reason.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>

namespace steepest::detail {

inline std::string write_failure(const std::string& path, int err) {
  std::string msg = "cannot write '" + path + "': " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT || err == EFBIG)
    msg += " (disk full? free space and rerun; the previous '" + path + "', if any, is unchanged)";
  return msg;
}

// Writes `bytes` to `path` atomically (tmp file + fsync + rename).
inline void write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error(write_failure(path, errno));
  const char* p = bytes.data();
  size_t left = bytes.size();
  int err = 0;
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
  // fsync before rename: otherwise a crash could leave the new name on an empty file.
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && std::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error(write_failure(path, err));
  }
}

// Copies `from` to `to` through write_file_atomically.
inline void copy_file_atomically(const std::string& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read '" + from + "' to copy it to '" + to + "'");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error("cannot read '" + from + "' to copy it to '" + to + "'");
  write_file_atomically(to, bytes);
}

}  // namespace steepest::detail
