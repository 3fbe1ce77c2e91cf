#include "steepest/train/lr_schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace steepest {

double lr_factor(const std::string& schedule, int64_t step, int64_t total, int64_t warmup,
                 double decay_fraction) {
  if (warmup > 0 && step <= warmup) return static_cast<double>(step) / warmup;
  if (schedule == "constant") return 1.0;
  if (schedule == "wsd") {
    const double decay_steps = decay_fraction * static_cast<double>(total);
    const double left = static_cast<double>(total - step);  // 0 at the last step
    return decay_steps <= 0 ? 1.0 : std::clamp(left / decay_steps, 0.0, 1.0);
  }
  if (schedule == "cosine") {
    const double span = static_cast<double>(std::max<int64_t>(1, total - warmup));
    const double progress = std::clamp((step - warmup) / span, 0.0, 1.0);
    return 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  throw std::invalid_argument("unknown LR schedule '" + schedule +
                              "'; known: constant, wsd, cosine");
}

}  // namespace steepest
