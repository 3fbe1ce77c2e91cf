#include "steepest/train/distributed.h"
#include "util/stop_signals.h"

#include <arpa/inet.h>
#include <c10/util/Exception.h>
#include <c10/util/Logging.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "steepest/compat.h"

extern char** environ;

namespace steepest {
namespace {

using Clock = std::chrono::steady_clock;

// A deadline of our own lies this far behind --dist-timeout, so that
// libtorch's own timeout (with its more specific error) normally ends first.
constexpr std::chrono::milliseconds kWatchdogSlack{3000};

// Digits only: strtol would also take " 1", "+1" or "1 " for RANK.
int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  const std::string text = v;
  if (text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos)
    throw std::invalid_argument(std::string("environment variable ") + name + "='" + text +
                                "' is not a non-negative integer (digits only, no spaces or sign)");
  return std::stoi(text);
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

// libtorch's c10::Error carries a 16-frame backtrace in what(); users get the sentence.
std::string error_text(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

bool is_timeout(const std::string& text) {
  return text.find("imeout") != std::string::npos || text.find("timed out") != std::string::npos;
}

// c10d logs each failed bind/connect attempt through glog before our message
// (with glog's "Logging before InitGoogleLogging()"); its C10D_* macros are
// gated by c10's caffe2_log_level, so FATAL silences them without touching
// TORCH_WARN. TORCH_CPP_LOG_LEVEL, c10's own switch, wins when set.
void quiet_c10d_logging() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("TORCH_CPP_LOG_LEVEL") != nullptr)
      c10::initLogging();
    else
      FLAGS_caffe2_log_level = 3;  // FATAL
  });
}

// Ends the process with our message when a libtorch call outlives its
// deadline: 1.13's TCPStore reads some replies without any socket timeout,
// so a port that accepts but never answers would hang a rank forever.
class Watchdog {
 public:
  Watchdog() : thread_([this] { loop(); }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  void arm(std::chrono::milliseconds after, std::function<std::string()> message) {
    {
      std::lock_guard<std::mutex> l(m_);
      deadline_ = Clock::now() + after;
      message_ = std::move(message);
      armed_ = true;
    }
    cv_.notify_all();
  }
  void disarm() {
    std::lock_guard<std::mutex> l(m_);
    armed_ = false;
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> l(m_);
    while (!stop_) {
      if (!armed_) {
        cv_.wait(l);
        continue;
      }
      cv_.wait_until(l, deadline_);
      if (stop_ || !armed_ || Clock::now() < deadline_) continue;
      const std::string text = "steepest: error: " + message_() + "\n";
      for (size_t at = 0; at < text.size();) {
        const ssize_t n = ::write(2, text.data() + at, text.size() - at);
        if (n <= 0) break;
        at += static_cast<size_t>(n);
      }
      std::_Exit(1);
    }
  }
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false, armed_ = false;
  Clock::time_point deadline_{};
  std::function<std::string()> message_;
  std::thread thread_;  // last: starts once the members above exist
};

// Disarms the watchdog when the guarded call ends, by return or by throw.
struct Armed {
  Watchdog& dog;
  Armed(Watchdog& d, std::chrono::milliseconds after, std::function<std::string()> message)
      : dog(d) {
    dog.arm(after, std::move(message));
  }
  ~Armed() { dog.disarm(); }
  Armed(const Armed&) = delete;
  Armed& operator=(const Armed&) = delete;
};

std::string seconds_text(std::chrono::milliseconds t) {
  const auto ms = t.count();
  return (ms % 1000 == 0 ? std::to_string(ms / 1000) : std::to_string(ms / 1000.0)) + " s";
}

std::string host_port(const std::string& host, int port) {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

// Why `host` does not resolve, or "" if it does.
std::string resolve_error(const std::string& host) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc == 0) {
    ::freeaddrinfo(res);
    return "";
  }
  return rc == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(rc);
}

// errno of binding `port` on every interface, as 1.13's TCPStore server does
// ([::] dual-stack, else 0.0.0.0, with SO_REUSEADDR); 0 if it is free.
int bind_errno(int port) {
  const int one = 1, zero = 0;
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int err = 0;
  if (fd >= 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons(static_cast<uint16_t>(port));
    err = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 0 : errno;
    ::close(fd);
    return err;
  }
  fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_ANY);
  a.sin_port = htons(static_cast<uint16_t>(port));
  err = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

