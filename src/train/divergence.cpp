#include "steepest/train/divergence.h"

#include <cmath>
#include <cstdio>
#include <stdexcept>

namespace steepest {

DivergenceMonitor::DivergenceMonitor(int64_t vocab_size)
    : vocab_size_(vocab_size), chance_(std::log(static_cast<double>(vocab_size))) {
  if (vocab_size < 2)
    throw std::invalid_argument("DivergenceMonitor: vocab_size must be >= 2, got " +
                                std::to_string(vocab_size));
}

std::optional<std::string> DivergenceMonitor::observe(double loss) {
  if (!std::isfinite(loss)) return "the training loss is " + std::to_string(loss);
  smoothed_ = smoothed_ < 0 ? loss : 0.9 * smoothed_ + 0.1 * loss;
  best_ = best_ < 0 ? smoothed_ : std::min(best_, smoothed_);
  if (best_ < 0.9 * chance_ && smoothed_ >= 0.99 * chance_) {
    char what[200];
    std::snprintf(what, sizeof(what),
                  "the training loss (smoothed) is %.4f, back at chance level ln(%lld) = %.4f "
                  "after it had reached %.4f",
                  smoothed_, static_cast<long long>(vocab_size_), chance_, best_);
    return std::string(what);
  }
  return std::nullopt;
}

std::optional<std::string> DivergenceMonitor::observe_val(double val_loss, int64_t step,
                                                          int64_t total_steps) const {
  if (!std::isfinite(val_loss)) return "the validation loss is " + std::to_string(val_loss);
  if (step != total_steps) return std::nullopt;
  char what[400];
  // However short the run: uniform predictions to within 1e-5 nats (float
  // rounding) after a step with lr > 0 mean the model collapsed (lr 1e6 ends
  // there in 30 steps). A healthy short run moves further, even lr 1e-4 for 3
  // SGD steps (1e-4 nats); one still in its first transient may sit above
  // chance and is not judged before step 100.
  if (stepped_ && std::abs(val_loss - chance_) <= 1e-5) {
    std::snprintf(what, sizeof(what),
                  "the final val loss %.6f is chance level ln(%lld) = %.6f after %lld steps: "
                  "the model predicts every token as equally likely and learned nothing (a "
                  "too-large learning rate collapses it so; lower --lr)",
                  val_loss, static_cast<long long>(vocab_size_), chance_,
                  static_cast<long long>(total_steps));
    return std::string(what);
  }
  if (total_steps >= 100 && val_loss >= chance_) {
    std::snprintf(what, sizeof(what),
                  "the final val loss %.4f is no better than chance level ln(%lld) = %.4f after "
                  "%lld steps",
                  val_loss, static_cast<long long>(vocab_size_), chance_,
                  static_cast<long long>(total_steps));
    return std::string(what);
  }
  return std::nullopt;
}

}  // namespace steepest
