// Thread settings (util/threads.h): a scoped OpenBLAS thread count holds
// inside its scope, restores the previous count after it, and refuses a
// count below 1 with our message.
#include <gtest/gtest.h>

#include <stdexcept>

#include "steepest/util/threads.h"

namespace steepest {
namespace {

TEST(ScopedBlasThreads, HoldsInsideTheScopeAndRestoresAfterIt) {
  if (blas_threads() < 0) GTEST_SKIP() << "OpenBLAS is not loaded";
  set_threads(2);
  const int before = blas_threads();
  ASSERT_GE(before, 1);
  {
    const ScopedBlasThreads one(1);
    EXPECT_EQ(blas_threads(), 1);
    {
      const ScopedBlasThreads nested(1);
      EXPECT_EQ(blas_threads(), 1);
    }
    EXPECT_EQ(blas_threads(), 1);
  }
  EXPECT_EQ(blas_threads(), before);
}

TEST(ScopedBlasThreads, RefusesFewerThanOneThread) {
  try {
    const ScopedBlasThreads none(0);
    FAIL() << "a count of 0 was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("thread count must be >= 1, got 0"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace steepest
