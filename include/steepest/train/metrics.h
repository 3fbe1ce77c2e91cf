// metrics.jsonl: one JSON object per logged step, the file report tools read.
// Keys: step, train_loss, val_loss (when evaluated), lr, tokens_per_s,
// ms_per_step, optimizer_ms (plus optimizer_gemms, optimizer_flops).
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace steepest {

class MetricsWriter {
 public:
  // Appends to path. keep_up_to_step ≥ 0 first drops lines with a larger step
  // (a run resumed into its own directory rewrites the steps it repeats).
  explicit MetricsWriter(const std::string& path, int64_t keep_up_to_step = -1);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;
  // Writes one line and flushes, so a killed run keeps every line written.
  void write(const nlohmann::ordered_json& line);

 private:
  std::FILE* f_ = nullptr;
  std::string path_;
};

// Every line of a metrics.jsonl file (throws naming the file and line on bad JSON).
std::vector<nlohmann::json> read_metrics(const std::string& path);

}  // namespace steepest
