#include "steepest/train/distributed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace steepest {
namespace {

using Clock = std::chrono::steady_clock;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const long x = std::strtol(v, &end, 10);
  if (*end != '\0' || x < 0 || x > 1 << 30)
    throw std::invalid_argument(std::string("environment variable ") + name + "='" + v +
                                "' is not a non-negative integer");
  return static_cast<int>(x);
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// Walks the JSON of two configs in key order; the first key whose values
// differ, as "key: a vs b", or "".
std::string first_difference(const nlohmann::json& a, const nlohmann::json& b) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : a.items()) keys.push_back(k);
  for (const auto& [k, v] : b.items())
    if (!a.contains(k)) keys.push_back(k);
  for (const auto& k : keys) {
    const std::string va = a.contains(k) ? a.at(k).dump() : "(missing)";
    const std::string vb = b.contains(k) ? b.at(k).dump() : "(missing)";
    if (va != vb) return "'" + k + "': " + va + " on rank 0, " + vb;
  }
  return "";
}

// False once the process has exited, also while it waits to be reaped (zombie).
bool process_alive(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;  // no /proc: trust kill()
  const auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

std::vector<uint8_t> bytes_of(const std::string& s) {
  return {s.begin(), s.end()};
}
std::string string_of(const std::vector<uint8_t>& b) {
  return {b.begin(), b.end()};
}

}  // namespace

DistEnv dist_env_from_environment() {
  DistEnv e;
  const bool has_rank = std::getenv("RANK") != nullptr;
  const bool has_world = std::getenv("WORLD_SIZE") != nullptr;
  if (!has_rank && !has_world) return e;
  if (has_rank != has_world)
    throw std::invalid_argument(std::string("environment variable ") +
                                (has_rank ? "WORLD_SIZE" : "RANK") +
                                " is not set but the other one is; a distributed run needs RANK, "
                                "WORLD_SIZE, MASTER_ADDR and MASTER_PORT (as torchrun sets them)");
  e.world_size = env_int("WORLD_SIZE", 1);
  e.rank = env_int("RANK", 0);
  e.local_rank = env_int("LOCAL_RANK", e.rank);
  if (e.world_size < 1 || e.rank >= e.world_size)
    throw std::invalid_argument("RANK=" + std::to_string(e.rank) +
                                " must be in [0, WORLD_SIZE=" + std::to_string(e.world_size) + ")");
  if (const char* a = std::getenv("MASTER_ADDR"); a != nullptr && *a != '\0') e.master_addr = a;
  e.master_port = env_int("MASTER_PORT", e.master_port);
  if (e.master_port < 1 || e.master_port > 65535)
    throw std::invalid_argument("MASTER_PORT=" + std::to_string(e.master_port) +
                                " is not a TCP port (1-65535)");
  return e;
}

struct GlooCollectives::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  std::chrono::milliseconds timeout;
  // Each rank's host and pid, exchanged at start: when a collective fails, the
  // ranks on this host that no longer run are named.
  std::vector<std::pair<std::string, pid_t>> procs;
};

GlooCollectives::GlooCollectives(const DistEnv& env, std::chrono::milliseconds timeout)
    : env_(env), impl_(std::make_unique<Impl>()) {
  impl_->timeout = timeout;
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(env.master_port);
  so.isServer = env.rank == 0;
  so.numWorkers = static_cast<std::size_t>(env.world_size);
  so.waitWorkers = true;
  so.timeout = timeout;
  try {
    impl_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    opts->devices.push_back(is_loopback(env.master_addr)
                                ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                : c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 1;
    impl_->pg =
        c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, env.rank, env.world_size, opts);
    char host[256] = {0};
    ::gethostname(host, sizeof(host) - 1);
    impl_->store->set("steepest/proc/" + std::to_string(env.rank),
                      bytes_of(std::string(host) + " " + std::to_string(::getpid())));
    for (int r = 0; r < env.world_size; ++r) {
      const std::string v = string_of(impl_->store->get("steepest/proc/" + std::to_string(r)));
      const auto sp = v.rfind(' ');
      impl_->procs.emplace_back(v.substr(0, sp), static_cast<pid_t>(std::stol(v.substr(sp + 1))));
    }
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(env.rank) + " of " +
                             std::to_string(env.world_size) + ": rendezvous at " + where +
                             " failed within " + std::to_string(timeout.count() / 1000) +
                             " s (is rank 0 running, MASTER_ADDR/MASTER_PORT right, the port "
                             "free?): " +
                             e.what());
  }
}

GlooCollectives::~GlooCollectives() = default;

