// Modular steepest descent in practice: Muon for hidden matrices, AdamW for
// embeddings, the output head and every ≤1-D parameter, behind one step():
// a routing rule that builds a two-part CompositeOptimizer.
#pragma once

#include <torch/nn/module.h>
#include <torch/optim/adamw.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "steepest/optim/composite.h"
#include "steepest/optim/muon.h"

namespace steepest {

// Parameter names the routing rules treat as embeddings and as the output head
// (ECMAScript, searched in the name): the hybrid sends them to AdamW, the
// modular optimizer's flat tree makes the embeddings Embed atoms.
inline const char* const kEmbeddingNamePattern =
    R"((^|\.)(embed|embedding|embeddings|wte|wpe|tok_emb|pos_emb)(\.|$))";
inline const char* const kHeadNamePattern = R"((^|\.)(head|lm_head)(\.|$))";

// A model's trainable parameters by name (requires_grad only, module order)
// and which of them belong to torch::nn::Embedding modules.
struct TrainableParameters {
  std::vector<NamedParameter> params;
  std::vector<bool> is_embedding;
};
TrainableParameters trainable_parameters(const torch::nn::Module& module);

struct HybridOptions {
  // The hidden matrices' optimizer: Muon with these options, unless
  // matrix_optimizer is set (any Muon variant or Stiefel optimizer, e.g. from
  // make_matrix_optimizer()).
  MuonOptions muon;
  std::function<std::unique_ptr<NamedOptimizer>(const std::vector<NamedParameter>&)>
      matrix_optimizer;
  // AdamW for the non-matrix parameters: betas (0.9, 0.95), eps 1e-8, no weight
  // decay on gains/embeddings. modded-nanogpt's optimization-track scripts use
  // betas (0.8, 0.95) and eps 1e-10 (its speedrun sets betas per group, e.g.
  // (0.5, 0.95) for embeddings and head): set adamw.betas({0.8, 0.95}).eps(1e-10)
  // to match. Our default keeps the common β₁ that docs/RESULTS.md was measured with.
  torch::optim::AdamWOptions adamw =
      torch::optim::AdamWOptions(3e-3).betas({0.9, 0.95}).eps(1e-8).weight_decay(0.0);
  // true: AdamW's step fused into one pass per CPU fp32 parameter (same
  // arithmetic, state and checkpoints); false: torch::optim::AdamW's own step.
  bool fused_adamw = true;
  // ECMAScript regexes searched in the parameter name: a ≥2-D parameter that
  // matches goes to AdamW. Parameters of torch::nn::Embedding modules go to
  // AdamW whatever their name.
  std::vector<std::string> adamw_patterns = {kEmbeddingNamePattern, kHeadNamePattern};
  // A name matching one of these goes to Muon even if it matched above (≥2-D only).
  std::vector<std::string> muon_patterns = {};
};

// The hybrid as a CompositeOptimizer of two parts ("muon": the matrix
// optimizer, "adamw"); checkpoints hold kind "hybrid" and those sub-archives.
class HybridOptimizer : public CompositeOptimizer {
 public:
  explicit HybridOptimizer(const torch::nn::Module& module, HybridOptions options = {});
  explicit HybridOptimizer(const std::vector<NamedParameter>& params, HybridOptions options = {});
  // is_embedding[i]: params[i] belongs to an embedding module and goes to AdamW
  // whatever its name (what the module constructor finds by type; the Python
  // bindings find it from torch.nn.Embedding).
  HybridOptimizer(const std::vector<NamedParameter>& params, const std::vector<bool>& is_embedding,
                  HybridOptions options = {});

  // The hidden matrices' optimizer (nullptr if none); muon() if it is a Muon.
  NamedOptimizer* matrix() { return matrix_; }
  Muon* muon() { return dynamic_cast<Muon*>(matrix_); }
  torch::optim::AdamW* adamw() { return adamw_; }

 private:
  void build(const std::vector<NamedParameter>& params, const std::vector<bool>& is_embedding);

  HybridOptions options_;
  NamedOptimizer* matrix_ = nullptr;
  torch::optim::AdamW* adamw_ = nullptr;
};

}  // namespace steepest
