// libFuzzer target: JSON text through train_config_from_json and validate, as
// `steepest train --config FILE` reads it. A config that passes must convert
// back to the same JSON (to_json ∘ from_json is the identity on valid configs).
#include <nlohmann/json.hpp>

#include "fuzz/fuzz_util.h"
#include "steepest/train/config.h"

using namespace steepest;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string dir = fuzz::scratch_dir("fuzz_train_config");
  (void)dir;
  const std::string text(reinterpret_cast<const char*>(data), size);
  // config.cpp's errors name the key, not a file (it has none here): any
  // std::exception with a message is a clean refusal.
  fuzz::expect_clean_refusal("", [&] {
    const nlohmann::json j = nlohmann::json::parse(text);
    const TrainConfig c = train_config_from_json(j);
    validate(c);
    const nlohmann::ordered_json once = to_json(c);
    if (to_json(train_config_from_json(nlohmann::json(once))) != once)
      fuzz::finding("to_json → train_config_from_json → to_json changed the config: " +
                    once.dump());
  });
  return 0;
}
