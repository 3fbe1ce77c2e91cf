// Learning-rate schedules as a factor on each group's base learning rate.
#pragma once

#include <cstdint>
#include <string>

namespace steepest {

// Factor for 1-based `step` of `total`:
//   warm-up: step/warmup for step ≤ warmup;
//   constant: 1;  wsd (warmup–stable–decay): 1, then linear to 0 over the last
//   decay_fraction·total steps;  cosine: ½(1 + cos(π·progress)) after warm-up.
double lr_factor(const std::string& schedule, int64_t step, int64_t total, int64_t warmup,
                 double decay_fraction);

}  // namespace steepest
