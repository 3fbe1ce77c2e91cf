// Data-parallel training on PyTorch's c10d: where this process sits in the job
// (torchrun's environment), the Gloo process group behind steepest's
// Collectives, the gradient average, and `steepest train --nproc N`, which
// starts N local ranks. docs/DISTRIBUTED.md explains the whole path.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "steepest/optim/collectives.h"

namespace steepest {

// Where this process sits in a data-parallel job.
struct DistEnv {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool active() const { return world_size > 1; }
};

// From torchrun's RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT.
// None set: one process. WORLD_SIZE set without RANK (or the reverse), a value
// that is not digits only (" 1" too), or RANK outside [0, WORLD_SIZE) throws
// naming the variable.
DistEnv dist_env_from_environment();

// c10d's ProcessGroupGloo behind Collectives. Rendezvous through a TCPStore
// at master_addr:master_port that rank 0 serves (libtorch 1.13's TCPStore
// listens on every interface: it has no address option); every collective
// and the rendezvous give up after `timeout` (a lost rank then surfaces as an
// error naming it instead of a hang). Where libtorch has no timeout of its own
// (1.13's store replies), a watchdog ends the process with our message
// `timeout` + 3 s later. Rendezvous failures throw one sentence: the host and
// port, what failed (unresolvable, refused, port in use, timed out, WORLD_SIZE
// or RANK clash) and the fix; c10d's own log lines are silenced unless
// TORCH_CPP_LOG_LEVEL is set.
class GlooCollectives : public Collectives {
 public:
  GlooCollectives(const DistEnv& env, std::chrono::milliseconds timeout);
  ~GlooCollectives() override;

  int rank() const override { return env_.rank; }
  int world_size() const override { return env_.world_size; }
  void all_reduce_sum(at::Tensor& flat) override;
  at::Tensor all_gather(const at::Tensor& flat) override;
  void broadcast(at::Tensor& flat, int root) override;

  // Every rank compares its resolved config with rank 0's. On a mismatch every
  // rank throws, naming the first differing key, its two values and the rank.
  void check_same_config(const nlohmann::json& config);

 private:
  // "rank 1 (pid 4242)": the ranks on this host whose process is gone.
  std::string lost_ranks() const;
  template <typename F>
  void run(const char* what, int64_t bytes, F&& f);

  struct Impl;
  DistEnv env_;
  std::unique_ptr<Impl> impl_;
};

// Averages the gradients of `params` over ranks: flat fp32 buckets of at most
// `bucket_floats` elements, summed by all-reduce and divided by the world
// size. A parameter without a gradient contributes zeros and gets a zero
// gradient, so every rank joins every collective.
void average_gradients(const std::vector<at::Tensor>& params, Collectives& comm,
                       int64_t bucket_floats = int64_t{1} << 22);

// A TCP port on 127.0.0.1 that was free a moment ago (the OS picks it).
int free_local_port();

// The most ranks `--nproc` starts on one host: each is a whole process with
// its own model and a Gloo connection to every other rank (rank 0 also holds
// one store connection per rank), so 256 keeps every rank well below the
// common 1024 open-file limit.
constexpr int kMaxLocalRanks = 256;

// Checks `--nproc N` before anything starts: N in [1, kMaxLocalRanks] (1: one
// process) and the global batch divisible by N, with the ranks' own message.
void check_nproc(int nproc, int64_t batch);

// In a rank started by `--nproc` (STEEPEST_LAUNCHER_PID set): the rank gets
// SIGTERM when the launcher dies, even by kill -9; throws if it already has.
void follow_launcher();

// `steepest train --nproc N`: runs `argv` (this executable and its arguments,
// without --nproc) N times with torchrun's variables set (MASTER_ADDR
// 127.0.0.1, a free MASTER_PORT) and waits; only rank 0 prints progress. When
// a rank fails (exit code or signal, e.g. kill -9), the others get `grace` to
// exit on their own before they are killed, and stderr names the first rank
// that failed and how. SIGTERM, SIGINT or SIGHUP to the launcher is passed on
// to every rank, which get 5 s before SIGKILL. Returns 0 if every rank
// succeeded, 128 + the signal if one stopped the launcher, else 1.
int launch_local_ranks(int nproc, const std::vector<std::string>& argv,
                       std::chrono::milliseconds grace);

}  // namespace steepest
