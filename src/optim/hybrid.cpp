#include "steepest/optim/hybrid.h"

#include <c10/util/Exception.h>
#include <torch/nn/modules/embedding.h>

#include <regex>
#include <set>
#include <unordered_map>

#include "optim/fused_adamw.h"
#include "steepest/optim/sharded.h"

namespace steepest {
namespace {

std::vector<std::regex> compile(const std::vector<std::string>& patterns, const char* what) {
  std::vector<std::regex> out;
  for (const auto& p : patterns) {
    try {
      out.emplace_back(p, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      TORCH_CHECK(false, "HybridOptimizer: invalid ", what, " pattern '", p, "': ", e.what());
    }
  }
  return out;
}

const std::string* first_match(const std::string& name, const std::vector<std::regex>& res,
                               const std::vector<std::string>& src) {
  for (size_t i = 0; i < res.size(); ++i)
    if (std::regex_search(name, res[i])) return &src[i];
  return nullptr;
}

}  // namespace

TrainableParameters trainable_parameters(const torch::nn::Module& module) {
  std::set<const void*> embedding_params;
  // Walk children() by hand: libtorch 1.13's named_modules() needs the root to
  // live in a shared_ptr, and a plain stack-allocated module must work too.
  std::function<void(const torch::nn::Module&)> walk = [&](const torch::nn::Module& m) {
    if (dynamic_cast<const torch::nn::EmbeddingImpl*>(&m) != nullptr)
      for (const auto& p : m.parameters()) embedding_params.insert(p.unsafeGetTensorImpl());
    for (const auto& child : m.children()) walk(*child);
  };
  walk(module);
  TrainableParameters t;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    if (!item.value().requires_grad()) continue;
    t.params.emplace_back(item.key(), item.value());
    t.is_embedding.push_back(embedding_params.count(item.value().unsafeGetTensorImpl()) > 0);
  }
  return t;
}

HybridOptimizer::HybridOptimizer(const torch::nn::Module& module, HybridOptions options)
    : options_(std::move(options)) {
  const auto t = trainable_parameters(module);
  build(t.params, t.is_embedding);
}

HybridOptimizer::HybridOptimizer(const std::vector<NamedParameter>& params, HybridOptions options)
    : options_(std::move(options)) {
  build(params, std::vector<bool>(params.size(), false));
}

HybridOptimizer::HybridOptimizer(const std::vector<NamedParameter>& params,
                                 const std::vector<bool>& is_embedding, HybridOptions options)
    : options_(std::move(options)) {
  TORCH_CHECK(is_embedding.size() == params.size(), "HybridOptimizer: ", params.size(),
              " parameters but ", is_embedding.size(), " is_embedding flags");
  build(params, is_embedding);
}

void HybridOptimizer::build(const std::vector<NamedParameter>& params,
                            const std::vector<bool>& is_embedding) {
  TORCH_CHECK(!params.empty(), "HybridOptimizer: no trainable parameters");
  const auto adamw_res = compile(options_.adamw_patterns, "adamw");
  const auto muon_res = compile(options_.muon_patterns, "muon");
  // A tensor can appear under several names (tied embedding and head): it is
  // stepped once, by AdamW if any of its names routes there.
  std::unordered_map<const void*, size_t> primary;  // TensorImpl → index of its first route
  std::vector<size_t> primary_of;
  std::vector<ParameterRoute> routes;
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& [name, p] = params[i];
    ParameterRoute r{name, p.sizes().vec(), "adamw", options_.adamw.lr(), 1.0, ""};
    const std::string* forced = first_match(name, muon_res, options_.muon_patterns);
    const std::string* excluded = first_match(name, adamw_res, options_.adamw_patterns);
    if (p.dim() < 2) {
      r.reason = p.dim() == 1 ? "1-D" : "scalar";
    } else if (forced != nullptr) {
      r.optimizer = "muon";
      r.reason = "muon pattern " + *forced;
    } else if (is_embedding[i]) {
      r.reason = "embedding module";
    } else if (excluded != nullptr) {
      r.reason = "adamw pattern " + *excluded;
    } else {
      r.optimizer = "muon";
      r.reason = "hidden matrix";
    }
    const auto [it, fresh] = primary.emplace(p.unsafeGetTensorImpl(), routes.size());
    if (!fresh) {
      auto& first = routes[it->second];
      if (r.optimizer == "adamw" && first.optimizer == "muon") {
        first.optimizer = "adamw";
        first.reason = "tied to " + name + " (" + r.reason + ")";
      }
      r.reason = "tied to " + first.name;
    }
    primary_of.push_back(it->second);
    routes.push_back(r);
  }
  std::vector<NamedParameter> to_muon, to_adamw, stepped;
  for (size_t i = 0; i < routes.size(); ++i) {
    auto& r = routes[i];
    r.optimizer = routes[primary_of[i]].optimizer;
    if (primary_of[i] != i) continue;  // a tied duplicate: stepped through its first name
    (r.optimizer == "muon" ? to_muon : to_adamw).push_back(params[i]);
    stepped.push_back(params[i]);
  }
  std::vector<OptimizerPart> parts;
  double matrix_lr = 0.0;
  if (!to_muon.empty()) {
    std::unique_ptr<NamedOptimizer> matrix = options_.matrix_optimizer
                                                 ? options_.matrix_optimizer(to_muon)
                                                 : std::make_unique<Muon>(to_muon, options_.muon);
    TORCH_CHECK(matrix != nullptr, "HybridOptimizer: matrix_optimizer returned nullptr");
    matrix_ = matrix.get();
    matrix_lr = matrix->param_groups().front().options().get_lr();
    parts.push_back({"muon", std::move(matrix)});
  }
  // A sharded matrix optimizer (data-parallel runs) wraps the real one.
  auto* sharded = dynamic_cast<ShardedOptimizer*>(matrix_);
  const auto* as_muon = dynamic_cast<const Muon*>(sharded ? &sharded->inner() : matrix_);
  std::unordered_map<const void*, int> owner;
  if (sharded)
    for (size_t k = 0; k < to_muon.size(); ++k)
      owner[to_muon[k].second.unsafeGetTensorImpl()] = sharded->owners()[k];
  for (size_t i = 0; i < routes.size(); ++i) {
    auto& r = routes[i];
    const auto& p = params[i].second;
    r.scale = 1.0;
    if (r.optimizer == "muon") {
      r.optimizer = matrix_->kind();
      r.lr = matrix_lr;
      if (as_muon != nullptr)
        r.scale = step_scale(static_cast<const MuonOptions&>(as_muon->defaults()), p.size(0),
                             p.numel() / p.size(0));
      if (sharded && primary_of[i] == i)
        r.reason += ", owner rank " + std::to_string(owner.at(p.unsafeGetTensorImpl()));
    } else {
      r.lr = options_.adamw.lr();
    }
  }
  if (!to_adamw.empty()) {
    std::vector<at::Tensor> t;
    for (const auto& np : to_adamw) t.push_back(np.second);
    std::unique_ptr<torch::optim::AdamW> adamw =
        options_.fused_adamw ? std::make_unique<detail::FusedAdamW>(t, options_.adamw)
                             : std::make_unique<torch::optim::AdamW>(t, options_.adamw);
    adamw_ = adamw.get();
    parts.push_back({"adamw", std::move(adamw)});
  }
  init(std::move(parts), std::move(routes), "hybrid", /*check_finite=*/true, std::move(stepped));
}

}  // namespace steepest
