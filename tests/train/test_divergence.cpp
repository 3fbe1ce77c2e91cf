#include <gtest/gtest.h>

#include <cmath>

#include "steepest/train/divergence.h"

namespace steepest {
namespace {

TEST(DivergenceMonitor, HealthyAndNeverLearnedRunsPass) {
  DivergenceMonitor m(256);
  for (int i = 0; i < 200; ++i) EXPECT_FALSE(m.observe(5.6 - 0.01 * i)) << i;
  DivergenceMonitor flat(256);  // a too-small lr: never learned, never diverged
  for (int i = 0; i < 200; ++i) EXPECT_FALSE(flat.observe(std::log(256.0) + 0.05));
}

TEST(DivergenceMonitor, NonFiniteLossStopsAtOnce) {
  DivergenceMonitor m(256);
  EXPECT_FALSE(m.observe(5.0));
  const auto why = m.observe(NAN);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("nan"), std::string::npos) << *why;
  EXPECT_TRUE(DivergenceMonitor(256).observe(INFINITY));
}

TEST(DivergenceMonitor, ClimbBackToChanceIsDetectedOneSpikeIsNot) {
  const double chance = std::log(256.0);
  DivergenceMonitor m(256);
  for (int i = 0; i < 100; ++i) m.observe(2.5);
  EXPECT_FALSE(m.observe(3 * chance));  // one bad batch: smoothed 2.5 → 3.9
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(m.observe(2.5));
  std::optional<std::string> why;
  int steps = 0;
  while (!why && steps < 100) why = m.observe(chance + 0.01), ++steps;
  ASSERT_TRUE(why);
  EXPECT_LT(steps, 40);  // the smoothed loss reaches chance within a few dozen steps
  EXPECT_NE(why->find("chance level ln(256) = 5.5452"), std::string::npos) << *why;
}

TEST(DivergenceMonitor, RefusesADegenerateVocabulary) {
  EXPECT_THROW(DivergenceMonitor(1), std::invalid_argument);
}

}  // namespace
}  // namespace steepest

namespace steepest {
namespace {

TEST(DivergenceMonitor, ValidationLossNonFiniteAtChanceOrNoBetterAtTheEnd) {
  DivergenceMonitor m(256);
  const double chance = std::log(256.0);
  EXPECT_TRUE(m.observe_val(NAN, 10, 20));
  // Only lr-0 steps so far (a one-step WSD run): nothing was expected to move.
  m.note_step_lr(0.0);
  EXPECT_FALSE(m.observe_val(chance, 1, 1));
  m.note_step_lr(0.02);
  m.note_step_lr(0.0);                                 // a later lr-0 step does not undo it
  EXPECT_FALSE(m.observe_val(chance + 0.1, 50, 100));  // not the end yet
  EXPECT_FALSE(m.observe_val(chance - 0.1, 100, 100));
  EXPECT_FALSE(m.observe_val(chance - 9.5e-5, 3, 3));  // sgd lr 1e-4 for 3 steps: it moved
  EXPECT_FALSE(m.observe_val(chance + 0.05, 10, 10));  // AdamW's first transient, 10 steps
  // At >= 100 steps, anything no better than chance.
  const auto worse = m.observe_val(chance + 0.1, 100, 100);
  ASSERT_TRUE(worse);
  EXPECT_NE(worse->find("no better than chance level ln(256)"), std::string::npos) << *worse;
  // However short: uniform predictions (collapsed; lr 1e6 ends there in 30 steps).
  for (const double rounding : {1.4e-6, -1e-6})
    for (const int64_t steps : {2, 30, 100}) {
      const auto why = m.observe_val(chance + rounding, steps, steps);
      ASSERT_TRUE(why) << steps;
      EXPECT_NE(why->find("is chance level ln(256)"), std::string::npos) << *why;
      EXPECT_NE(why->find("lower --lr"), std::string::npos) << *why;
    }
}

}  // namespace
}  // namespace steepest
