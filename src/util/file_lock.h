// Internal: an exclusive flock on a file, held while the object lives. The
// kernel drops it however the process ends (kill -9 included), so a stale
// lock never blocks a rerun.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace steepest::detail {

class FileLock {
 public:
  // Throws `busy_message` when another open file holds the lock.
  FileLock(const std::string& path, const std::string& busy_message) {
    // O_NOFOLLOW: a symlink planted under the lock's name would create or
    // lock a file outside the directory.
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd_ < 0 && errno == ELOOP)
      throw std::runtime_error("'" + path +
                               "' is a symbolic link; steepest's lock file must be a plain file. "
                               "Remove the link and rerun");
    if (fd_ < 0) throw std::runtime_error("cannot create '" + path + "': " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw std::runtime_error(busy_message);
    }
  }
  ~FileLock() { ::close(fd_); }
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace steepest::detail
