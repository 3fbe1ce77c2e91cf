// The Muon family's orthogonalization sharded across data-parallel ranks.
// Every hidden matrix has exactly one owner rank; only the owner keeps its
// momentum and state and runs its update rule. After the step the updated
// matrices travel to every rank in one all-gather of a flat fp32 buffer,
// padded to the largest rank's share (Gloo cannot all-gather differing sizes).
// The gradients must already be averaged over ranks (train/distributed.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "steepest/optim/collectives.h"
#include "steepest/optim/named_optimizer.h"

namespace steepest {

// Owners for matrices of the given predicted costs (FLOPs of one step):
// largest cost first (ties: lower index first), each to the rank with the least
// cost so far (ties: lower rank). Deterministic, so every rank computes the
// same table. Returns one rank per matrix.
std::vector<int> assign_owners(const std::vector<double>& costs, int world_size);

class ShardedOptimizer : public NamedOptimizer {
 public:
  // `inner` is the unsharded optimizer over every hidden matrix (a Muon-family
  // or Stiefel optimizer, one parameter group); owners are balanced by its
  // predicted_step_cost() FLOPs. world_size 1 is allowed (then nothing is sent).
  ShardedOptimizer(std::unique_ptr<NamedOptimizer> inner, std::shared_ptr<Collectives> comm);

  std::string kind() const override { return inner_->kind(); }
  // Steps the owned matrices (with this optimizer's current learning rates),
  // then all-gathers every updated matrix.
  at::Tensor step(LossClosure closure = nullptr) override;

  // Collective: every rank must call it. The archive gets the state of every
  // matrix, as the unsharded optimizer would write it (gathered from the owners).
  void save(torch::serialize::OutputArchive& archive) const override;
  // Every rank reads the full state, then keeps only the matrices it owns.
  void load(torch::serialize::InputArchive& archive) override;

  int64_t state_bytes() const override { return inner_->state_bytes(); }
  Cost predicted_step_cost(int64_t m, int64_t n) const override {
    return inner_->predicted_step_cost(m, n);
  }
  const std::vector<int>& owners() const { return owners_; }
  NamedOptimizer& inner() { return *inner_; }

 private:
  void drop_unowned_state();

  std::unique_ptr<NamedOptimizer> inner_;
  std::shared_ptr<Collectives> comm_;
  std::vector<int> owners_;         // per parameter of inner's group 0
  std::vector<int64_t> offsets_;    // per parameter: start in its owner's share
  std::vector<int64_t> share_len_;  // per rank: floats it owns
};

}  // namespace steepest