std::string GlooCollectives::lost_ranks() const {
  char host[256] = {0};
  ::gethostname(host, sizeof(host) - 1);
  std::string out;
  for (int r = 0; r < static_cast<int>(impl_->procs.size()); ++r) {
    const auto& [h, pid] = impl_->procs[static_cast<size_t>(r)];
    if (r == env_.rank || h != host) continue;
    if (!process_alive(pid))
      out += (out.empty() ? "" : ", ") + std::string("rank ") + std::to_string(r) + " (pid " +
             std::to_string(pid) + ")";
  }
  return out;
}

template <typename F>
void GlooCollectives::run(const char* what, int64_t bytes, F&& f) {
  const auto t0 = Clock::now();
  try {
    f();
  } catch (const std::exception& e) {
    // A killed peer's sockets close while it is still exiting: look again briefly.
    std::string lost = lost_ranks();
    for (int i = 0; i < 25 && lost.empty(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      lost = lost_ranks();
    }
    throw std::runtime_error("rank " + std::to_string(env_.rank) + ": " + what + " failed: " +
                             (lost.empty()
                                  ? "another rank is gone or slower than --dist-timeout (" +
                                        std::to_string(impl_->timeout.count() / 1000) + " s)"
                                  : "lost " + lost + ", no longer running on this host") +
                             ": " + e.what());
  }
  stats_.seconds += std::chrono::duration<double>(Clock::now() - t0).count();
  stats_.bytes += bytes;
  ++stats_.calls;
}

void GlooCollectives::all_reduce_sum(at::Tensor& flat) {
  TORCH_CHECK(flat.dim() == 1 && flat.is_contiguous(),
              "all_reduce_sum: needs a contiguous 1-D tensor");
  std::vector<at::Tensor> v{flat};
  run("all-reduce", flat.numel() * flat.element_size(), [&] { impl_->pg->allreduce(v)->wait(); });
}

at::Tensor GlooCollectives::all_gather(const at::Tensor& flat) {
  TORCH_CHECK(flat.dim() == 1, "all_gather: needs a 1-D tensor");
  std::vector<at::Tensor> in{flat.contiguous()};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < env_.world_size; ++r) out[0].push_back(at::empty_like(in[0]));
  run("all-gather", flat.numel() * flat.element_size(),
      [&] { impl_->pg->allgather(out, in)->wait(); });
  return at::stack(out[0]);
}

void GlooCollectives::broadcast(at::Tensor& flat, int root) {
  TORCH_CHECK(flat.dim() == 1 && flat.is_contiguous(), "broadcast: needs a contiguous 1-D tensor");
  std::vector<at::Tensor> v{flat};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  run("broadcast", env_.rank == root ? flat.numel() * flat.element_size() : 0,
      [&] { impl_->pg->broadcast(v, o)->wait(); });
}

void GlooCollectives::check_same_config(const nlohmann::json& config) {
  nlohmann::json mine = config;
  mine["world_size"] = env_.world_size;
  const std::string key = "steepest/config";
  std::string verdict;
  try {
    if (env_.rank == 0) impl_->store->set(key, bytes_of(mine.dump()));
    const nlohmann::json theirs = nlohmann::json::parse(string_of(impl_->store->get(key)));
    const std::string diff = first_difference(theirs, mine);
    if (!diff.empty()) verdict = diff + " on rank " + std::to_string(env_.rank);
    impl_->store->set("steepest/config_check/" + std::to_string(env_.rank), bytes_of(verdict));
    for (int r = 0; r < env_.world_size && verdict.empty(); ++r)
      verdict = string_of(impl_->store->get("steepest/config_check/" + std::to_string(r)));
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(env_.rank) +
                             ": comparing configs with the other ranks failed: " + e.what());
  }
  if (!verdict.empty())
    throw std::invalid_argument("the ranks were started with different configs: " + verdict +
                                "; every rank needs the same command line (torchrun style)");
}

void average_gradients(const std::vector<at::Tensor>& params, Collectives& comm,
                       int64_t bucket_floats) {
  if (comm.world_size() == 1) return;
  std::vector<at::Tensor> grads;
  for (auto p : params) {
    if (!p.grad().defined()) p.mutable_grad() = at::zeros_like(p);
    grads.push_back(p.grad());
  }
  const double inv = 1.0 / comm.world_size();
  size_t begin = 0;
  while (begin < grads.size()) {
    size_t end = begin;
    int64_t n = 0;
    while (end < grads.size() && (end == begin || n + grads[end].numel() <= bucket_floats))
      n += grads[end++].numel();
    std::vector<at::Tensor> parts;
    for (size_t i = begin; i < end; ++i) parts.push_back(grads[i].reshape(-1).to(at::kFloat));
    at::Tensor flat = at::cat(parts);
    comm.all_reduce_sum(flat);
    flat.mul_(inv);
    int64_t off = 0;
    for (size_t i = begin; i < end; ++i) {
      const int64_t k = grads[i].numel();
      grads[i].copy_(flat.narrow(0, off, k).view(grads[i].sizes()));
      off += k;
    }
    begin = end;
  }
}

