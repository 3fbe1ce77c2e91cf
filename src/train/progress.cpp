#include "steepest/train/progress.h"

#include <unistd.h>

#include <cmath>

namespace steepest {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof(buf), "%lldh%02lldm", static_cast<long long>(s / 3600),
                  static_cast<long long>((s % 3600) / 60));
  else if (s >= 60)
    std::snprintf(buf, sizeof(buf), "%lldm%02llds", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof(buf), "%llds", static_cast<long long>(s));
  return buf;
}

Progress::Progress(int64_t total_steps, std::FILE* out, int tty)
    : total_(total_steps),
      out_(out),
      tty_(out != nullptr && (tty < 0 ? isatty(fileno(out)) != 0 : tty != 0)) {}

void Progress::update(int64_t step, double train_loss, double tokens_per_s,
                      double seconds_per_step) {
  if (out_ == nullptr) return;
  char line[200];
  std::snprintf(line, sizeof(line),
                "step %lld/%lld | loss %.4f | %.0f tok/s | %.1f ms/step | ETA %s",
                static_cast<long long>(step), static_cast<long long>(total_), train_loss,
                tokens_per_s, seconds_per_step * 1e3,
                format_duration(seconds_per_step * static_cast<double>(total_ - step)).c_str());
  if (tty_) {
    std::fprintf(out_, "\r\033[K%s", line);
    dirty_ = true;
  } else {
    std::fprintf(out_, "%s\n", line);
  }
  std::fflush(out_);
}

void Progress::print(const std::string& line) {
  if (out_ == nullptr) return;
  if (tty_ && dirty_) std::fprintf(out_, "\r\033[K");
  std::fprintf(out_, "%s\n", line.c_str());
  dirty_ = false;
  std::fflush(out_);
}

void Progress::finish() {
  if (out_ == nullptr) return;
  if (tty_ && dirty_) std::fprintf(out_, "\n");
  dirty_ = false;
  std::fflush(out_);
}

}  // namespace steepest
