#include "steepest/train/spectra_recorder.h"

#include <torch/optim/adamw.h>

#include "steepest/compat.h"
#include "steepest/linalg/ns_steps_auto.h"
#include "steepest/linalg/orthogonality_report.h"
#include "steepest/linalg/orthogonalizer.h"
#include "steepest/optim/muon.h"
#include "steepest/train/layer_spectra.h"
#include "steepest/util/threads.h"

namespace steepest {
namespace {

bool is_hidden(const std::string& name, const at::Tensor& p) {
  return p.dim() >= 2 && matrix_role(name) == "hidden";
}

at::Tensor as_matrix(const at::Tensor& t) {
  return t.detach().reshape({t.size(0), -1});
}

struct OptimizerView {
  at::Tensor momentum;       // the optimizer's input buffer, or undefined
  nlohmann::json band;       // [σ_min, σ_max] of the Muon family's msign output, or null
  nlohmann::json ns_errors;  // its own schedule's e_s on the msign input, or null
  nlohmann::json ns_errors_convergent;  // the convergent schedule's e_s on it, or null
};

// Steps of the convergent schedule recorded: each at least doubles a small
// normalized σ, so 16 steps reach error ~0 from σ_min/‖X‖_F down to ~2^-14.
constexpr int kConvergentSteps = 16;

nlohmann::json ns_error_record(const at::Tensor& X, const NsSchedule& schedule) {
  return {{"schedule", schedule.name}, {"errors", ns_error_by_step(X, schedule)}};
}

// What the optimizer that owns p keeps for it.
OptimizerView view_of(CompositeOptimizer& optimizer, const at::Tensor& p) {
  OptimizerView v;
  for (size_t i = 0; i < optimizer.parts(); ++i) {
    auto& part = optimizer.part(i);
    const auto it = part.state().find(compat::state_key(p));
    if (it == part.state().end()) continue;
    if (const auto* ts = dynamic_cast<const TensorState*>(it->second.get())) {
      const auto buf = ts->buffers.find("momentum_buffer");
      if (buf != ts->buffers.end() && buf->second.defined()) v.momentum = buf->second;
    } else if (const auto* adamw =
                   dynamic_cast<const torch::optim::AdamWParamState*>(it->second.get())) {
      v.momentum = adamw->exp_avg();
    }
    auto* muon = dynamic_cast<Muon*>(&part);
    if (muon != nullptr && v.momentum.defined() && p.grad().defined()) {
      const auto& o = static_cast<const MuonOptions&>(muon->param_groups().front().options());
      // This step's msign input, in the rule's momentum form.
      const at::Tensor u = momentum_input(update_rule(o).momentum_form(), p.grad(), v.momentum,
                                          o.momentum(), o.nesterov());
      const int steps = muon->ns_steps_for(p, o);
      const auto ortho =
          Orthogonalizer::from_name(o.orthogonalizer(), steps == 0 ? -1 : steps, o.compute_dtype());
      const at::Tensor X = as_matrix(u).to(at::kFloat);
      const auto report = orthogonality_report(ortho(X));
      v.band = {report.sigma_min, report.sigma_max};
      // How many steps this input needs (the spectral power-law argument for
      // per-layer step counts): e_s = ‖X_s X_sᵀ − I‖_F/√r after each step.
      if (ortho.kind != Orthogonalizer::Kind::Svd) v.ns_errors = ns_error_record(X, ortho.schedule);
      v.ns_errors_convergent = ns_error_record(X, ns_schedule("convergent", kConvergentSteps));
    }
    break;
  }
  return v;
}

}  // namespace

SpectraRecorder::SpectraRecorder(const std::string& path, int64_t every, int64_t keep_up_to_step)
    : out_(path, keep_up_to_step), every_(every) {}

void SpectraRecorder::before_step(const torch::nn::Module& model) {
  before_.clear();
  for (const auto& item : model.named_parameters())
    if (is_hidden(item.key(), item.value())) before_[item.key()] = item.value().detach().clone();
}

void SpectraRecorder::after_step(int64_t step, const torch::nn::Module& model,
                                 CompositeOptimizer& optimizer) {
  at::NoGradGuard no_grad;
  // One BLAS thread: the SVDs are of small matrices (util/threads.h).
  const ScopedBlasThreads one_blas_thread(1);
  for (const auto& item : model.named_parameters()) {
    const at::Tensor& p = item.value();
    const auto was = before_.find(item.key());
    if (!is_hidden(item.key(), p) || was == before_.end()) continue;
    nlohmann::ordered_json line;
    line["step"] = step;
    line["name"] = item.key();
    line["shape"] = p.sizes().vec();
    line["weight"] = spectrum_json(spectrum_stats(as_matrix(p)));
    const OptimizerView v = view_of(optimizer, p);
    line["momentum"] =
        v.momentum.defined() ? spectrum_json(spectrum_stats(as_matrix(v.momentum))) : nullptr;
    const at::Tensor dW = as_matrix(p) - as_matrix(was->second);
    line["update"] = spectrum_json(spectrum_stats(dW));
    nlohmann::json alignment;  // null without a gradient or a move
    if (p.grad().defined()) {
      const at::Tensor G = as_matrix(p.grad()).to(at::kDouble);
      const double denom = G.norm().item<double>() * dW.to(at::kDouble).norm().item<double>();
      if (denom > 0) alignment = (G * dW.to(at::kDouble)).sum().item<double>() / denom;
    }
    line["alignment"] = alignment;
    line["msign_band"] = v.band;
    line["ns_errors"] = v.ns_errors;
    line["ns_errors_convergent"] = v.ns_errors_convergent;
    out_.write(line);
  }
  before_.clear();
}

}  // namespace steepest
