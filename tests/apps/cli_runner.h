// Running the `steepest` CLI from tests: its path (STEEPEST_CLI, set by CMake
// when the CLI is built), a run with the output captured, and waiting for a
// started process.
#pragma once

#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>

#ifndef STEEPEST_CLI
#define STEEPEST_CLI ""
#endif

namespace steepest::testing {

inline bool cli_built() {
  return std::string(STEEPEST_CLI).size() > 0 && std::filesystem::exists(STEEPEST_CLI);
}

// An exit by signal reads as 128 + the signal, as in a shell.
inline int exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

inline int wait_exit(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return exit_code(status);
}

struct CliResult {
  int exit_code;
  std::string output;  // stdout and stderr together
};

// `steepest ARGS` through the shell (ARGS may quote globs).
inline CliResult run_cli(const std::string& args) {
  const std::string cmd = std::string(STEEPEST_CLI) + " " + args + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed: " + cmd};
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  return {exit_code(::pclose(pipe)), out};
}

}  // namespace steepest::testing
