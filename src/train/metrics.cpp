#include "steepest/train/metrics.h"

#include <fstream>
#include <stdexcept>

namespace steepest {

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read metrics file '" + path + "'");
  std::vector<nlohmann::json> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.empty()) continue;
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::parse_error& e) {
      throw std::runtime_error(path + ":" + std::to_string(n) + ": not JSON: " + e.what());
    }
  }
  return out;
}

MetricsWriter::MetricsWriter(const std::string& path, int64_t keep_up_to_step) : path_(path) {
  if (keep_up_to_step >= 0) {
    std::vector<nlohmann::json> keep;
    std::ifstream probe(path);
    if (probe.good()) {
      for (auto& j : read_metrics(path))
        if (j.value("step", int64_t{0}) <= keep_up_to_step) keep.push_back(std::move(j));
    }
    std::ofstream rewrite(path, std::ios::trunc);
    for (const auto& j : keep) rewrite << j.dump() << "\n";
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
