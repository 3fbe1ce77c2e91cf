// Internal: signals that ask a parent of child processes (the bench, the
// --nproc launcher) to stop. The handler only records the signal; the
// parent's wait loop forwards it to its children, waits for them and stops.
#pragma once

#include <signal.h>

#include <csignal>
#include <initializer_list>
#include <vector>

namespace steepest::detail {

// The last stop signal received while a StopSignals lives (0: none).
inline volatile std::sig_atomic_t g_stop_signal = 0;

inline void record_stop_signal(int sig) {
  g_stop_signal = sig;
}

// Installs the recording handler for `signals` (no SA_RESTART, so a blocking
// waitpid returns with EINTR) and restores the previous handlers when it ends.
class StopSignals {
 public:
  explicit StopSignals(std::initializer_list<int> signals)
      : signals_(signals), old_(signals.size()) {
    g_stop_signal = 0;
    struct sigaction sa {};
    sa.sa_handler = record_stop_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < signals_.size(); ++i) sigaction(signals_[i], &sa, &old_[i]);
  }
  ~StopSignals() {
    for (size_t i = 0; i < signals_.size(); ++i) sigaction(signals_[i], &old_[i], nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  std::vector<int> signals_;
  std::vector<struct sigaction> old_;
};

}  // namespace steepest::detail
