// Running the `steepest` CLI from tests: its path (STEEPEST_CLI, set by CMake
// when the CLI is built), a run with the output captured, and waiting for a
// started process.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

extern char** environ;

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

// `steepest ARGS` through the shell (ARGS may quote globs). timeout_s > 0
// bounds it with coreutils' timeout (exit 124 when it had to stop it): for a
// command that used to hang.
inline CliResult run_cli(const std::string& args, int timeout_s = 0) {
  const std::string cmd = (timeout_s > 0 ? "timeout " + std::to_string(timeout_s) + " " : "") +
                          std::string(STEEPEST_CLI) + " " + args + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed: " + cmd};
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;) out.append(buf, n);
  return {exit_code(::pclose(pipe)), out};
}

// Starts argv[0] with `argv`, this process's environment without the
// variables named in `drop` and with `env_extra` ("KEY=VALUE") added, stdout
// and stderr both into `log`. Returns its pid, or -1 if it could not start.
inline pid_t spawn_logged(const std::vector<std::string>& argv,
                          const std::vector<std::string>& drop,
                          const std::vector<std::string>& env_extra, const std::string& log) {
  std::vector<std::string> args = argv, env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const std::string key = kv.substr(0, kv.find('='));
    bool dropped = false;
    for (const auto& d : drop) dropped = dropped || d == key;
    if (!dropped) env.push_back(kv);
  }
  env.insert(env.end(), env_extra.begin(), env_extra.end());
  std::vector<char*> a, e;
  for (auto& s : args) a.push_back(s.data());
  a.push_back(nullptr);
  for (auto& s : env) e.push_back(s.data());
  e.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  if (posix_spawn(&pid, a[0], &fa, nullptr, a.data(), e.data()) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&fa);
  return pid;
}

}  // namespace steepest::testing
