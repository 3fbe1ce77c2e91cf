#include "steepest/optim/sharded.h"

#include <c10/util/Exception.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <sstream>

#include "optim/step_prologue.h"
#include "steepest/compat.h"

namespace steepest {

std::vector<int> assign_owners(const std::vector<double>& costs, int world_size) {
  TORCH_CHECK(world_size >= 1, "assign_owners: world size must be >= 1, got ", world_size);
  std::vector<size_t> order(costs.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return costs[a] > costs[b]; });
  std::vector<double> load(static_cast<size_t>(world_size), 0.0);
  std::vector<int> owner(costs.size(), 0);
  for (size_t i : order) {
    const auto least = std::min_element(load.begin(), load.end());  // first = lowest rank
    owner[i] = static_cast<int>(least - load.begin());
    *least += costs[i];
  }
  return owner;
}

namespace {

std::vector<torch::optim::OptimizerParamGroup> copy_groups(const NamedOptimizer& inner) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  for (const auto& g : inner.param_groups()) groups.emplace_back(g.params(), g.options().clone());
  return groups;
}

std::vector<std::string> names_of(const NamedOptimizer& inner) {
  std::vector<std::string> names;
  for (const auto& g : inner.param_groups())
    for (const auto& p : g.params()) names.push_back(inner.param_name(p));
  return names;
}

std::string key(size_t i) {
  return "p" + std::to_string(i) + ".";
}

}  // namespace

ShardedOptimizer::ShardedOptimizer(std::unique_ptr<NamedOptimizer> inner,
                                   std::shared_ptr<Collectives> comm)
    : NamedOptimizer(copy_groups(*inner), inner->defaults().clone(), names_of(*inner)),
      inner_(std::move(inner)),
      comm_(std::move(comm)) {
  TORCH_CHECK(comm_ != nullptr, "ShardedOptimizer: no collectives given");
  TORCH_CHECK(inner_->param_groups().size() == 1,
              "ShardedOptimizer: the inner optimizer must have one parameter group, it has ",
              inner_->param_groups().size());
  const auto& params = inner_->param_groups()[0].params();
  std::vector<double> costs;
  for (const auto& p : params)  // conv weights count as (out, in·kh·kw), as Muon steps them
    costs.push_back(inner_->predicted_step_cost(p.size(0), p.numel() / p.size(0)).total_flops());
  for (const auto& p : params)
    TORCH_CHECK(p.scalar_type() == params[0].scalar_type(),
                "ShardedOptimizer: every matrix must have one dtype; '", inner_->param_name(p),
                "' is ", p.scalar_type(), ", the first is ", params[0].scalar_type());
  // step() checks every gradient (its parameters are the inner one's), on every rank alike.
  inner_->set_gradient_checks(NamedOptimizer::GradientChecks::kNone);
  owners_ = assign_owners(costs, comm_->world_size());
  share_len_.assign(static_cast<size_t>(comm_->world_size()), 0);
  for (size_t i = 0; i < params.size(); ++i) {
    auto& len = share_len_[static_cast<size_t>(owners_[i])];
    offsets_.push_back(len);
    len += params[i].numel();
  }
}

