#include "steepest/optim/named_optimizer.h"

#include <c10/util/Exception.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include "optim/gradient_checks.h"
#include "steepest/compat.h"

namespace steepest {
namespace {
std::string prefix(size_t g, size_t i) {
  return "state." + std::to_string(g) + "." + std::to_string(i) + ".";
}
}  // namespace

void write_tensor_state(torch::serialize::OutputArchive& archive, const std::string& prefix,
                        const TensorState& state) {
  archive.write(prefix + "step", c10::IValue(state.step));
  std::vector<std::string> names;
  for (const auto& [name, t] : state.buffers) {
    archive.write(prefix + "buf." + name, t, /*is_buffer=*/true);
    names.push_back(name);
  }
  archive.write(prefix + "buffers", c10::IValue(names));
}

std::unique_ptr<TensorState> read_tensor_state(torch::serialize::InputArchive& archive,
                                               const std::string& prefix, const at::Tensor& p) {
  c10::IValue v;
  if (!archive.try_read(prefix + "step", v)) return nullptr;
  auto s = std::make_unique<TensorState>();
  s->step = v.toInt();
  s->param_sizes = p.sizes().vec();  // load() has checked the saved shape against p
  s->param_dtype = p.scalar_type();
  s->param_device = p.device();
  archive.read(prefix + "buffers", v);
  for (const auto& name : v.toListRef()) {
    at::Tensor t;
    archive.read(prefix + "buf." + name.toStringRef(), t, /*is_buffer=*/true);
    s->buffers[name.toStringRef()] = t.to(p.device(), p.scalar_type());
  }
  return s;
}

NamedOptimizer::NamedOptimizer(std::vector<torch::optim::OptimizerParamGroup> groups,
                               std::unique_ptr<torch::optim::OptimizerOptions> defaults,
                               std::vector<std::string> names)
    : torch::optim::Optimizer(std::move(groups), std::move(defaults)) {
  size_t k = 0;
  for (size_t g = 0; g < param_groups_.size(); ++g) {
    for (size_t i = 0; i < param_groups_[g].params().size(); ++i, ++k) {
      const auto& p = param_groups_[g].params()[i];
      names_[p.unsafeGetTensorImpl()] =
          k < names.size() ? names[k] : "group" + std::to_string(g) + ".param" + std::to_string(i);
    }
  }
  TORCH_CHECK(names.empty() || names.size() == k, "optimizer got ", names.size(),
              " parameter names for ", k, " parameters");
}

std::string NamedOptimizer::param_name(const at::Tensor& p) const {
  auto it = names_.find(p.unsafeGetTensorImpl());
  if (it != names_.end()) return it->second;
  for (size_t g = 0; g < param_groups_.size(); ++g)
    for (size_t i = 0; i < param_groups_[g].params().size(); ++i)
      if (param_groups_[g].params()[i].is_same(p))
        return "group" + std::to_string(g) + ".param" + std::to_string(i);
  return "<unknown parameter>";
}

TensorState& NamedOptimizer::state_of(const at::Tensor& p) {
  auto& slot = state_[compat::state_key(p)];
  if (!slot) {
    auto fresh = std::make_unique<TensorState>();
    fresh->param_sizes = p.sizes().vec();
    fresh->param_dtype = p.scalar_type();
    fresh->param_device = p.device();
    slot = std::move(fresh);
  }
  return static_cast<TensorState&>(*slot);
}

int64_t NamedOptimizer::state_bytes() const {
  int64_t bytes = 0;
  for (const auto& kv : state_) {
    const auto* s = dynamic_cast<const TensorState*>(kv.second.get());
    if (s == nullptr) continue;
    for (const auto& b : s->buffers)
      if (b.second.defined()) bytes += b.second.numel() * b.second.element_size();
  }
  return bytes;
}

void NamedOptimizer::check_gradients() const {
  for (const auto& group : param_groups_) {
    for (const auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const auto it = state_.find(compat::state_key(p));
      // A state without buffers (spectral descent: a step count) fits any shape.
      if (it != state_.end() && !static_cast<const TensorState&>(*it->second).buffers.empty()) {
        const auto& st = static_cast<const TensorState&>(*it->second);
        detail::check_state_fits(p, st.param_sizes, st.param_dtype, st.param_device, kind(),
                                 param_name(p));
      }
      if (gradient_checks_ != GradientChecks::kNone)
        detail::check_gradient(p, kind(), param_name(p), gradient_checks_ == GradientChecks::kFull);
    }
  }
}

void NamedOptimizer::save(torch::serialize::OutputArchive& archive) const {
  archive.write("kind", c10::IValue(kind()));
  archive.write("num_groups", c10::IValue(static_cast<int64_t>(param_groups_.size())));
  for (size_t g = 0; g < param_groups_.size(); ++g) {
    const auto& group = param_groups_[g];
    archive.write("group." + std::to_string(g) + ".lr", c10::IValue(group.options().get_lr()));
    archive.write("group." + std::to_string(g) + ".size",
                  c10::IValue(static_cast<int64_t>(group.params().size())));
    for (size_t i = 0; i < group.params().size(); ++i) {
      const auto& p = group.params()[i];
      archive.write(prefix(g, i) + "shape", c10::IValue(p.sizes().vec()));
      auto it = state_.find(compat::state_key(p));
      if (it == state_.end()) continue;
      write_tensor_state(archive, prefix(g, i), static_cast<const TensorState&>(*it->second));
    }
  }
}

void NamedOptimizer::load(torch::serialize::InputArchive& archive) {
  // Read and check everything first; change nothing unless all of it fits.
  c10::IValue v;
  archive.read("kind", v);
  TORCH_CHECK(v.toStringRef() == kind(), "optimizer checkpoint holds '", v.toStringRef(),
              "' state but this optimizer is '", kind(), "'");
  archive.read("num_groups", v);
  TORCH_CHECK(v.toInt() == static_cast<int64_t>(param_groups_.size()), kind(), " checkpoint has ",
              v.toInt(), " parameter groups, this optimizer has ", param_groups_.size());
  std::vector<double> lrs;
  std::vector<std::pair<const at::Tensor*, std::unique_ptr<TensorState>>> states;
  for (size_t g = 0; g < param_groups_.size(); ++g) {
    const auto& group = param_groups_[g];
    archive.read("group." + std::to_string(g) + ".size", v);
    TORCH_CHECK(v.toInt() == static_cast<int64_t>(group.params().size()), kind(),
                " checkpoint group ", g, " has ", v.toInt(), " parameters, this optimizer has ",
                group.params().size());
    archive.read("group." + std::to_string(g) + ".lr", v);
    lrs.push_back(v.toDouble());
    for (size_t i = 0; i < group.params().size(); ++i) {
      const auto& p = group.params()[i];
      archive.read(prefix(g, i) + "shape", v);
      TORCH_CHECK(v.toIntVector() == p.sizes().vec(), kind(), " checkpoint: parameter '",
                  param_name(p), "' has shape ", p.sizes(), " but the checkpoint holds ",
                  at::IntArrayRef(v.toIntVector()));
      states.emplace_back(&p, read_tensor_state(archive, prefix(g, i), p));
    }
  }
  for (size_t g = 0; g < param_groups_.size(); ++g) param_groups_[g].options().set_lr(lrs[g]);
  for (auto& [p, s] : states) {
    state_.erase(compat::state_key(*p));
    if (s) state_[compat::state_key(*p)] = std::move(s);
  }
}

}  // namespace steepest
