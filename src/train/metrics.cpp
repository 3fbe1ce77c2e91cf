#include "steepest/train/metrics.h"

#include <fstream>
#include <iterator>
#include <stdexcept>

#include "util/atomic_file.h"

namespace steepest {

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read metrics file '" + path + "'");
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<nlohmann::json> out;
  size_t begin = 0;
  for (int n = 1; begin < text.size(); ++n) {
    const size_t end = text.find('\n', begin);
    const bool complete = end != std::string::npos;
    const std::string line = text.substr(begin, complete ? end - begin : std::string::npos);
    begin = complete ? end + 1 : text.size();
    if (line.empty()) continue;
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::parse_error& e) {
      // A last line without its newline is one a killed run was writing: skip it.
      if (!complete) break;
      throw std::runtime_error(path + ":" + std::to_string(n) + ": not a JSON line (" + e.what() +
                               "); the file was edited or damaged");
    }
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
  f_ = std::fopen(path.c_str(), "a");
  if (f_ == nullptr) throw std::runtime_error("cannot open '" + path + "' for writing metrics");
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