at::Tensor ShardedOptimizer::step(LossClosure closure) {
  at::NoGradGuard no_grad;
  at::Tensor loss = detail::run_closure(closure);
  // The gradients are the same on every rank, so every rank stops here alike
  // (an owner stopping alone would leave the others in the all-gather).
  check_gradients();
  auto& inner_groups = inner_->param_groups();
  for (size_t g = 0; g < inner_groups.size(); ++g)
    inner_groups[g].options().set_lr(param_groups_[g].options().get_lr());
  const int me = comm_->rank();
  auto& params = inner_groups[0].params();
  // Only the owner steps a matrix: the others' gradients are hidden from the
  // inner optimizer, so it creates no state and runs no rule for them.
  std::vector<at::Tensor> hidden(params.size());
  for (size_t i = 0; i < params.size(); ++i)
    if (owners_[i] != me && params[i].grad().defined()) {
      hidden[i] = params[i].grad();
      params[i].mutable_grad() = at::Tensor();
    }
  auto restore = [&] {
    for (size_t i = 0; i < params.size(); ++i)
      if (hidden[i].defined()) params[i].mutable_grad() = hidden[i];
  };
  try {
    inner_->step();
  } catch (...) {
    restore();
    throw;
  }
  restore();
  step_cost_ = inner_->last_step_cost();
  if (comm_->world_size() == 1) return loss;
  // One all-gather of every rank's share, padded to the largest.
  const int64_t width = *std::max_element(share_len_.begin(), share_len_.end());
  at::Tensor mine = at::zeros({width}, params[0].options().requires_grad(false));
  for (size_t i = 0; i < params.size(); ++i)
    if (owners_[i] == me)
      mine.narrow(0, offsets_[i], params[i].numel()).copy_(params[i].reshape(-1));
  const at::Tensor all = comm_->all_gather(mine);
  for (size_t i = 0; i < params.size(); ++i)
    if (owners_[i] != me)
      params[i].view(-1).copy_(all[owners_[i]].narrow(0, offsets_[i], params[i].numel()));
  return loss;
}

void ShardedOptimizer::save(torch::serialize::OutputArchive& archive) const {
  const auto& params = inner_->param_groups()[0].params();
  const int me = comm_->rank();
  // This rank's states (only its own matrices have any), as bytes.
  std::ostringstream mine_stream;
  {
    torch::serialize::OutputArchive a;
    std::vector<int64_t> held;
    for (size_t i = 0; i < params.size(); ++i) {
      auto it = inner_->state().find(compat::state_key(params[i]));
      if (owners_[i] != me || it == inner_->state().end()) continue;
      held.push_back(static_cast<int64_t>(i));
      write_tensor_state(a, key(i), static_cast<const TensorState&>(*it->second));
    }
    a.write("held", c10::IValue(held));
    a.save_to(mine_stream);
  }
  const std::string bytes = mine_stream.str();
  at::Tensor len = at::full({1}, static_cast<int64_t>(bytes.size()), at::kLong);
  const at::Tensor lens = comm_->all_gather(len).reshape(-1);
  const int64_t width = lens.max().item<int64_t>();
  at::Tensor buf = at::zeros({width}, at::kByte);
  std::memcpy(buf.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  const at::Tensor all = comm_->all_gather(buf);
  if (me == 0) {
    for (int r = 1; r < comm_->world_size(); ++r) {
      const at::Tensor row = all[r].contiguous();
      std::istringstream in(std::string(reinterpret_cast<const char*>(row.data_ptr<uint8_t>()),
                                        static_cast<size_t>(lens[r].item<int64_t>())));
      torch::serialize::InputArchive a;
      a.load_from(in);
      c10::IValue v;
      a.read("held", v);
      for (int64_t i : v.toIntVector()) {
        const auto& p = params[static_cast<size_t>(i)];
        inner_->state()[compat::state_key(p)] =
            read_tensor_state(a, key(static_cast<size_t>(i)), p);
      }
    }
  }
  for (size_t g = 0; g < param_groups_.size(); ++g)
    inner_->param_groups()[g].options().set_lr(param_groups_[g].options().get_lr());
  inner_->save(archive);
  const_cast<ShardedOptimizer*>(this)->drop_unowned_state();
}

void ShardedOptimizer::load(torch::serialize::InputArchive& archive) {
  inner_->load(archive);
  for (size_t g = 0; g < param_groups_.size(); ++g)
    param_groups_[g].options().set_lr(inner_->param_groups()[g].options().get_lr());
  drop_unowned_state();
}

void ShardedOptimizer::drop_unowned_state() {
  const auto& params = inner_->param_groups()[0].params();
  for (size_t i = 0; i < params.size(); ++i)
    if (owners_[i] != comm_->rank()) inner_->state().erase(compat::state_key(params[i]));
}

}  // namespace steepest