namespace {

std::string describe_status(int status) {
  if (WIFSIGNALED(status))
    return "was killed by signal " + std::to_string(WTERMSIG(status)) +
           (WTERMSIG(status) == SIGKILL ? " (SIGKILL)" : "");
  return "exited with code " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

int free_local_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("free_local_port: cannot open a socket");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("free_local_port: cannot bind a port on 127.0.0.1");
  }
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

int launch_local_ranks(int nproc, const std::vector<std::string>& argv,
                       std::chrono::milliseconds grace) {
  if (nproc < 1) throw std::invalid_argument("--nproc must be >= 1, got " + std::to_string(nproc));
  const int port = free_local_port();
  std::vector<std::string> base_env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const std::string k = kv.substr(0, kv.find('='));
    if (k == "RANK" || k == "WORLD_SIZE" || k == "LOCAL_RANK" || k == "LOCAL_WORLD_SIZE" ||
        k == "MASTER_ADDR" || k == "MASTER_PORT")
      continue;
    base_env.push_back(kv);
  }
  std::vector<pid_t> pids;
  for (int r = 0; r < nproc; ++r) {
    std::vector<std::string> env = base_env;
    env.push_back("RANK=" + std::to_string(r));
    env.push_back("LOCAL_RANK=" + std::to_string(r));
    env.push_back("WORLD_SIZE=" + std::to_string(nproc));
    env.push_back("LOCAL_WORLD_SIZE=" + std::to_string(nproc));
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back("MASTER_PORT=" + std::to_string(port));
    std::vector<char*> cargv, cenv;
    for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
    cargv.push_back(nullptr);
    for (const auto& a : env) cenv.push_back(const_cast<char*>(a.c_str()));
    cenv.push_back(nullptr);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0].c_str(), nullptr, nullptr, cargv.data(), cenv.data());
    if (rc != 0) {
      for (pid_t p : pids) ::kill(p, SIGKILL);
      throw std::runtime_error("--nproc: cannot start rank " + std::to_string(r) + " ('" + argv[0] +
                               "', errno " + std::to_string(rc) + ")");
    }
    pids.push_back(pid);
  }
  std::vector<bool> done(static_cast<size_t>(nproc), false), killed(done);
  int first_failed = -1, remaining = nproc;
  bool first_signaled = false;
  std::string failure;
  Clock::time_point failed_at{};
  while (remaining > 0) {
    bool progressed = false;
    for (int r = 0; r < nproc; ++r) {
      if (done[static_cast<size_t>(r)]) continue;
      int status = 0;
      const pid_t got = ::waitpid(pids[static_cast<size_t>(r)], &status, WNOHANG);
      if (got == 0) continue;
      done[static_cast<size_t>(r)] = true;
      --remaining;
      progressed = true;
      const bool ok = got > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (ok) continue;
      // A rank killed by a signal is the cause; the others' errors follow from it.
      const bool signaled = got > 0 && WIFSIGNALED(status) && !killed[static_cast<size_t>(r)];
      if (first_failed < 0 || (signaled && !first_signaled)) {
        first_failed = r;
        first_signaled = signaled;
        failure = got > 0 ? describe_status(status) : "could not be waited for";
        if (failed_at == Clock::time_point{}) failed_at = Clock::now();
      }
    }
    if (remaining > 0 && first_failed >= 0 && Clock::now() - failed_at > grace) {
      for (int r = 0; r < nproc; ++r)
        if (!done[static_cast<size_t>(r)] && !killed[static_cast<size_t>(r)]) {
          ::kill(pids[static_cast<size_t>(r)], SIGKILL);
          killed[static_cast<size_t>(r)] = true;
        }
    }
    if (!progressed) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (first_failed >= 0) {
    std::fprintf(stderr,
                 "steepest: rank %d of %d %s; the other ranks were stopped (a checkpoint is only "
                 "ever replaced whole, so the last one is intact)\n",
                 first_failed, nproc, failure.c_str());
    return 1;
  }
  return 0;
}

}  // namespace steepest
