// Internal: every file steepest reads whole (checkpoints, configs, JSON
// results, metrics) goes through read_regular_file(): a FIFO would block the
// reader forever and /dev/zero would fill memory, so only a regular file of
// bounded size is read, checked on the opened descriptor (no race between
// the check and the read).
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace steepest::detail {

// Bytes of physical memory (0 when unknown): the bound for a file that must
// be held in memory whole, such as a checkpoint.
inline uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  return pages > 0 && page > 0 ? static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) : 0;
}

// The whole of `path`, which must be a regular file of at most `max_bytes`.
// `what` names the file's role in messages ("checkpoint", "config file").
// Throws std::runtime_error naming the file, what it is instead, and a hint.
inline std::string read_regular_file(const std::string& path, uint64_t max_bytes,
                                     const std::string& what) {
  const std::string name = what + " '" + path + "'";
  // O_NONBLOCK: opening a FIFO without a writer returns at once instead of waiting.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw std::runtime_error("cannot read " + name + ": " + std::strerror(err) +
                             (err == ENOENT ? " (check the path)" : ""));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    throw std::runtime_error("cannot read " + name + ": " + std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error(name +
                             (S_ISDIR(st.st_mode)    ? " is a directory"
                              : S_ISFIFO(st.st_mode) ? " is a FIFO (named pipe)"
                              : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)
                                  ? " is a device"
                                  : " is not a regular file") +
                             "; give a regular file (copy a stream to a file first)");
  }
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes) {
    ::close(fd);
    throw std::runtime_error(name + " is " + std::to_string(size) + " bytes, more than the " +
                             std::to_string(max_bytes) + " a " + what +
                             " may have here; is it the right file?");
  }
  std::string bytes(size, '\0');
  size_t done = 0;
  int err = 0;
  while (done < size) {
    const ssize_t n = ::read(fd, &bytes[done], size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) err = errno;
    if (n <= 0) break;  // at 0 the file shrank while we read: what is there is what we return
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  if (err != 0) throw std::runtime_error("cannot read " + name + ": " + std::strerror(err));
  bytes.resize(done);
  return bytes;
}

// Bounds for read_regular_file(): JSON and text files we write are small; a
// checkpoint must fit in memory.
constexpr uint64_t kMaxJsonFileBytes = uint64_t{256} << 20;

}  // namespace steepest::detail
