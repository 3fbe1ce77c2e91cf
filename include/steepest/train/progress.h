// Progress of a long run: one updating line on a terminal, plain lines otherwise.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace steepest {

class Progress {
 public:
  // tty < 0: detect from the stream; 0/1 force plain/updating.
  // out null: silent (the ranks other than 0 of a distributed run).
  explicit Progress(int64_t total_steps, std::FILE* out = stdout, int tty = -1);
  // step/total, loss, tokens/s, ETA from the mean of the steps so far.
  void update(int64_t step, double train_loss, double tokens_per_s, double seconds_per_step);
  // A line that must stay (eval results, messages): clears the updating line first.
  void print(const std::string& line);
  void finish();

 private:
  int64_t total_;
  std::FILE* out_;
  bool tty_;
  bool dirty_ = false;
};

// "1h02m", "4m05s", "12s".
std::string format_duration(double seconds);

}  // namespace steepest