// A socket bound to `host`'s first address and `port`, listening (SO_REUSEADDR,
// as TCPStore's own): the rendezvous server's, where the store can adopt one
// (compat::adopt_listening_socket). Returns the descriptor, or -errno.
int listen_on(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0)
    return -EADDRNOTAVAIL;
  const int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, 0);
  int err = fd < 0 ? errno : 0;
  if (fd >= 0) {
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd, SOMAXCONN) != 0) {
      err = errno;
      ::close(fd);
    }
  }
  ::freeaddrinfo(res);
  return err != 0 ? -err : fd;
}

// errno of one connection attempt to host:port within `wait` (0: connected).
int connect_errno(const std::string& host, int port, std::chrono::milliseconds wait) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0)
    return EHOSTUNREACH;
  int err = ECONNREFUSED;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      err = 0;
    } else if (errno != EINPROGRESS) {
      err = errno;
    } else {
      pollfd p{fd, POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) {
        err = ETIMEDOUT;
      } else {
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
    }
    ::close(fd);
    if (err == 0) break;
  }
  ::freeaddrinfo(res);
  return err;
}

std::string port_error(int port, int err) {
  const std::string p = std::to_string(port);
  if (err == EADDRINUSE)
    return "port " + p +
           " is in use on this host (binding it failed at once), so rank 0 cannot serve the "
           "rendezvous there: stop what holds it (another run?) or choose another MASTER_PORT, "
           "the same for every rank";
  return "rank 0 cannot serve the rendezvous on port " + p + " (" + std::strerror(err) +
         (err == EACCES ? "; ports below 1024 need privileges" : "") +
         (err == EADDRNOTAVAIL ? "; MASTER_ADDR must be an address of rank 0's own host" : "") +
         "): choose another MASTER_PORT, the same for every rank";
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
  Watchdog watchdog;  // first: destroyed after the store and group it guards
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  std::chrono::milliseconds timeout;
  // Each rank's host and pid, exchanged at start: when a collective fails, the
  // ranks on this host that no longer run are named.
  std::vector<std::pair<std::string, pid_t>> procs;
};

namespace {

// Our own rendezvous failures, already worded for the user.
struct RendezvousError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// "4 myhost 1234" → (4, "myhost", 1234): a rank's WORLD_SIZE, host and pid.
struct RankEntry {
  int world = 0;
  std::string host;
  pid_t pid = 0;
};
RankEntry parse_entry(const std::string& v) {
  const auto a = v.find(' '), b = v.rfind(' ');
  if (a == std::string::npos || a == b)
    throw RendezvousError("unexpected rendezvous entry '" + v + "'");
  return {std::stoi(v.substr(0, a)), v.substr(a + 1, b - a - 1),
          static_cast<pid_t>(std::stol(v.substr(b + 1)))};
}

}  // namespace

