#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "steepest/train/config.h"
#include "steepest/train/lr_schedule.h"

namespace steepest {
namespace {

TEST(TrainConfig, JsonRoundTripKeepsEveryField) {
  TrainConfig c;
  c.n_layer = 7;
  c.lr = 0.5;
  c.optimizer = "lion";
  c.out = "x/y";
  const auto back = train_config_from_json(nlohmann::json::parse(to_json(c).dump()));
  EXPECT_EQ(to_json(back).dump(), to_json(c).dump());
}

TEST(TrainConfig, MissingKeysKeepDefaultsUnknownKeysAreNamed) {
  const auto c = train_config_from_json({{"n_embd", 64}});
  EXPECT_EQ(c.n_embd, 64);
  EXPECT_EQ(c.n_layer, TrainConfig{}.n_layer);
  try {
    train_config_from_json({{"n_embed", 64}});
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("n_embed"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("n_embd"), std::string::npos);  // lists valid keys
  }
  EXPECT_THROW(train_config_from_json({{"steps", "many"}}), std::invalid_argument);
}

TEST(TrainConfig, ValidateNamesTheProblem) {
  TrainConfig c;
  c.n_embd = 130;  // not divisible by 4 heads into an even size
  try {
    validate(c);
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("130"), std::string::npos);
  }
  c = TrainConfig{};
  c.optimizer = "adam";
  EXPECT_THROW(validate(c), std::invalid_argument);
  c = TrainConfig{};
  c.warmup = c.steps;
  EXPECT_THROW(validate(c), std::invalid_argument);
  EXPECT_NO_THROW(validate(TrainConfig{}));
}

// Issue #12: NaN learning rates were accepted, --ns-steps 0 reported an
// unrelated orthogonalizer, and JSON's 1.7 or 1e30 became 1 or a negative step count.
TEST(TrainConfig, NonFiniteFractionalAndOverflowingValuesAreRefusedByName) {
  const auto refused = [](const TrainConfig& c, const std::string& phrase) {
    try {
      validate(c);
      ADD_FAILURE() << "accepted; expected an error with '" << phrase << "'";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
    }
  };
  TrainConfig c;
  c.lr = std::nan("");
  refused(c, "--lr must be a finite number");
  c = TrainConfig{};
  c.adamw_lr = std::nan("");
  refused(c, "--adamw-lr must be a finite number");
  c = TrainConfig{};
  c.grad_clip = INFINITY;
  refused(c, "--grad-clip");
  c = TrainConfig{};
  // 0 is auto, also spelled "auto" in config.json (and on the command line).
  EXPECT_EQ(train_config_from_json(nlohmann::json::parse(R"({"ns_steps": "auto"})")).ns_steps, 0);
  EXPECT_THROW(train_config_from_json(nlohmann::json::parse(R"({"ns_steps": "many"})")),
               std::invalid_argument);
  c.ns_steps = 0;
  EXPECT_NO_THROW(validate(c));
  c.ns_steps = -3;
  refused(c, "--ns-steps must be a finite number in [-1, 1000], got -3");
  for (const char* text :
       {R"({"n_layer": 1.7})", R"({"steps": 1e30})", R"({"batch": 18446744073709551615})"}) {
    try {
      train_config_from_json(nlohmann::json::parse(text));
      ADD_FAILURE() << text << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("whole number"), std::string::npos) << e.what();
    }
  }
  // Whole numbers written as floats stay accepted.
  EXPECT_EQ(train_config_from_json(nlohmann::json::parse(R"({"n_layer": 6.0})")).n_layer, 6);
}

TEST(LrSchedule, WarmupStableDecay) {
  // 100 steps, 10 warm-up, last 20% decays linearly to 0.
  EXPECT_DOUBLE_EQ(lr_factor("wsd", 1, 100, 10, 0.2), 0.1);
  EXPECT_DOUBLE_EQ(lr_factor("wsd", 10, 100, 10, 0.2), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor("wsd", 50, 100, 10, 0.2), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor("wsd", 80, 100, 10, 0.2), 1.0);
  EXPECT_DOUBLE_EQ(lr_factor("wsd", 90, 100, 10, 0.2), 0.5);
  EXPECT_DOUBLE_EQ(lr_factor("wsd", 100, 100, 10, 0.2), 0.0);
  EXPECT_DOUBLE_EQ(lr_factor("wsd", 100, 100, 0, 0.0), 1.0);
}

TEST(LrSchedule, CosineAndConstant) {
  EXPECT_DOUBLE_EQ(lr_factor("constant", 77, 100, 0, 0.3), 1.0);
  EXPECT_NEAR(lr_factor("cosine", 0, 100, 0, 0), 1.0, 1e-12);
  EXPECT_NEAR(lr_factor("cosine", 50, 100, 0, 0), 0.5, 1e-12);
  EXPECT_NEAR(lr_factor("cosine", 100, 100, 0, 0), 0.0, 1e-12);
  EXPECT_THROW(lr_factor("step", 1, 10, 0, 0), std::invalid_argument);
}

}  // namespace
}  // namespace steepest
