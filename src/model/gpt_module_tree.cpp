#include "steepest/model/gpt_module_tree.h"

#include <stdexcept>
#include <string>

namespace steepest {
namespace {

Module residual(Module branch, const GPTConfig& c, const std::string& name) {
  using M = ModuleNode;
  const ResidualMix mix = residual_mix(c);
  auto scaled = M::compose({std::move(branch), M::bond(name + ".mix", mix.b)});
  return M::compose({M::tuple({M::bond(name + ".skip", mix.a), scaled}), M::bond(name + ".add")},
                    name);
}

}  // namespace

Module gpt_module_tree(const GPTConfig& c, const GptMasses& masses) {
  using M = ModuleNode;
  for (const auto& [what, v] : {std::pair<const char*, double>{"embed", masses.embed},
                                {"blocks", masses.blocks},
                                {"head", masses.head}})
    if (!(v > 0))
      throw std::invalid_argument(std::string("gpt_module_tree: the ") + what +
                                  " mass must be > 0, got " + std::to_string(v));
  std::vector<Module> blocks;
  for (int64_t i = 0; i < c.n_layer; ++i) {
    const std::string p = "blocks." + std::to_string(i);
    auto attn = M::compose(
        {M::tuple({M::atom(p + ".attn.q.weight", AtomNorm::Linear),
                   M::atom(p + ".attn.k.weight", AtomNorm::Linear),
                   M::atom(p + ".attn.v.weight", AtomNorm::Linear)}),
         M::bond(p + ".attn.softmax", 1.0 / 3.0), M::atom(p + ".attn.o.weight", AtomNorm::Linear)},
        p + ".attn");
    auto mlp =
        M::compose({M::atom(p + ".mlp.fc.weight", AtomNorm::Linear), M::bond(p + ".mlp.relu2"),
                    M::atom(p + ".mlp.proj.weight", AtomNorm::Linear)},
                   p + ".mlp");
    blocks.push_back(residual(attn, c, p + ".attn.residual"));
    blocks.push_back(residual(mlp, c, p + ".mlp.residual"));
  }
  auto body = M::tare(M::compose(std::move(blocks), "blocks"), masses.blocks);
  return M::compose({M::atom("embed.weight", AtomNorm::Embed, masses.embed), body, M::bond("norm"),
                     M::atom("head.weight", AtomNorm::Linear, masses.head)},
                    "gpt");
}

}  // namespace steepest
