// Divergence detection for a training loop: a non-finite loss, or a loss that
// climbs back to chance level (ln(vocab): uniform predictions) after the run
// had clearly learned. Either way the run learns nothing more, and finishing
// it would end with exit 0 and a useless checkpoint.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace steepest {

class DivergenceMonitor {
 public:
  // vocab_size ≥ 2: chance level is ln(vocab_size) nats per token.
  explicit DivergenceMonitor(int64_t vocab_size);

  // Feeds one step's training loss (mean nats per token). Returns why the run
  // diverged, or nothing while it is healthy. The loss is smoothed
  // (exponential average, weight 0.1) so that one noisy batch never stops a run;
  // "learned" means the smoothed loss went below 0.9 · chance, "back at
  // chance" that it then rose to 0.99 · chance or more.
  std::optional<std::string> observe(double loss);

  // Records the learning rate a step was taken with: a run whose every step
  // had lr 0 (one WSD step decays to 0 at once) is not expected to learn.
  void note_step_lr(double lr) { stepped_ = stepped_ || lr > 0; }

  // Feeds an evaluation at `step` of a `total_steps` run: a non-finite
  // validation loss; a final one no better than chance after >= 100 steps; or,
  // however short the run, a final one at chance to within 1e-5 nats after any
  // step with lr > 0 (uniform predictions: the model collapsed, as lr 1e6 does
  // in 30 steps). A short run above chance may be in its first transient.
  std::optional<std::string> observe_val(double val_loss, int64_t step, int64_t total_steps) const;

  double chance() const { return chance_; }

 private:
  int64_t vocab_size_;
  double chance_;
  double smoothed_ = -1, best_ = -1;
  bool stepped_ = false;
};

}  // namespace steepest
