#include "steepest/bench/runner.h"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <stdexcept>
#include <thread>

#include "steepest/bench/report.h"
#include "steepest/bench/results.h"
#include "util/atomic_file.h"
#include "util/file_lock.h"
#include "util/stop_signals.h"

extern char** environ;

namespace fs = std::filesystem;

namespace steepest {
namespace {

void write_json(const fs::path& path, const nlohmann::json& j) {
  detail::write_file_atomically(path, j.dump(2) + "\n");
}

// The config a cached run must match: everything but threads (a setting of the
// machine, not of the experiment) and the output path (whose spelling,
// `./DIR` or `DIR/`, says nothing about the run).
nlohmann::json comparable(const TrainConfig& c) {
  nlohmann::json j = nlohmann::json::parse(to_json(c).dump());
  j.erase("threads");
  j.erase("out");
  return j;
}

// The run's own config.json as the planned config would read: the trainer
// resolves vocab_size 0 from the data.
bool own_config_matches(const fs::path& dir, const TrainConfig& planned) {
  nlohmann::json own =
      comparable(train_config_from_json(read_json_file((dir / "config.json").string())));
  const nlohmann::json want = comparable(planned);
  if (want.value("vocab_size", int64_t{-1}) == 0) own["vocab_size"] = 0;
  return own == want;
}

fs::path config_path(const std::string& out, const BenchRun& r) {
  return fs::path(out) / "configs" / (r.id + ".json");
}

// Finished with this very config: the config the bench last started the run
// with (configs/<id>.json; the run's own config.json holds resolved values
// such as vocab_size) matches, and the run wrote its summary or its failure.
// Only a divergence is an outcome of the config; any other failure (a full
// disk, missing data, a killed process) is retried on the next bench.
enum class Cached { no, finished, diverged };
Cached cached(const std::string& out, const BenchRun& run) {
  const fs::path dir = run.config.out;
  const fs::path failed = dir.string() + ".failed.json";
  if (fs::exists(failed)) {
    nlohmann::json j;
    try {
      j = read_json_file(failed.string());
    } catch (const std::exception&) {
      return Cached::no;  // a damaged record: run again
    }
    const bool same =
        j.is_object() && j.contains("config") && j["config"] == comparable(run.config);
    return same && j.value("diverged", false) ? Cached::diverged : Cached::no;
  }
  const fs::path cfg = config_path(out, run);
  if (!fs::exists(dir / "summary.json") || !fs::exists(cfg)) return Cached::no;
  try {
    read_run_summary((dir / "summary.json").string());  // a damaged summary is run again
    return comparable(train_config_from_json(read_json_file(cfg.string()))) ==
                       comparable(run.config) &&
                   own_config_matches(dir, run.config)
               ? Cached::finished
               : Cached::no;
  } catch (const std::exception&) {
    return Cached::no;
  }
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
      const Cached c = cached(o_.out, r);
      if (c != Cached::no) {
        ++counts.cached;
        counts.cached_failed += c == Cached::diverged;
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
    const detail::StopSignals signals({SIGINT, SIGTERM});
    while (!todo.empty() || !running.empty()) {
      while (!todo.empty() && static_cast<int>(running.size()) < o_.jobs &&
             !detail::g_stop_signal) {
        BenchRun r = todo.front();
        todo.pop_front();
        running[spawn(r)] = Child{r, std::chrono::steady_clock::now()};
      }
      int status = 0;
      const pid_t pid = detail::g_stop_signal ? -1 : waitpid(-1, &status, 0);
      if (detail::g_stop_signal) stop(running);
      if (pid < 0)
        throw std::runtime_error("bench: waitpid failed: " + std::string(strerror(errno)));
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
        const bool diverged = why.find("training diverged") != std::string::npos;
        write_json(child.run.config.out + ".failed.json",
                   {{"error", why},
                    {"exit_code", WEXITSTATUS(status)},
                    {"diverged", diverged},
                    {"config", comparable(child.run.config)}});
        std::printf("[%zu/%zu] %-40s FAILED: %s (log: %s)%s\n", done, total, child.run.id.c_str(),
                    why.c_str(), log.string().c_str(),
                    diverged ? "" : "; retried on the next bench");
        if (!diverged && counts.failed_environment++ == 0)
          counts.first_environment_failure = child.run.id + ": " + why;
      } else {
        throw std::runtime_error("bench: run " + child.run.id +
                                 " was killed by a signal; rerun the same command to continue "
                                 "(finished runs are kept)");
      }
      std::fflush(stdout);
    }
  }

