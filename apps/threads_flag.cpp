// --threads for the commands other than `train` (whose config checks its own).
#include <stdexcept>
#include <string>

#include "commands.h"
#include "steepest/util/threads.h"

namespace steepest::app {

void apply_threads_flag(int threads) {
  if (threads < 0 || threads > kMaxThreads)
    throw std::invalid_argument("--threads must be in [0, " + std::to_string(kMaxThreads) +
                                "] (0 = leave as is), got " + std::to_string(threads));
  if (threads > 0) set_threads(threads);
}

}  // namespace steepest::app
