#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "steepest/linalg/schedule.h"

namespace steepest {
namespace {

// min/max of the schedule's scalar map over σ₀ log-spaced in [lo, 1] (before safety).
std::pair<double, double> band(const NsSchedule& s, double lo) {
  double mn = 1e9, mx = -1e9;
  for (int i = 0; i <= 4000; ++i) {
    const double s0 = std::pow(10.0, std::log10(lo) * (1.0 - i / 4000.0)) / s.safety;
    const double v = s.apply_scalar(s0);
    mn = std::min(mn, v);
    mx = std::max(mx, v);
  }
  return {mn, mx};
}

TEST(Schedule, NamesAndLengths) {
  EXPECT_EQ(ns_schedule("keller").steps.size(), 5u);
  EXPECT_EQ(ns_schedule("polar-express").steps.size(), 5u);
  EXPECT_EQ(ns_schedule("you6").steps.size(), 6u);
  EXPECT_EQ(ns_schedule("cubic").steps[0].c, 0.0);
  EXPECT_DOUBLE_EQ(ns_schedule("polar-express").safety, 1.02);
  EXPECT_DOUBLE_EQ(ns_schedule("you6").steps[0].a, 3955.0 / 1024.0);
  for (const auto& n : ns_schedule_names()) EXPECT_EQ(ns_schedule(n).name, n);
}

TEST(Schedule, StepOverrideTruncatesOrExtends) {
  auto pe3 = ns_schedule("polar-express", 3);
  ASSERT_EQ(pe3.steps.size(), 3u);
  EXPECT_DOUBLE_EQ(pe3.steps[2].a, 3.8916678022926607);
  // Polar Express continues with the paper's final step, not modded-nanogpt's fifth.
  auto pe7 = ns_schedule("polar-express", 7);
  ASSERT_EQ(pe7.steps.size(), 7u);
  EXPECT_DOUBLE_EQ(pe7.steps[4].a, 2.3465413258596377);
  for (size_t k : {5u, 6u}) {
    EXPECT_DOUBLE_EQ(pe7.steps[k].a, 1.875);
    EXPECT_DOUBLE_EQ(pe7.steps[k].b, -1.25);
    EXPECT_DOUBLE_EQ(pe7.steps[k].c, 0.375);
  }
  // Every other schedule repeats its last step.
  auto k7 = ns_schedule("keller", 7);
  EXPECT_DOUBLE_EQ(k7.steps[6].a, 3.4445);
  auto y8 = ns_schedule("you6", 8);
  EXPECT_DOUBLE_EQ(y8.steps[7].a, 2172.0 / 1024.0);
  EXPECT_THROW(ns_schedule("keller", 0), std::invalid_argument);
}

// modded-nanogpt's last Polar Express step has its fixed point at 1.035, so
// repeating it never reaches 1; the paper's extension step converges.
TEST(Schedule, PolarExpressExtendedConvergesToOne) {
  // A copy: a reference into the temporary schedule's vector dangles (ASan: use-after-free).
  const NsCoefficients last = ns_schedule("polar-express").steps.back();
  const double fixed =
      std::sqrt((-last.b - std::sqrt(last.b * last.b - 4 * last.c * (last.a - 1))) / (2 * last.c));
  EXPECT_NEAR(fixed, 1.035, 1e-3);
  auto [lo, hi] = band(ns_schedule("polar-express", 8), 1e-3);
  EXPECT_NEAR(lo, 1.0, 1e-3);
  EXPECT_NEAR(hi, 1.0, 1e-3);
}

TEST(Schedule, UnknownNameListsKnownOnes) {
  try {
    ns_schedule("quintic-ish");
    FAIL() << "expected an exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("polar-express"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("quintic-ish"), std::string::npos);
  }
}

// The singular-value bands documented in docs/OPTIMIZERS.md.
TEST(Schedule, KellerBandDoesNotConvergeByDesign) {
  auto [lo, hi] = band(ns_schedule("keller"), 0.01);
  EXPECT_NEAR(lo, 0.68, 0.01);
  EXPECT_NEAR(hi, 1.13, 0.01);
  EXPECT_NEAR(ns_schedule("keller", 1).apply_scalar(1.0), 0.701, 1e-3);
}

TEST(Schedule, PolarExpressBand) {
  auto [lo, hi] = band(ns_schedule("polar-express"), 1e-3);
  EXPECT_GT(lo, 0.84);
  EXPECT_LT(hi, 1.15);
}

TEST(Schedule, ConvergentSchedulesReachOne) {
  auto [lo, hi] = band(ns_schedule("convergent"), 0.01);
  EXPECT_NEAR(lo, 1.0, 1e-6);
  EXPECT_NEAR(hi, 1.0, 1e-6);
  auto [clo, chi] = band(ns_schedule("cubic"), 0.1);
  EXPECT_NEAR(clo, 1.0, 1e-6);
  EXPECT_NEAR(chi, 1.0, 1e-6);
  auto [ylo, yhi] = band(ns_schedule("you6"), 0.01);
  EXPECT_GT(ylo, 0.99);
  EXPECT_LT(yhi, 1.0);
}

TEST(Schedule, CubicIsSlowFromSmallSigma) {
  // 1.5^12 ≈ 130: σ₀ = 1e-3 cannot reach 1 in 12 cubic steps.
  EXPECT_LT(ns_schedule("cubic").apply_scalar(1e-3), 0.2);
}

}  // namespace
}  // namespace steepest
