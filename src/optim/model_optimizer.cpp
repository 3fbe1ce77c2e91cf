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
  const std::vector<NamedParameter>& params = trainable.params;
  std::vector<ParameterRoute> routes;
  TORCH_CHECK(!params.empty(), "optimizer '", options.name, "': the model has no parameters");
  std::vector<OptimizerPart> parts;
  parts.push_back(
      {options.name, make_optimizer(options.name, params, options.lr, opt, options.total_steps,
                                    options.weight_decay, options.module_tree)});
  const double lr = parts.front().optimizer->param_groups().front().options().get_lr();
  for (const auto& [name, p] : params)
    routes.push_back({name, p.sizes().vec(), options.name, lr, 1.0, "all parameters"});
  impl_ = std::make_unique<CompositeOptimizer>(std::move(parts), std::move(routes));
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
