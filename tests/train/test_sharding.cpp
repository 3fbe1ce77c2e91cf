// The sharded Muon step against the unsharded one, with three ranks as
// threads of this process on a real Gloo process group (as PyTorch's own
// ProcessGroupGlooTest does), and five matrices, so the ranks own unequal shares.
#include <gtest/gtest.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <ATen/CPUGeneratorImpl.h>

#include <functional>
#include <sstream>
#include <thread>

#include "steepest/optim/muon.h"
#include "steepest/optim/sharded.h"
#include "steepest/train/distributed.h"

namespace steepest {
namespace {

TEST(AssignOwners, BalancesPredictedCostDeterministically) {
  // Largest first, each to the least-loaded rank (ties: lower rank).
  EXPECT_EQ(assign_owners({5, 3, 3, 1}, 2), (std::vector<int>{0, 1, 1, 0}));
  EXPECT_EQ(assign_owners({1, 1, 1, 1, 1}, 3), (std::vector<int>{0, 1, 2, 0, 1}));
  EXPECT_EQ(assign_owners({2, 7}, 1), (std::vector<int>{0, 0}));
  // More ranks than matrices: some own nothing.
  EXPECT_EQ(assign_owners({4, 4}, 3), (std::vector<int>{0, 1}));
  // Greedy balance: no rank exceeds the mean by more than the largest item.
  const std::vector<double> costs = {9, 8, 7, 6, 5, 4, 3, 2, 1, 1, 1};
  const auto owner = assign_owners(costs, 3);
  std::vector<double> load(3, 0);
  for (size_t i = 0; i < costs.size(); ++i) load[static_cast<size_t>(owner[i])] += costs[i];
  const double total = load[0] + load[1] + load[2];
  for (double l : load) EXPECT_LE(l, total / 3 + 9) << l;
  EXPECT_THROW(assign_owners({1}, 0), c10::Error);
}

// Runs body(rank, collectives) on `world` threads, each rank on one real Gloo
// group over 127.0.0.1; returns each rank's exception text ("" if none).
std::vector<std::string> run_ranks(
    int world, const std::function<void(int, std::shared_ptr<Collectives>)>& body) {
  const int port = free_local_port();
  std::vector<std::string> errors(static_cast<size_t>(world));
  std::vector<std::thread> ranks;
  for (int r = 0; r < world; ++r)
    ranks.emplace_back([&, r] {
      try {
        DistEnv env;
        env.rank = r;
        env.world_size = world;
        env.master_port = port;
        body(r, std::make_shared<GlooCollectives>(env, std::chrono::seconds(30)));
      } catch (const std::exception& e) {
        errors[static_cast<size_t>(r)] = e.what();
      }
    });
  for (auto& t : ranks) t.join();
  return errors;
}

// Five matrices of three shapes, the same on every rank (seeded), and the
// gradients of step s (also seeded): what an all-reduce would leave everywhere.
std::vector<NamedParameter> matrices() {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(7);
  std::vector<NamedParameter> out;
  const std::vector<std::pair<int64_t, int64_t>> shapes = {
      {8, 8}, {32, 8}, {8, 32}, {8, 8}, {16, 8}};
  for (size_t i = 0; i < shapes.size(); ++i)
    out.emplace_back("m" + std::to_string(i),
                     at::randn({shapes[i].first, shapes[i].second}, gen).set_requires_grad(true));
  return out;
}
void set_grads(const std::vector<NamedParameter>& ps, int step) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(100 + step);
  for (const auto& [n, p] : ps) p.mutable_grad() = at::randn(p.sizes(), gen);
}

TEST(ShardedOptimizer, ThreeRanksMatchTheUnshardedStepAndGatherItsState) {
  const int world = 3, steps = 3;
  // The reference: one unsharded Muon.
  const auto ref = matrices();
  Muon ref_opt(ref, MuonOptions(0.05));
  for (int s = 0; s < steps; ++s) {
    set_grads(ref, s);
    ref_opt.step();
  }

  std::vector<std::vector<at::Tensor>> finals(world);
  std::vector<std::vector<int>> owners(world);
  std::vector<int64_t> state_bytes(world);
  std::string saved;
  const auto errors = run_ranks(world, [&](int r, std::shared_ptr<Collectives> comm) {
    const auto ps = matrices();
    ShardedOptimizer opt(std::make_unique<Muon>(ps, MuonOptions(0.05)), comm);
    for (int s = 0; s < steps; ++s) {
      set_grads(ps, s);
      opt.step();
    }
    owners[r] = opt.owners();
    state_bytes[r] = opt.state_bytes();
    torch::serialize::OutputArchive a;
    opt.save(a);  // collective
    if (r == 0) {
      std::ostringstream out;
      a.save_to(out);
      saved = out.str();
    }
    for (const auto& [n, p] : ps) finals[r].push_back(p.detach().clone());
  });
  for (int r = 0; r < world; ++r) ASSERT_EQ(errors[r], "") << "rank " << r;

  // Every rank holds every updated matrix, equal to the unsharded step.
  for (int r = 0; r < world; ++r)
    for (size_t i = 0; i < ref.size(); ++i)
      EXPECT_LT((finals[r][i] - ref[i].second).abs().max().item<double>(), 1e-6)
          << "rank " << r << " matrix " << i;
  // Each matrix has exactly one owner, and every rank computed the same table;
  // five matrices on three ranks: someone owns two, nobody holds all state.
  EXPECT_EQ(owners[0], owners[1]);
  EXPECT_EQ(owners[0], owners[2]);
  std::vector<int> count(world, 0);
  for (int o : owners[0]) ++count[static_cast<size_t>(o)];
  for (int c : count) EXPECT_GE(c, 1);
  for (int r = 0; r < world; ++r) EXPECT_LT(state_bytes[r], ref_opt.state_bytes()) << r;
  EXPECT_EQ(state_bytes[0] + state_bytes[1] + state_bytes[2], ref_opt.state_bytes());

  // Rank 0's archive is an ordinary unsharded checkpoint: it loads into one
  // Muon, and that Muon's state equals the reference's.
  const auto fresh = matrices();
  Muon loaded(fresh, MuonOptions(0.05));
  torch::serialize::InputArchive in;
  std::istringstream is(saved);
  in.load_from(is);
  loaded.load(in);
  EXPECT_EQ(loaded.state_bytes(), ref_opt.state_bytes());
  set_grads(fresh, 99);
  set_grads(ref, 99);
  for (size_t i = 0; i < ref.size(); ++i) fresh[i].second.detach().copy_(ref[i].second.detach());
  loaded.step();
  ref_opt.step();
  for (size_t i = 0; i < ref.size(); ++i)
    EXPECT_LT((fresh[i].second - ref[i].second).abs().max().item<double>(), 1e-6) << i;
}

// Every rank joins every all-reduce: a parameter without a gradient on one
// rank counts as zeros there, and small buckets split the work without
// changing the result.
TEST(AverageGradients, ZeroFillsMissingGradientsAndBucketsGiveTheSameMean) {
  const int world = 2;
  std::vector<std::vector<at::Tensor>> got(world);
  const auto errors = run_ranks(world, [&](int r, std::shared_ptr<Collectives> comm) {
    std::vector<at::Tensor> ps = {at::zeros({3, 4}).set_requires_grad(true),
                                  at::zeros({5}).set_requires_grad(true),
                                  at::zeros({2, 2}).set_requires_grad(true)};
    ps[0].mutable_grad() = at::full({3, 4}, 1.0 + r);
    if (r == 0) ps[1].mutable_grad() = at::full({5}, 4.0);  // rank 1 has none
    ps[2].mutable_grad() = at::full({2, 2}, 10.0 * r);
    average_gradients(ps, *comm, /*bucket_floats=*/6);  // 3 buckets
    for (const auto& p : ps) got[r].push_back(p.grad().clone());
    EXPECT_GE(comm->stats().calls, 3);
  });
  for (int r = 0; r < world; ++r) {
    ASSERT_EQ(errors[r], "") << "rank " << r;
    EXPECT_TRUE(at::allclose(got[r][0], at::full({3, 4}, 1.5))) << r;
    EXPECT_TRUE(at::allclose(got[r][1], at::full({5}, 2.0))) << r;
    EXPECT_TRUE(at::allclose(got[r][2], at::full({2, 2}, 5.0))) << r;
  }
}

}  // namespace
}  // namespace steepest
