#include "steepest/norms/module_tree.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <stdexcept>

namespace steepest {
namespace {

at::Tensor as_matrix(const at::Tensor& W) {
  return W.dim() == 2 ? W : W.reshape({W.dim() == 0 ? 1 : W.size(0), -1});
}

std::string describe(const std::string& name) {
  return name.empty() ? std::string("(unnamed module)") : "'" + name + "'";
}

void collect_atoms(const Module& m, std::vector<const ModuleNode*>* out) {
  if (m->kind() == ModuleNode::Kind::Atom) out->push_back(m.get());
  for (const auto& c : m->children()) collect_atoms(c, out);
}

void check_unique_atoms(const std::vector<Module>& children, const std::string& where) {
  std::vector<const ModuleNode*> atoms;
  for (const auto& c : children) collect_atoms(c, &atoms);
  std::set<std::string> seen;
  for (const auto* a : atoms)
    if (!seen.insert(a->name()).second)
      throw std::invalid_argument("module " + describe(where) + ": atom name '" + a->name() +
                                  "' appears twice; atom names key the weights and must be unique");
}

// Visits every atom with its share of a root target `t`.
void walk_shares(const Module& m, double t,
                 const std::function<void(const ModuleNode&, double)>& visit) {
  switch (m->kind()) {
    case ModuleNode::Kind::Atom:
      visit(*m, t);
      return;
    case ModuleNode::Kind::Bond:
      return;
    case ModuleNode::Kind::Compose: {
      const auto& inner = m->children()[0];
      const auto& outer = m->children()[1];
      const double mu = m->mass();
      if (mu <= 0) return;
      if (inner->mass() > 0)
        walk_shares(inner, t * inner->mass() / mu / outer->sensitivity(), visit);
      if (outer->mass() > 0) walk_shares(outer, t * outer->mass() / mu, visit);
      return;
    }
    case ModuleNode::Kind::Tuple:
      for (const auto& c : m->children())
        if (c->mass() > 0) walk_shares(c, t * c->mass() / m->mass(), visit);
      return;
  }
}

double norm_of(const Module& m, const std::map<std::string, at::Tensor>& w) {
  switch (m->kind()) {
    case ModuleNode::Kind::Atom:
      return atom_norm(m->norm(), w.at(m->name())).item<double>();
    case ModuleNode::Kind::Bond:
      return 0.0;
    case ModuleNode::Kind::Compose: {
      const auto& inner = m->children()[0];
      const auto& outer = m->children()[1];
      const double mu = m->mass();
      double n = 0.0;
      if (inner->mass() > 0)
        n = std::max(n, mu / inner->mass() * outer->sensitivity() * norm_of(inner, w));
      if (outer->mass() > 0) n = std::max(n, mu / outer->mass() * norm_of(outer, w));
      return n;
    }
    case ModuleNode::Kind::Tuple: {
      double n = 0.0;
      for (const auto& c : m->children())
        if (c->mass() > 0) n = std::max(n, m->mass() / c->mass() * norm_of(c, w));
      return n;
    }
  }
  return 0.0;
}

void check_keys(const Module& root, const std::map<std::string, at::Tensor>& w, const char* fn) {
  std::vector<const ModuleNode*> atoms;
  collect_atoms(root, &atoms);
  std::set<std::string> names;
  for (const auto* a : atoms) {
    names.insert(a->name());
    if (!w.count(a->name()))
      throw std::invalid_argument(std::string(fn) + ": no tensor for atom '" + a->name() +
                                  "' of module " + describe(root->name()));
  }
  for (const auto& [k, v] : w)
    if (!names.count(k))
      throw std::invalid_argument(std::string(fn) + ": '" + k + "' is no atom of module " +
                                  describe(root->name()) +
                                  "; every weight must belong to exactly one atom of the tree");
}

}  // namespace

std::string atom_norm_name(AtomNorm norm) {
  switch (norm) {
    case AtomNorm::Linear:
      return "linear";
    case AtomNorm::Embed:
      return "embed";
    case AtomNorm::Gain:
      return "gain";
  }
  return "?";
}

const Norm& atom_norm_map(AtomNorm norm) {
  static const NormPtr linear = make_norm("rms-rms"), embed = make_norm("row-rms"),
                       gain = make_norm("linf");
  switch (norm) {
    case AtomNorm::Linear:
      return *linear;
    case AtomNorm::Embed:
      return *embed;
    case AtomNorm::Gain:
      break;
  }
  return *gain;
}

at::Tensor atom_norm(AtomNorm norm, const at::Tensor& W) {
  return atom_norm_map(norm).norm(as_matrix(W));
}

at::Tensor atom_dualize(AtomNorm norm, const at::Tensor& G) {
  return atom_norm_map(norm).dualize(as_matrix(G)).view(G.sizes());
}

Module ModuleNode::atom(std::string name, AtomNorm norm, double mass) {
  if (name.empty()) throw std::invalid_argument("atom: every atom needs a name (its weight's key)");
  if (!(mass > 0) || !std::isfinite(mass))
    throw std::invalid_argument("atom '" + name + "': mass must be > 0, got " +
                                std::to_string(mass) + " (a module without weights is a bond)");
  auto m = std::make_shared<ModuleNode>();
  m->kind_ = Kind::Atom;
  m->name_ = std::move(name);
  m->norm_ = norm;
  m->mass_ = mass;
  m->sensitivity_ = 1.0;
  return m;
}

Module ModuleNode::bond(std::string name, double sensitivity) {
  if (!(sensitivity > 0) || !std::isfinite(sensitivity))
    throw std::invalid_argument("bond " + describe(name) + ": sensitivity must be > 0, got " +
                                std::to_string(sensitivity));
  auto m = std::make_shared<ModuleNode>();
  m->kind_ = Kind::Bond;
  m->name_ = std::move(name);
  m->sensitivity_ = sensitivity;
  return m;
}

Module ModuleNode::compose(std::vector<Module> applied_in_order, std::string name) {
  if (applied_in_order.empty())
    throw std::invalid_argument("compose " + describe(name) + ": needs at least one module");
  check_unique_atoms(applied_in_order, name);
  Module acc = applied_in_order.front();
  for (size_t i = 1; i < applied_in_order.size(); ++i) {
    auto m = std::make_shared<ModuleNode>();
    m->kind_ = Kind::Compose;
    m->children_ = {acc, applied_in_order[i]};
    m->mass_ = acc->mass() + applied_in_order[i]->mass();
    m->sensitivity_ = acc->sensitivity() * applied_in_order[i]->sensitivity();
    if (i + 1 == applied_in_order.size()) m->name_ = name;
    acc = m;
  }
  return acc;
}

Module ModuleNode::tuple(std::vector<Module> children, std::string name) {
  if (children.empty())
    throw std::invalid_argument("tuple " + describe(name) + ": needs at least one module");
  check_unique_atoms(children, name);
  auto m = std::make_shared<ModuleNode>();
  m->kind_ = Kind::Tuple;
  m->name_ = std::move(name);
  m->sensitivity_ = 0.0;
  for (const auto& c : children) {
    m->mass_ += c->mass();
    m->sensitivity_ += c->sensitivity();
    m->children_.push_back(c);
  }
  return m;
}

Module ModuleNode::tare(const Module& m, double total) {
  if (!(total > 0))
    throw std::invalid_argument("tare " + describe(m->name()) + ": total mass must be > 0, got " +
                                std::to_string(total));
  if (!(m->mass() > 0))
    throw std::invalid_argument("tare " + describe(m->name()) + ": the module has no mass");
  const double f = total / m->mass();
  std::function<Module(const Module&)> scaled = [&](const Module& n) -> Module {
    auto c = std::make_shared<ModuleNode>(*n);
    c->mass_ = n->mass() * f;
    for (auto& child : c->children_) child = scaled(child);
    return c;
  };
  return scaled(m);
}

std::vector<AtomShare> atom_shares(const Module& root) {
  std::vector<AtomShare> out;
  walk_shares(root, 1.0, [&out](const ModuleNode& a, double t) {
    out.push_back({a.name(), a.norm(), a.mass(), t});
  });
  return out;
}

double modular_norm(const Module& root, const std::map<std::string, at::Tensor>& w) {
  check_keys(root, w, "modular_norm");
  return norm_of(root, w);
}

std::map<std::string, at::Tensor> modular_dualize(const Module& root,
                                                  const std::map<std::string, at::Tensor>& g,
                                                  double target) {
  check_keys(root, g, "modular_dualize");
  std::map<std::string, at::Tensor> out;
  walk_shares(root, target, [&](const ModuleNode& a, double t) {
    out[a.name()] = atom_dualize(a.norm(), g.at(a.name())) * t;
  });
  return out;
}

}  // namespace steepest
