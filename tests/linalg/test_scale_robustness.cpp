// Orthogonalization is scale-invariant up to its eps; fp32 inputs near the
// top of the float range used to overflow ‖X‖_F (or X·Xᵀ) and come back as
// all zeros (issue #12).
#include <gtest/gtest.h>

#include "steepest/linalg/orthogonalizer.h"

namespace steepest {
namespace {

TEST(OrthogonalizerScale, EntriesNearFloatMaxGiveTheSameResultAsUnitScale) {
  at::manual_seed(3);
  const at::Tensor G = at::randn({16, 48});
  const at::Tensor unit = G / G.abs().max();
  for (const auto& name : orthogonalizer_names()) {
    const auto o = Orthogonalizer::from_name(name);
    const at::Tensor reference = o(unit);
    const at::Tensor huge = o(unit * 3.0e38);
    SCOPED_TRACE(name);
    ASSERT_TRUE(at::isfinite(huge).all().item<bool>()) << name;
    EXPECT_GT(huge.abs().max().item<double>(), 0.1) << name << ": collapsed to zeros";
    EXPECT_LT((huge - reference).abs().max().item<double>(), 1e-4) << name;
  }
}

TEST(OrthogonalizerScale, TinyAndZeroInputsKeepTheirBehaviour) {
  const auto o = Orthogonalizer::from_name("keller");
  EXPECT_EQ(o(at::zeros({8, 8})).abs().max().item<double>(), 0.0);  // zero stays zero
  // Below eps the result shrinks with the input, as in the reference X/(‖X‖+eps).
  const at::Tensor tiny = at::eye(8) * 1e-12;
  EXPECT_LT(o(tiny).abs().max().item<double>(), 0.05);  // ~1 for a unit-scale input
}

}  // namespace
}  // namespace steepest
