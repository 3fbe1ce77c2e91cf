#include "steepest/optim/registry.h"

#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>

#include <stdexcept>

#include "optim/param_groups.h"
#include "steepest/optim/lion.h"
#include "steepest/optim/muon.h"
#include "steepest/optim/sign_sgd.h"

namespace steepest {

const std::vector<OptimizerInfo>& optimizer_infos() {
  static const std::vector<OptimizerInfo> infos = {
      {"sgd", "Frobenius", "W <- W - lr*(G + mu*B)   (libtorch SGD)", "lr=0.1 momentum=0.9",
       "torch::optim::SGD"},
      {"adamw", "l-inf (Adam without EMA = sign)", "W <- W(1-lr*wd) - lr*m_hat/(sqrt(v_hat)+eps)",
       "lr=3e-3 betas=(0.9,0.95) eps=1e-8 weight_decay=0",
       "torch::optim::AdamW (Loshchilov & Hutter 2019)"},
      {"signsgd", "l-inf", "B <- lerp(B,G,1-mu); W <- W(1-lr*wd) - lr*sign(B)",
       "lr=1e-3 momentum=0.9 weight_decay=0", "Bernstein et al. 2018 (signSGD / Signum)"},
      {"lion", "l-inf", "C=lerp(M,G,1-b1); W <- W(1-lr*wd) - lr*sign(C); M <- lerp(M,G,1-b2)",
       "lr=1e-4 beta1=0.9 beta2=0.99 weight_decay=0", "Chen et al. 2023"},
      {"muon", "spectral (hidden matrices) + AdamW elsewhere",
       "B <- lerp(B,G,1-mu); O=NS(lerp(G,B,mu)); W <- W(1-lr*wd) - lr*scale*O",
       "lr=0.02 momentum=0.95 nesterov=true orthogonalizer=keller scale=original "
       "weight_decay=0; adamw lr=3e-3",
       "Keller Jordan 2024, KellerJordan/Muon"},
  };
  return infos;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::string& name,
                                                        const std::vector<NamedParameter>& params,
                                                        double lr) {
  const auto tensors = detail::tensors_of(params);
  auto pick = [lr](double d) { return lr >= 0 ? lr : d; };
  if (name == "sgd")
    return std::make_unique<torch::optim::SGD>(tensors,
                                               torch::optim::SGDOptions(pick(0.1)).momentum(0.9));
  if (name == "adamw")
    return std::make_unique<torch::optim::AdamW>(
        tensors, torch::optim::AdamWOptions(pick(3e-3)).betas({0.9, 0.95}).weight_decay(0.0));
  if (name == "signsgd") return std::make_unique<SignSGD>(params, SignSGDOptions(pick(1e-3)));
  if (name == "lion") return std::make_unique<Lion>(params, LionOptions(pick(1e-4)));
  if (name == "muon") return std::make_unique<Muon>(params, MuonOptions(pick(0.02)));
  std::string known;
  for (const auto& i : optimizer_infos()) known += (known.empty() ? "" : ", ") + i.name;
  throw std::invalid_argument("unknown optimizer '" + name + "'; known: " + known);
}

}  // namespace steepest
