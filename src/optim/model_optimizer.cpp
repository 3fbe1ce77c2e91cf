#include "steepest/optim/model_optimizer.h"

#include <c10/util/Exception.h>

#include "steepest/optim/registry.h"
#include "steepest/optim/sharded.h"

namespace steepest {

nlohmann::json effective_hyperparameters(const ModelOptimizerOptions& options) {
  nlohmann::json opt = options.opt.is_null() ? nlohmann::json::object() : options.opt;
  if (!options.orthogonalizer.empty() && !opt.contains("orthogonalizer"))
    opt["orthogonalizer"] = options.orthogonalizer;
  if (options.ns_steps >= 0 && !opt.contains("ns_steps")) opt["ns_steps"] = options.ns_steps;
  return opt;
}

std::unique_ptr<CompositeOptimizer> single_optimizer(const std::string& name,
                                                     const std::vector<NamedParameter>& params,
                                                     double lr, const nlohmann::json& overrides,
                                                     int64_t total_steps, double weight_decay,
                                                     const Module& tree) {
  std::vector<OptimizerPart> parts;
  parts.push_back(
      {name, make_optimizer(name, params, lr, overrides, total_steps, weight_decay, tree)});
  const double resolved = parts.front().optimizer->param_groups().front().options().get_lr();
  std::vector<ParameterRoute> routes;
  for (const auto& [n, p] : params)
    routes.push_back({n, p.sizes().vec(), name, resolved, 1.0, "all parameters"});
  return std::make_unique<CompositeOptimizer>(std::move(parts), std::move(routes), "",
                                              /*check_finite=*/true, params);
}

ModelOptimizer::ModelOptimizer(const torch::nn::Module& model, const ModelOptimizerOptions& options)
    : ModelOptimizer(trainable_parameters(model), options) {}

ModelOptimizer::ModelOptimizer(const TrainableParameters& trainable,
                               const ModelOptimizerOptions& options)
    : options_(options) {
  const OptimizerInfo& info = optimizer_info(options.name);  // throws for unknown names
  const nlohmann::json opt = effective_hyperparameters(options);
  resolve_hyperparameters(options.name, opt);  // unknown keys fail before anything is built
  if (info.hidden_matrices) {
    HybridOptions h;
    if (options.adamw_lr >= 0) h.adamw.lr(options.adamw_lr);
    h.matrix_optimizer =
        [options,
         opt](const std::vector<NamedParameter>& params) -> std::unique_ptr<NamedOptimizer> {
      auto inner = make_matrix_optimizer(options.name, params, options.lr, opt, options.total_steps,
                                         options.weight_decay);
      if (!options.collectives || options.collectives->world_size() == 1) return inner;
      return std::make_unique<ShardedOptimizer>(std::move(inner), options.collectives);
    };
    impl_ = std::make_unique<HybridOptimizer>(trainable.params, trainable.is_embedding, h);
    return;
  }
  TORCH_CHECK(!trainable.params.empty(), "optimizer '", options.name,
              "': the model has no parameters");
  impl_ = single_optimizer(options.name, trainable.params, options.lr, opt, options.total_steps,
                           options.weight_decay, options.module_tree);
}

void ModelOptimizer::save(torch::serialize::OutputArchive& archive) const {
  archive.write("name", c10::IValue(options_.name));
  impl_->save(archive);
}

void ModelOptimizer::load(torch::serialize::InputArchive& archive) {
  c10::IValue v;
  archive.read("name", v);
  TORCH_CHECK(v.toStringRef() == options_.name, "checkpoint was trained with optimizer '",
              v.toStringRef(), "', not '", options_.name, "'; pass --optimizer ", v.toStringRef(),
              " or start a new run");
  impl_->load(archive);
}

}  // namespace steepest
