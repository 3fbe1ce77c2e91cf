#include "steepest/optim/hybrid.h"

#include <c10/util/Exception.h>
#include <torch/nn/modules/embedding.h>
#include <torch/serialize/input-archive.h>
#include <torch/serialize/output-archive.h>

#include <cstdio>
#include <regex>
#include <set>
#include <unordered_map>

#include "optim/gradient_checks.h"
#include "optim/state_bytes.h"
#include "steepest/compat.h"

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

std::string shape_string(const std::vector<int64_t>& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "x" : "") + std::to_string(s[i]);
  return out.empty() ? "scalar" : out;
}

}  // namespace

HybridOptimizer::HybridOptimizer(const torch::nn::Module& module, HybridOptions options)
    : options_(std::move(options)) {
  std::set<const void*> embedding_params;
  // Walk children() by hand: libtorch 1.13's named_modules() needs the root to
  // live in a shared_ptr, and a plain stack-allocated module must work too.
  std::function<void(const torch::nn::Module&)> walk = [&](const torch::nn::Module& m) {
    if (dynamic_cast<const torch::nn::EmbeddingImpl*>(&m) != nullptr)
      for (const auto& p : m.parameters()) embedding_params.insert(p.unsafeGetTensorImpl());
    for (const auto& child : m.children()) walk(*child);
  };
  walk(module);
  std::vector<NamedParameter> params;
  std::vector<bool> is_embedding;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    if (!item.value().requires_grad()) continue;
    params.emplace_back(item.key(), item.value());
    is_embedding.push_back(embedding_params.count(item.value().unsafeGetTensorImpl()) > 0);
  }
  build(params, is_embedding);
}

HybridOptimizer::HybridOptimizer(const std::vector<NamedParameter>& params, HybridOptions options)
    : options_(std::move(options)) {
  build(params, std::vector<bool>(params.size(), false));
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
    const auto [it, fresh] = primary.emplace(p.unsafeGetTensorImpl(), routes_.size());
    if (!fresh) {
      auto& first = routes_[it->second];
      if (r.optimizer == "adamw" && first.optimizer == "muon") {
        first.optimizer = "adamw";
        first.reason = "tied to " + name + " (" + r.reason + ")";
      }
      r.reason = "tied to " + first.name;
    }
    primary_of.push_back(it->second);
    routes_.push_back(r);
  }
  std::vector<NamedParameter> to_muon, to_adamw;
  for (size_t i = 0; i < routes_.size(); ++i) {
    auto& r = routes_[i];
    r.optimizer = routes_[primary_of[i]].optimizer;
    if (primary_of[i] != i) continue;  // a tied duplicate: stepped through its first name
    (r.optimizer == "muon" ? to_muon : to_adamw).push_back(params[i]);
    params_.push_back(params[i]);
  }
  if (!to_muon.empty()) {
    if (options_.matrix_optimizer)
      matrix_ = options_.matrix_optimizer(to_muon);
    else
      matrix_ = std::make_unique<Muon>(to_muon, options_.muon);
    TORCH_CHECK(matrix_ != nullptr, "HybridOptimizer: matrix_optimizer returned nullptr");
    matrix_->set_check_finite(false);  // step() checks every parameter once, up front
    base_muon_lr_ = matrix_->param_groups().front().options().get_lr();
  }
  const auto* as_muon = dynamic_cast<const Muon*>(matrix_.get());
  for (size_t i = 0; i < routes_.size(); ++i) {
    auto& r = routes_[i];
    const auto& p = params[i].second;
    if (r.optimizer == "muon") {
      r.optimizer = matrix_->kind();
      r.lr = base_muon_lr_;
      r.scale = 1.0;
      if (as_muon != nullptr)
        r.scale = step_scale(static_cast<const MuonOptions&>(as_muon->defaults()), p.size(0),
                             p.numel() / p.size(0));
    } else {
      r.lr = options_.adamw.lr();
      r.scale = 1.0;
    }
  }
  if (!to_adamw.empty()) {
    std::vector<at::Tensor> t;
    for (const auto& np : to_adamw) t.push_back(np.second);
    adamw_ = std::make_unique<torch::optim::AdamW>(t, options_.adamw);
  }
  base_adamw_lr_ = options_.adamw.lr();
}

void HybridOptimizer::step() {
  for (const auto& [name, p] : params_) {
    if (!p.grad().defined()) continue;
    detail::check_finite_gradient(p.grad(), "HybridOptimizer", name, p.sizes());
  }
  if (matrix_) matrix_->step();
  if (adamw_) adamw_->step();
}

void HybridOptimizer::zero_grad() {
  if (matrix_) compat::zero_grad(*matrix_);
  if (adamw_) compat::zero_grad(*adamw_);
}

void HybridOptimizer::set_lr_factor(double factor) {
  if (matrix_)
    for (auto& g : matrix_->param_groups()) g.options().set_lr(base_muon_lr_ * factor);
  if (adamw_)
    for (auto& g : adamw_->param_groups()) g.options().set_lr(base_adamw_lr_ * factor);
}

void HybridOptimizer::save(torch::serialize::OutputArchive& archive) const {
  archive.write("kind", c10::IValue(std::string("hybrid")));
  if (matrix_) {
    torch::serialize::OutputArchive sub(archive.compilation_unit());
    matrix_->save(sub);
    archive.write("muon", sub);
  }
  if (adamw_) {
    torch::serialize::OutputArchive sub(archive.compilation_unit());
    adamw_->save(sub);
    archive.write("adamw", sub);
  }
}

void HybridOptimizer::load(torch::serialize::InputArchive& archive) {
  c10::IValue kind;
  archive.read("kind", kind);
  TORCH_CHECK(kind.toStringRef() == "hybrid", "checkpoint holds '", kind.toStringRef(),
              "' optimizer state, expected 'hybrid'");
  // Both halves must be present before either is touched.
  torch::serialize::InputArchive muon_state, adamw_state;
  TORCH_CHECK(!matrix_ || archive.try_read("muon", muon_state),
              "hybrid checkpoint has no hidden-matrix optimizer state, but this model routes "
              "parameters to ",
              matrix_->kind());
  TORCH_CHECK(!adamw_ || archive.try_read("adamw", adamw_state),
              "hybrid checkpoint has no AdamW state, but this model routes parameters to AdamW");
  if (matrix_) matrix_->load(muon_state);
  if (adamw_) adamw_->load(adamw_state);
}

std::string HybridOptimizer::table() const {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof(line), "%-40s %-14s %-16s %-9s %-7s %s\n", "parameter", "shape",
                "optim", "lr", "scale", "why");
  out += line;
  for (const auto& r : routes_) {
    std::snprintf(line, sizeof(line), "%-40s %-14s %-16s %-9.3g %-7.3g %s\n", r.name.c_str(),
                  shape_string(r.shape).c_str(), r.optimizer.c_str(), r.lr, r.scale,
                  r.reason.c_str());
    out += line;
  }
  return out;
}

Cost HybridOptimizer::last_step_cost() const {
  return matrix_ ? matrix_->last_step_cost() : Cost{};
}

int64_t HybridOptimizer::state_bytes() const {
  int64_t bytes = matrix_ ? matrix_->state_bytes() : 0;
  if (adamw_) bytes += detail::libtorch_state_bytes(*adamw_);
  return bytes;
}

}  // namespace steepest
