// The duality-map interface: a norm on one layer's weight space, with its dual
// norm, its duality map and what the map costs. Steepest descent in a norm is
//   ΔW = −η·dualize(G),   dualize(G) = argmax_{‖T‖ = 1} ⟨G, T⟩,
// so a Norm is an optimizer's update rule: optim's DualizeRule turns any Norm
// into a Muon-family update, and every entry of norm_entries() becomes the
// optimizer "steepest-<name>" in the registry without further code.
//
// Shapes: norm() and dual_norm() take one matrix (n_out, n_in) (rows = output
// neurons, as torch::nn::Linear stores them) and return a 0-dim tensor;
// dualize() takes one matrix or a batch (k, n_out, n_in) and returns G's
// shape, each matrix on its own. The free functions of duality_maps.h are the
// maths; the classes here bundle them.
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "steepest/linalg/cost.h"
#include "steepest/linalg/orthogonalizer.h"

namespace steepest {

class Norm {
 public:
  virtual ~Norm() = default;
  // "spectral", "row-l2", "schatten-9", …
  virtual std::string name() const = 0;
  virtual at::Tensor norm(const at::Tensor& W) const = 0;
  virtual at::Tensor dual_norm(const at::Tensor& G) const = 0;
  // argmax_{‖T‖ = 1} ⟨G, T⟩. Maps built on U Vᵀ take it from `msign` (an
  // iterative orthogonalizer; the optimizers pass the layer's) or, when null,
  // from an exact SVD. `cost` receives what was spent.
  virtual at::Tensor dualize(const at::Tensor& G, const Orthogonalizer* msign = nullptr,
                             Cost* cost = nullptr) const = 0;
  // What dualize() spends on one m×n matrix (zero for elementwise maps).
  virtual Cost cost(int64_t m, int64_t n, const Orthogonalizer* msign = nullptr) const;
};
using NormPtr = std::shared_ptr<const Norm>;

// One registered norm (family): how to build it and what descending in it is.
struct NormEntry {
  std::string name;       // "frobenius", …; a family with a parameter is named without it
  std::string optimizer;  // what steepest descent in it is known as
  std::string param;      // "" or the family's parameter ("q" for Schatten)
  double param_default = 0.0;
  std::string param_help;
  double lr = 0.02;  // a default step for "steepest-<name>" (per-entry update sizes differ)
  std::function<NormPtr(double param)> make;
};

// Every norm steepest knows, in a fixed order. Adding one here (a Norm class
// and an entry) gives the duality-identity tests and the optimizer
// "steepest-<name>" for free.
const std::vector<NormEntry>& norm_entries();

// One instance of every entry (families at their default parameter).
std::vector<NormPtr> all_norms();

// By name: an entry's name (at its default parameter) or "schatten-<q>".
// Throws std::invalid_argument listing the names for an unknown one.
NormPtr make_norm(const std::string& name);

}  // namespace steepest
