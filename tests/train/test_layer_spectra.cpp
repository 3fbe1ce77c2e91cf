#include <gtest/gtest.h>

#include <cmath>

#include "../model/tiny_gpt.h"
#include "steepest/train/layer_spectra.h"

namespace steepest {
namespace {

TEST(LayerSpectra, EveryMatrixWithItsRoleAndItsOwnStatistics) {
  at::manual_seed(6);
  GPT model(testing::tiny_gpt_config());
  const auto layers = layer_spectra(*model);
  int hidden = 0, embedding = 0, head = 0;
  for (const auto& l : layers) {
    hidden += l.role == "hidden";
    embedding += l.role == "embedding";
    head += l.role == "head";
    ASSERT_GE(l.shape.size(), 2u) << l.name;
    const at::Tensor p = model->named_parameters()[l.name];
    const auto direct = spectrum_stats(p.detach().reshape({p.size(0), -1}));
    EXPECT_EQ(l.stats.singular_values, direct.singular_values) << l.name;
  }
  EXPECT_EQ(hidden, 12);  // 2 blocks × (q, k, v, o, fc, proj)
  EXPECT_EQ(embedding, 1);
  EXPECT_EQ(head, 1);
}

// Small spectra are written whole; large ones as top/bottom `keep` plus
// quantiles. A zero-initialized projection has condition number +inf: null.
TEST(LayerSpectra, JsonKeepsSmallSpectraWholeAndSummarizesLargeOnes) {
  at::manual_seed(7);
  LayerSpectrum l{"w", "hidden", {40, 20}, spectrum_stats(at::randn({40, 20}))};
  const auto whole = to_json(l, 10);
  EXPECT_EQ(whole.at("sigma").size(), 20u);
  const auto summary = to_json(l, 4);
  EXPECT_FALSE(summary.contains("sigma"));
  EXPECT_EQ(summary.at("sigma_top").size(), 4u);
  EXPECT_EQ(summary.at("sigma_bottom").size(), 4u);
  EXPECT_EQ(summary.at("sigma_quantiles").size(), 7u);
  EXPECT_DOUBLE_EQ(summary.at("sigma_quantiles").back().get<double>(), l.stats.sigma_max);
  EXPECT_EQ(summary.at("alpha").at("estimator"), "clauset-mle");
  LayerSpectrum zero{"z", "hidden", {3, 3}, spectrum_stats(at::zeros({3, 3}))};
  EXPECT_EQ(to_json(zero).at("condition_number"), 0.0);  // a zero matrix: all statistics 0
  LayerSpectrum rank1{"r", "hidden", {3, 3}, spectrum_stats(at::ones({3, 3}))};
  EXPECT_TRUE(to_json(rank1).at("condition_number").is_null());
}

}  // namespace
}  // namespace steepest
