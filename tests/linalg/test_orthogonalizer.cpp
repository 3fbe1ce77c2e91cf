#include <gtest/gtest.h>

#include <stdexcept>

#include "steepest/linalg/orthogonalizer.h"
#include "test_util.h"

namespace steepest {
namespace {

TEST(Orthogonalizer, EveryNameParsesRoundTripsAndCostsWhatItSays) {
  at::manual_seed(12);
  const auto X = at::randn({24, 96});
  for (const auto& name : orthogonalizer_names()) {
    const auto o = Orthogonalizer::from_name(name);
    EXPECT_EQ(o.name(), name);
    Cost c;
    const auto O = o(X, &c);
    EXPECT_EQ(O.sizes(), X.sizes()) << name;
    const auto predicted = o.cost(24, 96);
    EXPECT_EQ(c.gemms, predicted.gemms) << name;
    EXPECT_DOUBLE_EQ(c.flops, predicted.flops) << name;
  }
}

TEST(Orthogonalizer, UnknownMethodListsTheValidOnes) {
  try {
    Orthogonalizer::from_name("gram-nope");
    FAIL();
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("gram-polar-express"), std::string::npos) << msg;
    EXPECT_NE(msg.find("svd"), std::string::npos) << msg;
  }
}

TEST(Orthogonalizer, StepsOverride) {
  EXPECT_EQ(Orthogonalizer::from_name("keller", 3).schedule.steps.size(), 3u);
  EXPECT_EQ(Orthogonalizer::from_name("gram-you6", 8).schedule.steps.size(), 8u);
}

}  // namespace
}  // namespace steepest
