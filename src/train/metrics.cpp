#include "steepest/train/metrics.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "io/json_fields.h"
#include "util/atomic_file.h"
#include "util/read_file.h"

namespace steepest {

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  const std::string text =
      detail::read_regular_file(path, detail::kMaxJsonFileBytes * 4, "metrics file");
  std::vector<nlohmann::json> out;
  // A last line without its newline is one a killed run was writing: skipped.
  try {
    detail::for_each_json_line(
        text, path, "the file was edited or damaged",
        [&](int, const nlohmann::json& v, const std::string&) { out.push_back(v); });
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(e.what());
  }
  return out;
}

MetricsWriter::MetricsWriter(const std::string& path, int64_t keep_up_to_step) : path_(path) {
  if (keep_up_to_step >= 0) {
    // Resuming in place: keep the lines up to the checkpoint's step, atomically.
    std::string keep;
    std::ifstream probe(path);
    if (probe.good()) {
      for (auto& j : read_metrics(path))
        if (j.is_object() && j.contains("step") && j["step"].is_number_integer() &&
            j["step"].get<int64_t>() <= keep_up_to_step)
          keep += j.dump() + "\n";
    }
    detail::write_file_atomically(path, keep);
  }
  // O_NOFOLLOW: a symlink planted under the file's name would append our lines
  // to a file outside the run directory.
  const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::runtime_error("cannot open '" + path +
                             "' for writing metrics: " + std::strerror(errno) +
                             (errno == ELOOP ? " (it is a symbolic link; remove it)" : ""));
  f_ = ::fdopen(fd, "a");
  if (f_ == nullptr) {
    ::close(fd);
    throw std::runtime_error("cannot open '" + path + "' for writing metrics");
  }
}

MetricsWriter::~MetricsWriter() {
  if (f_ != nullptr) std::fclose(f_);
}

void MetricsWriter::write(const nlohmann::ordered_json& line) {
  const std::string s = line.dump() + "\n";
  if (std::fwrite(s.data(), 1, s.size(), f_) != s.size() || std::fflush(f_) != 0)
    throw std::runtime_error("failed writing metrics to '" + path_ + "' (disk full?)");
}

}  // namespace steepest