// The rendezvous: resolve MASTER_ADDR; rank 0 serves the TCPStore, the others
// connect; every rank checks in under steepest/rank/<r> with its WORLD_SIZE,
// which rank 0 and each rank compare before Gloo sees them (a mismatch would
// otherwise end in gloo's "enforce fail at address.cc"); rank 0 answers
// steepest/result ("ok" or why not) once all have; then the Gloo group.
GlooCollectives::GlooCollectives(const DistEnv& env, std::chrono::milliseconds timeout)
    : env_(env), impl_(std::make_unique<Impl>()) {
  quiet_c10d_logging();
  impl_->timeout = timeout;
  const std::string who =
      "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size);
  const std::string where = host_port(env.master_addr, env.master_port);
  const std::string secs = seconds_text(timeout);
  const std::string retry =
      "every rank needs the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE; --dist-timeout sets "
      "how long to wait";
  const auto fail = [&](const std::string& what) { return RendezvousError(who + ": " + what); };
  try {
    const std::string refused = "nothing accepted a connection at " + where + " within " + secs +
                                " (connection refused): start rank 0, which serves the "
                                "rendezvous there; " +
                                retry;
    // PyTorch 2.x's store client keeps retrying a refused connection past
    // its timeout, so the watchdog may be what ends it: it names the cause too.
    Armed guard(impl_->watchdog, timeout + kWatchdogSlack, [=] {
      if (env.rank != 0 &&
          connect_errno(env.master_addr, env.master_port, std::chrono::seconds(1)) == ECONNREFUSED)
        return who + ": " + refused;
      return who + ": the rendezvous at " + where + " did not finish within " + secs +
             " (--dist-timeout): rank 0 is not answering; " + retry;
    });
    if (const std::string err = resolve_error(env.master_addr); !err.empty())
      throw fail("cannot resolve MASTER_ADDR '" + env.master_addr + "' (" + err +
                 "): set it to rank 0's host name or IP address, the same for every rank");
    // 1.13's store binds every interface itself: try that first, for our
    // message. Where it adopts our socket, binding that socket is the check.
    if (env.rank == 0 && !compat::kStoreAdoptsListeningSocket)
      if (const int err = bind_errno(env.master_port); err != 0)
        throw fail(port_error(env.master_port, err));
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(env.master_port);
    so.isServer = env.rank == 0;
    so.numWorkers = static_cast<std::size_t>(env.world_size);
    // Our own check-in below waits, names missing ranks and a WORLD_SIZE
    // mismatch; TCPStore's would only count them (and reads its reply with no
    // socket timeout: a silent port would hang it).
    so.waitWorkers = false;
    so.timeout = timeout;
    // Where the store can take our socket (PyTorch 2.x), it listens on
    // MASTER_ADDR alone; 1.13's binds every interface (docs/DISTRIBUTED.md).
    if (env.rank == 0 && compat::kStoreAdoptsListeningSocket) {
      const int fd = listen_on(env.master_addr, env.master_port);
      if (fd < 0) throw fail(port_error(env.master_port, -fd));
      compat::adopt_listening_socket(so, fd);  // the store owns it now
    }
    try {
      impl_->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    } catch (const std::exception& e) {
      if (env.rank == 0) {
        const int err = bind_errno(env.master_port);
        throw fail(err != 0 ? port_error(env.master_port, err)
                            : "cannot serve the rendezvous on port " +
                                  std::to_string(env.master_port) + ": " + error_text(e));
      }
      const int err = connect_errno(env.master_addr, env.master_port, std::chrono::seconds(1));
      if (err == ECONNREFUSED) throw fail(refused);
      throw fail("could not connect to " + where + " within " + secs + " (" +
                 (err != 0 ? std::string(std::strerror(err)) : error_text(e)) +
                 "): check MASTER_ADDR/MASTER_PORT, and that rank 0's host accepts connections "
                 "on port " +
                 std::to_string(env.master_port) + "; " + retry);
    }
    auto& store = *impl_->store;
    const std::string me = std::to_string(env.rank);
    char host[256] = {0};
    ::gethostname(host, sizeof(host) - 1);
    const std::string entry =
        std::to_string(env.world_size) + " " + host + " " + std::to_string(::getpid());
    const auto key = [](int r) { return "steepest/rank/" + std::to_string(r); };
    if (env.rank == 0) {
      store.set(key(0), bytes_of(entry));
      std::vector<std::string> others;
      for (int r = 1; r < env.world_size; ++r) others.push_back(key(r));
      const auto deadline = Clock::now() + timeout;
      std::string verdict;
      int joined = 0;
      for (;;) {
        if (store.check({"steepest/verdict"})) {
          verdict = string_of(store.get("steepest/verdict"));
          break;
        }
        if (store.check(others)) break;
        if (Clock::now() > deadline) {
          std::string missing;
          for (int r = 1; r < env.world_size; ++r)
            if (!store.check({key(r)}))
              missing += (missing.empty() ? "" : ", ") + std::to_string(r);
          verdict = "timed out after " + secs + " waiting for rank " + missing + " to join at " +
                    where + "; " + retry;
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      store.set("steepest/result", bytes_of(verdict.empty() ? "ok" : verdict));
      if (!verdict.empty()) {
        // Keep the store up briefly so the ranks that joined read why.
        for (int r = 1; r < env.world_size; ++r) joined += store.check({key(r)}) ? 1 : 0;
        const auto until =
            Clock::now() + std::min<std::chrono::milliseconds>(timeout, std::chrono::seconds(1));
        while (store.add("steepest/read_result", 0) < joined && Clock::now() < until)
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        throw fail(verdict);
      }
    } else {
      // The first reply: from a port that accepts but is not rank 0's store,
      // this get ends with a socket timeout (TCPStore's wait sets one).
      RankEntry first;
      try {
        first = parse_entry(string_of(store.get(key(0))));
      } catch (const RendezvousError&) {
        throw;
      } catch (const std::exception& e) {
        const std::string text = error_text(e);
        if (is_timeout(text))
          throw fail("the rendezvous at " + where + " timed out after " + secs +
                     ": something accepted the connection but did not answer as rank 0's "
                     "store (is MASTER_PORT another program's port?); " +
                     retry);
        throw fail("lost the connection to " + where + " during the rendezvous (" + text +
                   "): rank 0 stopped? see its message");
      }
      const int64_t claims = store.add("steepest/claim/" + me, 1);
      store.set(key(env.rank), bytes_of(entry));
      std::string verdict;
      if (first.world != env.world_size)
        verdict = "rank " + me + " has WORLD_SIZE=" + std::to_string(env.world_size) +
                  " but rank 0 has " + std::to_string(first.world) +
                  "; every rank needs the same WORLD_SIZE";
      else if (claims > 1)
        verdict = "two processes were started with RANK=" + me +
                  "; each rank needs its own RANK in [0, WORLD_SIZE)";
      if (!verdict.empty()) {
        store.set("steepest/verdict", bytes_of(verdict));
        throw fail(verdict);
      }
      std::string result;
      try {
        result = string_of(store.get("steepest/result"));
        store.add("steepest/read_result", 1);
      } catch (const std::exception& e) {
        throw fail("rank 0 did not confirm the rendezvous at " + where + " within " + secs + " (" +
                   error_text(e) + "): is a rank missing? see rank 0's message; " + retry);
      }
      if (result != "ok") throw fail("rank 0 reports: " + result);
    }
    for (int r = 0; r < env.world_size; ++r) {
      const RankEntry e = parse_entry(string_of(store.get(key(r))));
      impl_->procs.emplace_back(e.host, e.pid);
    }
  } catch (const RendezvousError&) {
    throw;
  } catch (const std::exception& e) {
    throw fail("the rendezvous at " + where + " failed: " + error_text(e) + "; " + retry);
  }
  try {
    Armed guard(impl_->watchdog, timeout + kWatchdogSlack, [=] {
      return who + ": connecting the Gloo process group did not finish within " + secs +
             " (--dist-timeout)";
    });
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    opts->devices.push_back(is_loopback(env.master_addr)
                                ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                : c10d::ProcessGroupGloo::createDefaultDevice());
    opts->threads = 1;
    impl_->pg =
        c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, env.rank, env.world_size, opts);
  } catch (const std::exception& e) {
    throw fail("connecting the Gloo process group failed within " + secs + ": " + error_text(e));
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
    Armed guard(impl_->watchdog, impl_->timeout + kWatchdogSlack, [this, what] {
      return "rank " + std::to_string(env_.rank) + ": " + what + " did not finish within " +
             seconds_text(impl_->timeout) + " (--dist-timeout): another rank is gone or stuck";
    });
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
                             ": " + error_text(e));
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
    Armed guard(impl_->watchdog, impl_->timeout + kWatchdogSlack, [this] {
      return "rank " + std::to_string(env_.rank) + ": comparing configs with the other ranks " +
             "did not finish within " + seconds_text(impl_->timeout) + " (--dist-timeout)";
    });
    if (env_.rank == 0) impl_->store->set(key, bytes_of(mine.dump()));
    const nlohmann::json theirs = nlohmann::json::parse(string_of(impl_->store->get(key)));
    const std::string diff = first_difference(theirs, mine);
    if (!diff.empty()) verdict = diff + " on rank " + std::to_string(env_.rank);
    impl_->store->set("steepest/config_check/" + std::to_string(env_.rank), bytes_of(verdict));
    for (int r = 0; r < env_.world_size && verdict.empty(); ++r)
      verdict = string_of(impl_->store->get("steepest/config_check/" + std::to_string(r)));
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(env_.rank) +
                             ": comparing configs with the other ranks failed: " + error_text(e));
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

const char* signal_name(int sig) {
  return sig == SIGTERM  ? "SIGTERM"
         : sig == SIGINT ? "SIGINT"
         : sig == SIGHUP ? "SIGHUP"
                         : "a signal";
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

void check_nproc(int nproc, int64_t batch) {
  if (nproc < 1)
    throw std::invalid_argument("--nproc must be at least 1, got " + std::to_string(nproc) +
                                " (1 runs one process, as without --nproc)");
  if (nproc > kMaxLocalRanks)
    throw std::invalid_argument(
        "--nproc " + std::to_string(nproc) + " is more than " + std::to_string(kMaxLocalRanks) +
        " local ranks (each is a whole process with its own model and Gloo connections to all "
        "the others); for more, start ranks on several hosts with torchrun's variables");
  if (batch % nproc != 0)
    throw std::invalid_argument("--batch " + std::to_string(batch) +
                                " is the global batch and must divide by the " +
                                std::to_string(nproc) + " ranks");
}

void follow_launcher() {
  const char* launcher = std::getenv("STEEPEST_LAUNCHER_PID");
  if (launcher == nullptr) return;
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  // The launcher may have died before prctl: then this rank has been
  // re-parented already and no signal will come.
  if (std::to_string(::getppid()) != launcher)
    throw std::runtime_error(std::string("the --nproc launcher (pid ") + launcher +
                             ") is gone; this rank stops");
}

int launch_local_ranks(int nproc, const std::vector<std::string>& argv,
                       std::chrono::milliseconds grace) {
  if (nproc < 1 || nproc > kMaxLocalRanks)
    throw std::invalid_argument("--nproc must be in [1, " + std::to_string(kMaxLocalRanks) +
                                "], got " + std::to_string(nproc));
  // SIGTERM, SIGINT or SIGHUP to the launcher: forwarded to the ranks by the wait loop.
  const detail::StopSignals stop_signals({SIGTERM, SIGINT, SIGHUP});
  const int port = free_local_port();
  std::vector<std::string> base_env;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv = *e;
    const std::string k = kv.substr(0, kv.find('='));
    if (k == "RANK" || k == "WORLD_SIZE" || k == "LOCAL_RANK" || k == "LOCAL_WORLD_SIZE" ||
        k == "MASTER_ADDR" || k == "MASTER_PORT" || k == "STEEPEST_LAUNCHER_PID")
      continue;
    base_env.push_back(kv);
  }
  base_env.push_back("STEEPEST_LAUNCHER_PID=" + std::to_string(::getpid()));
  std::vector<pid_t> pids;
  for (int r = 0; r < nproc && detail::g_stop_signal == 0; ++r) {
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
      for (pid_t p : pids) ::waitpid(p, nullptr, 0);
      throw std::runtime_error("--nproc: cannot start rank " + std::to_string(r) + " ('" + argv[0] +
                               "', errno " + std::to_string(rc) + ")");
    }
    pids.push_back(pid);
  }
  const int started = static_cast<int>(pids.size());
  std::vector<bool> done(static_cast<size_t>(started), false), killed(done);
  int first_failed = -1, remaining = started, stopped_by = 0;
  bool first_signaled = false;
  std::string failure;
  Clock::time_point failed_at{}, stop_at{};
  const auto kill_the_rest = [&] {
    for (int r = 0; r < started; ++r)
      if (!done[static_cast<size_t>(r)] && !killed[static_cast<size_t>(r)]) {
        ::kill(pids[static_cast<size_t>(r)], SIGKILL);
        killed[static_cast<size_t>(r)] = true;
      }
  };
  while (remaining > 0) {
    // Only pids not yet reaped are signalled: those cannot have been reused.
    if (const int sig = detail::g_stop_signal; sig != 0 && stopped_by == 0) {
      stopped_by = sig;
      stop_at = Clock::now();
      for (int r = 0; r < started; ++r)
        if (!done[static_cast<size_t>(r)]) ::kill(pids[static_cast<size_t>(r)], sig);
    }
    bool progressed = false;
    for (int r = 0; r < started; ++r) {
      if (done[static_cast<size_t>(r)]) continue;
      int status = 0;
      const pid_t got = ::waitpid(pids[static_cast<size_t>(r)], &status, WNOHANG);
      if (got == 0 || (got < 0 && errno == EINTR)) continue;
      done[static_cast<size_t>(r)] = true;
      --remaining;
      progressed = true;
      const bool ok = got > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
      if (ok || stopped_by != 0) continue;
      // A rank killed by a signal is the cause; the others' errors follow from it.
      const bool signaled = got > 0 && WIFSIGNALED(status) && !killed[static_cast<size_t>(r)];
      if (first_failed < 0 || (signaled && !first_signaled)) {
        first_failed = r;
        first_signaled = signaled;
        failure = got > 0 ? describe_status(status) : "could not be waited for";
        if (failed_at == Clock::time_point{}) failed_at = Clock::now();
      }
    }
    // Stopped ranks get a few seconds to exit on their own, failed ones `grace`.
    if (remaining > 0 && stopped_by != 0 && Clock::now() - stop_at > std::chrono::seconds(5))
      kill_the_rest();
    if (remaining > 0 && stopped_by == 0 && first_failed >= 0 && Clock::now() - failed_at > grace)
      kill_the_rest();
    if (!progressed) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (stopped_by != 0) {
    std::fprintf(stderr,
                 "steepest: stopped by %s; it was passed on to the %d ranks, which have "
                 "exited\n",
                 signal_name(stopped_by), started);
    return 128 + stopped_by;
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
