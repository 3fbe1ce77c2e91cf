// The modular norm (Large et al. 2024, "Scalable Optimization in the Modular
// Norm"; modula): a model described as a tree of modules, each with a mass μ
// and a sensitivity ν. From the tree follow the norm of a whole weight-space
// vector and, for every atom, its share of a step: the learning-rate
// multiplier that splits one global η between layers.
//
// Algebra (modula's, docs/REFERENCES.md [ModularNorm]):
//   atom          its own norm ‖·‖ₐ (Linear: RMS→RMS, Embed: max vector RMS, Gain: ℓ∞),
//                 mass μ > 0 (default 1), sensitivity 1
//   bond          no weights: mass 0, sensitivity ν (Add 1, scalar multiply by s: s)
//   m1 ∘ m0       (m0 applied first) μ = μ0 + μ1, ν = ν0·ν1,
//                 ‖(w0, w1)‖ = max((μ/μ0)·ν1·‖w0‖, (μ/μ1)·‖w1‖) (a massless side drops out);
//                 of a target step t, m0 gets t·(μ0/μ)/ν1 and m1 gets t·(μ1/μ)
//   tuple(mᵢ)     μ = Σμᵢ, ν = Σνᵢ, ‖w‖ = maxᵢ (μ/μᵢ)·‖wᵢ‖, child i gets t·μᵢ/μ
// With these shares, dualizing every atom at its share gives an update of
// modular norm exactly t, and it is the duality map of the modular norm.
#pragma once

#include <ATen/ATen.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "steepest/norms/norm.h"

namespace steepest {

// The norm an atom measures its weight in; each has a duality map of unit norm.
enum class AtomNorm {
  Linear,  // (fan_out, fan_in): √(fan_in/fan_out)·σ_max; dualize √(fan_out/fan_in)·U Vᵀ
  Embed,   // (vocab, d): max over rows of ‖row‖₂/√d; dualize each row to length √d
  Gain,    // any shape: max |entry| (ℓ∞); dualize sign(G) (our choice for gains and biases)
};
std::string atom_norm_name(AtomNorm norm);  // "linear", "embed", "gain"
// The norm object of an atom kind (norm.h): rms-rms, row-rms, linf. Its dualize()
// is the atom's optimizer step (the modular optimizer calls it with msign).
const Norm& atom_norm_map(AtomNorm norm);

// ‖W‖ₐ of one atom's weight (or update), a 0-d double tensor.
at::Tensor atom_norm(AtomNorm norm, const at::Tensor& W);
// argmax_{‖T‖ₐ = 1} ⟨G, T⟩: the atom's duality map (exact SVD for Linear), G's shape.
// A zero G dualizes to zero.
at::Tensor atom_dualize(AtomNorm norm, const at::Tensor& G);

class ModuleNode;
using Module = std::shared_ptr<const ModuleNode>;

class ModuleNode {
 public:
  enum class Kind { Atom, Bond, Compose, Tuple };
  Kind kind() const { return kind_; }
  const std::string& name() const { return name_; }
  double mass() const { return mass_; }
  double sensitivity() const { return sensitivity_; }
  AtomNorm norm() const { return norm_; }  // atoms only
  const std::vector<Module>& children() const { return children_; }

  // Builders; names must be unique among a tree's atoms (the weights' keys).
  // Throws std::invalid_argument naming the module for mass ≤ 0 (atoms),
  // sensitivity < 0, or an empty composition.
  static Module atom(std::string name, AtomNorm norm, double mass = 1.0);
  static Module bond(std::string name, double sensitivity = 1.0);
  // compose({m0, m1, …}): m0 applied first, i.e. … ∘ m1 ∘ m0.
  static Module compose(std::vector<Module> applied_in_order, std::string name = "");
  static Module tuple(std::vector<Module> children, std::string name = "");
  // The same tree with every mass scaled so that the total is `total` (modula's tare).
  static Module tare(const Module& m, double total);

 private:
  Kind kind_ = Kind::Bond;
  std::string name_;
  double mass_ = 0.0, sensitivity_ = 1.0;
  AtomNorm norm_ = AtomNorm::Gain;
  std::vector<Module> children_;
};

// Every atom of the tree with its learning-rate multiplier: the share of a
// root target step of 1 it receives (so the atom steps −η·multiplier·dualize(G)).
struct AtomShare {
  std::string name;
  AtomNorm norm;
  double mass;
  double multiplier;
};
std::vector<AtomShare> atom_shares(const Module& root);

// The modular norm of a weight-space vector: one tensor per atom, by name.
// Throws std::invalid_argument naming the first atom missing from `w`, and
// the first key of `w` that is no atom of the tree.
double modular_norm(const Module& root, const std::map<std::string, at::Tensor>& w);

// The modular duality map: every atom's atom_dualize(G) × its share of `target`.
// The result has modular norm `target` (or 0 where G is 0) and maximizes ⟨G, ·⟩
// over that ball. Same keys as `g`, which must cover the tree's atoms exactly.
std::map<std::string, at::Tensor> modular_dualize(const Module& root,
                                                  const std::map<std::string, at::Tensor>& g,
                                                  double target = 1.0);

}  // namespace steepest
