#include <gtest/gtest.h>

#include <filesystem>

#include "../model/tiny_gpt.h"
#include "data/data_test_util.h"
#include "steepest/optim/model_optimizer.h"
#include "steepest/train/metrics.h"
#include "steepest/train/spectra_recorder.h"

namespace steepest {
namespace {

// Three Muon steps of the tiny GPT, the third recorded (the zero-initialized
// head and output projections leave q, k, v and fc without a gradient
// before step 3): one record per hidden
// matrix with its weight, momentum and update spectra, a descent alignment,
// and the msign band; the update's largest σ is lr·scale times the band's
// (the step is ΔW = −lr·scale·O without weight decay).
TEST(SpectraRecorder, RecordsEveryHiddenMatrixOnDueSteps) {
  const std::string path =
      (std::filesystem::path(testing::scratch_dir()) / "spectra.jsonl").string();
  at::manual_seed(11);
  const auto config = testing::tiny_gpt_config();
  GPT model(config);
  ModelOptimizerOptions o;
  o.lr = 0.02;
  o.opt = {{"dtype", "fp32"}};
  ModelOptimizer opt(*model, o);
  const auto batch = at::randint(config.vocab_size, {4, config.ctx + 1}, at::kLong);
  SpectraRecorder recorder(path, 3);
  EXPECT_FALSE(recorder.due(2));
  EXPECT_TRUE(recorder.due(3));
  for (int64_t step = 1; step <= 3; ++step) {
    opt.zero_grad();
    model->loss(batch.slice(1, 0, config.ctx), batch.slice(1, 1)).backward();
    if (recorder.due(step)) recorder.before_step(*model);
    opt.step();
    if (recorder.due(step)) recorder.after_step(step, *model, opt.composite());
  }
  const auto records = read_metrics(path);
  ASSERT_EQ(records.size(), 12u);  // 2 blocks × (q, k, v, o, fc, proj)
  for (const auto& r : records) {
    SCOPED_TRACE(r.dump());
    EXPECT_EQ(r.at("step"), 3);
    EXPECT_TRUE(r.at("weight").contains("alpha"));
    EXPECT_FALSE(r.at("momentum").is_null());
    ASSERT_TRUE(r.at("alignment").is_number());
    EXPECT_LT(r.at("alignment").get<double>(), 0.0);
    ASSERT_TRUE(r.at("msign_band").is_array());
    const double band_max = r.at("msign_band")[1].get<double>();
    EXPECT_GT(band_max, 0.6);
    EXPECT_LT(band_max, 1.25);
    // Error after each step of Muon's own schedule (keller, 5 steps) and of
    // the convergent one (16): every σ moves toward 1 under the convergent
    // polynomial, so its error never grows.
    EXPECT_EQ(r.at("ns_errors").at("schedule"), "keller");
    EXPECT_EQ(r.at("ns_errors").at("errors").size(), 5u);
    const auto conv = r.at("ns_errors_convergent").at("errors").get<std::vector<double>>();
    ASSERT_EQ(conv.size(), 16u);
    for (size_t s = 1; s < conv.size(); ++s) EXPECT_LE(conv[s], conv[s - 1] + 1e-6) << s;
    EXPECT_LT(conv.back(), conv.front());
    const auto shape = r.at("shape");
    const double m = shape[0].get<double>(), n = shape[1].get<double>();
    const double scale = std::sqrt(std::max(1.0, m / n));  // Muon's original rule
    EXPECT_NEAR(r.at("update").at("sigma_max").get<double>(), 0.02 * scale * band_max,
                1e-3 * 0.02 * scale);
  }
}

}  // namespace
}  // namespace steepest
