#include "steepest/bench/runner.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <thread>

#include "steepest/bench/report.h"
#include "steepest/bench/results.h"
#include "util/atomic_file.h"

extern char** environ;

namespace fs = std::filesystem;

namespace steepest {
namespace {

void write_json(const fs::path& path, const nlohmann::json& j) {
  detail::write_text_atomically(path, j.dump(2) + "\n");
}

// The config a cached run must match: everything but threads (a setting of the
// machine, not of the experiment).
nlohmann::json comparable(const TrainConfig& c) {
  nlohmann::json j = nlohmann::json::parse(to_json(c).dump());
  j.erase("threads");
  return j;
}

fs::path config_path(const std::string& out, const BenchRun& r) {
  return fs::path(out) / "configs" / (r.id + ".json");
}

// Finished with this very config: the config the bench last started the run
// with (configs/<id>.json; the run's own config.json holds resolved values
// such as vocab_size) matches, and the run wrote its summary or its failure.
bool cached(const std::string& out, const BenchRun& run) {
  const fs::path dir = run.config.out;
  const fs::path failed = dir.string() + ".failed.json";
  if (fs::exists(failed)) {
    const auto j = read_json_file(failed.string());
    return j.contains("config") && j["config"] == comparable(run.config);
  }
  const fs::path cfg = config_path(out, run);
  if (!fs::exists(dir / "summary.json") || !fs::exists(cfg)) return false;
  return comparable(train_config_from_json(read_json_file(cfg.string()))) == comparable(run.config);
}

std::string last_error_line(const fs::path& log) {
  std::ifstream in(log);
  std::string line, last, err;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    last = line;
    if (line.find("rror") != std::string::npos || line.find("non-finite") != std::string::npos)
      err = line;
  }
  return err.empty() ? last : err;
}

struct Child {
  BenchRun run;
  std::chrono::steady_clock::time_point start;
};

class Executor {
 public:
  Executor(const BenchOptions& o, std::string exe, int threads)
      : o_(o), exe_(std::move(exe)), threads_(threads) {}

  void run_all(const std::vector<BenchRun>& runs, const char* phase, BenchCounts& counts) {
    std::deque<BenchRun> todo;
    for (const auto& r : runs) {
      if (cached(o_.out, r)) {
        ++counts.cached;
        continue;
      }
      todo.push_back(r);
    }
    std::printf("bench %s: %zu runs, %zu cached, %zu to run (%d at a time, %d thread%s each)\n",
                phase, runs.size(), runs.size() - todo.size(), todo.size(), o_.jobs, threads_,
                threads_ == 1 ? "" : "s");
    std::fflush(stdout);
    const size_t total = todo.size();
    size_t done = 0;
    std::map<pid_t, Child> running;
    while (!todo.empty() || !running.empty()) {
      while (!todo.empty() && static_cast<int>(running.size()) < o_.jobs) {
        BenchRun r = todo.front();
        todo.pop_front();
        running[spawn(r)] = Child{r, std::chrono::steady_clock::now()};
      }
      int status = 0;
      const pid_t pid = waitpid(-1, &status, 0);
      if (pid < 0) throw std::runtime_error("bench: waitpid failed");
      auto it = running.find(pid);
      if (it == running.end()) continue;
      const Child child = it->second;
      running.erase(it);
      ++done;
      const double secs =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - child.start).count();
      const fs::path log = log_path(child.run);
      if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        ++counts.ran;
        const auto r = read_run(child.run, 0.0);
        std::printf("[%zu/%zu] %-40s final val %.4f  (%.0f s)\n", done, total, child.run.id.c_str(),
                    r.final_val_loss, secs);
      } else if (WIFEXITED(status)) {
        ++counts.failed;
        const std::string why = last_error_line(log);
        write_json(child.run.config.out + ".failed.json",
                   {{"error", why},
                    {"exit_code", WEXITSTATUS(status)},
                    {"config", comparable(child.run.config)}});
        std::printf("[%zu/%zu] %-40s FAILED: %s (log: %s)\n", done, total, child.run.id.c_str(),
                    why.c_str(), log.string().c_str());
      } else {
        throw std::runtime_error("bench: run " + child.run.id +
                                 " was killed by a signal; rerun the same command to continue "
                                 "(finished runs are kept)");
      }
      std::fflush(stdout);
    }
  }

 private:
  fs::path log_path(const BenchRun& r) const { return fs::path(o_.out) / "logs" / (r.id + ".log"); }

  pid_t spawn(BenchRun r) {
    r.config.threads = threads_;
    const fs::path cfg = config_path(o_.out, r);
    write_json(cfg, to_json(r.config));
    fs::remove(r.config.out + ".failed.json");
    const std::string log = log_path(r).string();
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    std::vector<std::string> args = {exe_, "train", "--config", cfg.string(), "--overwrite"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, exe_.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
      throw std::runtime_error("bench: cannot start '" + exe_ + "' (errno " + std::to_string(rc) +
                               ")");
    return pid;
  }

  const BenchOptions& o_;
  std::string exe_;
  int threads_;
};

}  // namespace

namespace {

// Checks the options, creates the results directory (suite.json, runs/, logs/,
// configs/) and returns the executor that runs into it.
Executor prepare(const BenchOptions& options, const nlohmann::json& suite_source) {
  if (options.jobs < 1)
    throw std::invalid_argument("--jobs must be >= 1, got " + std::to_string(options.jobs));
  if (options.out.empty()) throw std::invalid_argument("--out must name a results directory");
  const fs::path out = options.out;
  for (const char* sub : {"runs", "logs", "configs"}) fs::create_directories(out / sub);
  write_json(out / "suite.json", suite_source);
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  const int threads =
      options.threads_per_run > 0 ? options.threads_per_run : std::max(1, cores / options.jobs);
  const std::string exe =
      options.exe.empty() ? fs::read_symlink("/proc/self/exe").string() : options.exe;
  return Executor(options, exe, threads);
}

}  // namespace

BenchCounts run_planned(const std::vector<BenchRun>& runs, const nlohmann::json& suite_source,
                        const BenchOptions& options, const std::string& phase) {
  Executor ex = prepare(options, suite_source);
  BenchCounts counts;
  ex.run_all(runs, phase.c_str(), counts);
  return counts;
}

BenchCounts run_bench(const BenchSuite& suite, const BenchOptions& options) {
  Executor ex = prepare(options, suite.source);
  const fs::path out = options.out;
  BenchCounts counts;
  std::printf("suite '%s': %zu optimizers x %d learning rates, best LR x %zu seeds, target %.4g\n",
              suite.name.c_str(), suite.optimizers.size(), suite.lr_points, suite.seeds.size(),
              suite.target_val_loss);
  ex.run_all(tuning_runs(suite, out.string()), "phase 1 (LR trials)", counts);
  const BenchResults tuned = load_bench_results(out.string());
  std::vector<BenchRun> second;
  for (size_t i = 0; i < tuned.optimizers.size(); ++i) {
    const auto& o = tuned.optimizers[i];
    if (o.best_lr <= 0) {
      std::printf("%s: every LR trial failed; no seed runs\n", o.optimizer.label.c_str());
      continue;
    }
    BenchSuite one = suite;
    one.optimizers = {suite.optimizers[i]};
    for (auto& r : seed_runs(one, out.string(), {o.best_lr})) second.push_back(r);
  }
  ex.run_all(second, "phase 2 (best LR x seeds)", counts);
  if (options.report) {
    const auto files = write_report(load_bench_results(out.string()));
    for (const auto& f : files) std::printf("wrote %s\n", f.c_str());
  }
  return counts;
}

}  // namespace steepest
