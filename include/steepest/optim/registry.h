// Every optimizer steepest ships, by name, with its defaults and formula.
#pragma once

#include <torch/optim/optimizer.h>

#include <memory>
#include <string>
#include <vector>

#include "steepest/optim/named_optimizer.h"

namespace steepest {

struct OptimizerInfo {
  std::string name;      // CLI / config name
  std::string norm;      // the geometry it descends in
  std::string formula;   // one line
  std::string defaults;  // "lr=0.02 momentum=0.95 …"
  std::string source;    // paper / repository
};

const std::vector<OptimizerInfo>& optimizer_infos();

// Builds a single optimizer over `params` with its defaults (lr < 0 keeps the
// default lr). "muon" rejects 1-D parameters; use HybridOptimizer for models.
// Throws std::invalid_argument listing the names for an unknown one.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::string& name,
                                                        const std::vector<NamedParameter>& params,
                                                        double lr = -1.0);

}  // namespace steepest