 private:
  // Forwards the signal to every running trainer, waits for them, and stops.
  [[noreturn]] void stop(std::map<pid_t, Child>& running) {
    const int sig = detail::g_stop_signal;
    for (const auto& [pid, child] : running) kill(pid, SIGTERM);
    for (const auto& [pid, child] : running) {
      int status = 0;
      while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
    }
    throw std::runtime_error("bench: stopped by signal " + std::to_string(sig) + " after " +
                             std::to_string(running.size()) +
                             " running trainer(s) were stopped; rerun the same command to "
                             "continue (finished runs are kept)");
  }

  fs::path log_path(const BenchRun& r) const { return fs::path(o_.out) / "logs" / (r.id + ".log"); }

  pid_t spawn(BenchRun r) {
    r.config.threads = threads_;
    const fs::path cfg = config_path(o_.out, r);
    write_json(cfg, to_json(r.config));
    fs::remove(r.config.out + ".failed.json");
    const std::string log = log_path(r).string();
    std::vector<std::string> args = {exe_, "train", "--config", cfg.string(), "--overwrite"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // A new file: a symlink planted under the log's name is removed, never
    // followed (it would send the log over a file outside --out).
    ::unlink(log.c_str());
    const int log_fd =
        ::open(log.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (log_fd < 0)
      throw std::runtime_error("bench: cannot write the log '" + log + "': " + strerror(errno));
    // STEEPEST_BENCH_RUN tells the trainer this run directory is the bench's
    // to write (one started by hand there is refused while the bench runs).
    std::vector<std::string> env_strings;
    for (char** e = environ; *e != nullptr; ++e)
      if (std::strncmp(*e, "STEEPEST_BENCH_RUN=", 19) != 0) env_strings.emplace_back(*e);
    env_strings.emplace_back("STEEPEST_BENCH_RUN=1");
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid == 0) {
      // The trainer dies with the bench, however the bench ends (kill -9
      // too): an orphan would keep writing a run directory that a rerun
      // starts again.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(127);
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      ::execve(exe_.c_str(), argv.data(), envp.data());
      ::_exit(127);
    }
    ::close(log_fd);
    if (pid < 0) throw std::runtime_error("bench: cannot start '" + exe_ + "': " + strerror(errno));
    return pid;
  }

  const BenchOptions& o_;
  std::string exe_;
  int threads_;
};

}  // namespace

namespace {

// One bench per results directory: a second one (say, rerun while the first
// is still stopping) would start trainers on the same run directories. The
// lock is an flock, so it is released however this process ends.
void lock_results_directory(const fs::path& out) {
  // Each directory is locked once per process and stays locked until it exits.
  static std::map<std::string, std::unique_ptr<detail::FileLock>> held;
  std::error_code ec;
  const std::string key = fs::weakly_canonical(out, ec).string();
  if (held.count(key)) return;
  const std::string path = (out / ".bench.lock").string();
  held[key] = std::make_unique<detail::FileLock>(path, "bench: another bench is running in '" +
                                                           out.string() + "' (it holds " + path +
                                                           "); wait for it or stop it first");
}

// Checks the options, creates the results directory (suite.json, runs/, logs/,
// configs/) and returns the executor that runs into it.
Executor prepare(const BenchOptions& options, const nlohmann::json& suite_source) {
  if (options.jobs < 1)
    throw std::invalid_argument("--jobs must be >= 1, got " + std::to_string(options.jobs));
  if (options.out.empty()) throw std::invalid_argument("--out must name a results directory");
  const fs::path out = options.out;
  std::error_code ec;
  for (const char* sub : {"runs", "logs", "configs"}) {
    fs::create_directories(out / sub, ec);
    if (ec)
      throw std::runtime_error("bench: cannot create '" + (out / sub).string() +
                               "': " + ec.message());
  }
  lock_results_directory(out);
  // Another suite's results would be replaced run by run, and its report by
  // this one's: a decision, not a default.
  const fs::path suite_file = out / "suite.json";
  if (!options.force && fs::exists(suite_file, ec)) {
    nlohmann::json before;
    try {
      before = read_json_file(suite_file.string());
    } catch (const std::exception&) {
      before = nullptr;  // damaged: not a suite's to protect
    }
    if (!before.is_null() && before != suite_source)
      throw std::invalid_argument(
          "bench: '" + out.string() + "' holds the results of another suite (its suite.json, '" +
          before.value("name", std::string("?")) +
          "', differs from this one); choose another --out, or pass --force to run this suite "
          "there (runs whose configs differ are then run again and replaced)");
  }
  write_json(suite_file, suite_source);
  const int cores = std::max(1u, std::thread::hardware_concurrency());
  const int threads =
      options.threads_per_run > 0 ? options.threads_per_run : std::max(1, cores / options.jobs);
  const std::string exe =
      options.exe.empty() ? fs::read_symlink("/proc/self/exe").string() : options.exe;
  return Executor(options, exe, threads);
}

// A run that failed for another reason than divergence says nothing about
// its optimizer; results without it are incomplete (or, in phase 1, pick the
// best LR among the survivors), so the command fails with the first reason.
void throw_on_environment_failures(const BenchCounts& c, const std::string& out,
                                   const std::string& consequence) {
  if (c.failed_environment == 0) return;
  throw std::runtime_error(
      "bench: " + std::to_string(c.failed_environment) +
      " run(s) failed for another reason than divergence (first: " + c.first_environment_failure +
      ")" + consequence + "; fix the cause and rerun the same command (finished runs in '" + out +
      "' are kept)");
}

}  // namespace

BenchCounts run_planned(const std::vector<BenchRun>& runs, const nlohmann::json& suite_source,
                        const BenchOptions& options, const std::string& phase) {
  Executor ex = prepare(options, suite_source);
  BenchCounts counts;
  ex.run_all(runs, phase.c_str(), counts);
  throw_on_environment_failures(counts, options.out, "");
  return counts;
}

BenchCounts run_bench(const BenchSuite& suite, const BenchOptions& options) {
  Executor ex = prepare(options, suite.source);
  const fs::path out = options.out;
  BenchCounts counts;
  if (suite.lr_search_trials > 0) {
    std::printf(
        "suite '%s': %zu optimizers x %d learning rates (adaptive search, x%g bracket), best LR "
        "x %zu seeds, target %.4g\n",
        suite.name.c_str(), suite.optimizers.size(), suite.lr_search_trials, suite.lr_search_factor,
        suite.seeds.size(), suite.target_val_loss);
    // Rounds: each optimizer's next trials depend on its finished ones; the
    // optimizers' rounds run together, `jobs` at a time.
    std::vector<std::string> last_ids;
    for (int round = 1;; ++round) {
      std::vector<BenchRun> todo;
      for (size_t i = 0; i < suite.optimizers.size(); ++i) {
        const TuningPlan plan = tuning_plan(suite, i, out.string());
        todo.insert(todo.end(), plan.pending.begin(), plan.pending.end());
      }
      if (todo.empty()) break;
      std::vector<std::string> ids;
      for (const auto& r : todo) ids.push_back(r.id);
      if (ids == last_ids) {  // they ran and are still unfinished: do not loop on them
        std::printf("phase 1: %zu trials could not be finished; see their logs\n", ids.size());
        break;
      }
      last_ids = ids;
      const std::string phase = "phase 1 (LR search, round " + std::to_string(round) + ")";
      ex.run_all(todo, phase.c_str(), counts);
    }
  } else {
    std::printf(
        "suite '%s': %zu optimizers x %d learning rates, best LR x %zu seeds, target %.4g\n",
        suite.name.c_str(), suite.optimizers.size(), suite.lr_points, suite.seeds.size(),
        suite.target_val_loss);
    ex.run_all(tuning_runs(suite, out.string()), "phase 1 (LR trials)", counts);
  }
  throw_on_environment_failures(
      counts, out.string(),
      "; phase 2 did not start, since the best LR would be chosen among the "
      "trials that survived");
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
  throw_on_environment_failures(counts, out.string(), "; the report leaves them out");
  return counts;
}

}  // namespace steepest
