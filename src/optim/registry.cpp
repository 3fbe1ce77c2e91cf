#include "steepest/optim/registry.h"

#include "steepest/linalg/compute_dtype.h"

#include <torch/optim/adamw.h>
#include <torch/optim/sgd.h>
#include <cmath>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <stdexcept>

#include "optim/param_groups.h"
#include "optim/state_bytes.h"
#include "steepest/optim/lion.h"
#include "steepest/optim/modular.h"
#include "steepest/optim/muon.h"
#include "steepest/optim/sign_sgd.h"
#include "steepest/optim/stiefel.h"
#include "steepest/optim/update_rule.h"

namespace steepest {
namespace {

using json = nlohmann::json;

std::vector<Hyperparameter> join(std::initializer_list<std::vector<Hyperparameter>> parts) {
  std::vector<Hyperparameter> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::vector<Hyperparameter> momentum_hp(double mu = 0.95) {
  return {{"momentum", mu, "EMA momentum mu: B <- lerp(B, G, 1-mu)"},
          {"nesterov", true, "step along lerp(G, B, mu) instead of B"}};
}
// DynMuon's: its staged mode sums, as fzwark/DynMuon does.
std::vector<Hyperparameter> dynmuon_momentum_hp() {
  return {
      {"momentum", 0.95, "momentum mu: EMA B <- lerp(B, G, 1-mu); mode=staged sums B <- mu*B + G"},
      {"nesterov", true, "step along lerp(G, B, mu) (staged: G + mu*B) instead of B"}};
}
std::vector<Hyperparameter> scale_hp() {
  return {
      {"scale", "original", "shape factor: original max(1,m/n)^1/2 | spectral | match_rms_adamw"}};
}
std::vector<Hyperparameter> contra_hp(double beta2, double floor) {
  return {{"kappa", 0.4, "contraction strength"},
          {"power_iters", 5, "power iterations for |M|_2"},
          {"mode", "ns", "ns | svd"},
          {"beta2", beta2, "per-neuron variance EMA on the longer side (0: off)"},
          {"floor", floor, "update-to-weight floor: |scale*O|_F >= floor*|W|_F (0: off)"}};
}
std::vector<Hyperparameter> msign_hp(const std::string& ortho = "keller") {
  return {{"orthogonalizer", ortho, "msign method (steepest optimizers lists them)"},
          {"ns_steps", -1,
           "Newton-Schulz steps (-1: the schedule's own; 0: auto, per layer from the measured "
           "orthogonality error)"},
          {"ns_auto_tolerance", 0.02,
           "ns_steps=0: fewest steps within this relative orthogonality error of the full "
           "schedule's"},
          {"ns_auto_start", 10, "ns_steps=0: first measured at this step (full schedule before)"},
          {"ns_auto_every", 250, "ns_steps=0: re-measure every K steps"},
          {"ns_steps_map", "", "per-layer steps: 'regex=steps,regex=steps' on parameter names"},
          {"dtype", "auto",
           "GEMM dtype of the msign iteration: auto (bf16 where the CPU has AVX512_BF16 or AMX, "
           "as the reference's bf16; else fp32) | fp32 | bf16 | fp64"}};
}

using Rule = std::shared_ptr<const UpdateRule>;

// The Muon family's factory: MuonOptions from the row's hyperparameters (those
// it has), then the rule `rule(args)` builds (null: Muon's msign).
OptimizerFactory muon_family(std::function<Rule(const OptimizerArgs&)> rule) {
  return [rule](const OptimizerArgs& a) -> std::unique_ptr<torch::optim::Optimizer> {
    MuonOptions o(a.lr);
    o.weight_decay(a.weight_decay);
    if (a.h.contains("momentum")) o.momentum(a.num("momentum"));
    if (a.h.contains("nesterov")) o.nesterov(a.flag("nesterov"));
    if (a.h.contains("scale")) o.scale(muon_scale_from_name(a.str("scale")));
    if (a.h.contains("orthogonalizer")) o.orthogonalizer(a.str("orthogonalizer"));
    if (a.h.contains("ns_steps")) o.ns_steps(a.integer("ns_steps"));
    if (a.h.contains("ns_auto_tolerance")) o.ns_auto_tolerance(a.num("ns_auto_tolerance"));
    if (a.h.contains("ns_auto_start")) o.ns_auto_start(a.integer("ns_auto_start"));
    if (a.h.contains("ns_auto_every")) o.ns_auto_every(a.integer("ns_auto_every"));
    if (a.h.contains("ns_steps_map")) o.ns_steps_map(parse_ns_steps_map(a.str("ns_steps_map")));
    if (a.h.contains("dtype")) {
      o.compute_dtype(compute_dtype_from_name(a.str("dtype")));
      o.compute_dtype_fp32_only(a.str("dtype") == "auto");
    }
    o.rule(rule(a));
    return std::make_unique<Muon>(a.params, o);
  };
}

// The Stiefel-manifold factory (tangent descent, or manifold Muon's dual ascent).
OptimizerFactory stiefel_family(bool dual_ascent, const std::string& name) {
  return [dual_ascent, name](const OptimizerArgs& a) -> std::unique_ptr<torch::optim::Optimizer> {
    if (a.weight_decay != 0.0)
      throw std::invalid_argument("'" + name +
                                  "' keeps weights on the Stiefel manifold; weight decay "
                                  "does not apply (got " +
                                  std::to_string(a.weight_decay) + ")");
    StiefelOptions o(a.lr);
    o.momentum(a.num("momentum")).nesterov(a.flag("nesterov"));
    o.retraction(a.str("retraction")).retraction_steps(a.integer("retraction_steps"));
    if (dual_ascent)
      o.method("dual-ascent")
          .dual_steps(a.integer("dual_steps"))
          .dual_lr(a.num("dual_lr"))
          .orthogonalizer(a.str("orthogonalizer"));
    return std::make_unique<Stiefel>(a.params, o);
  };
}

// "steepest-<norm>": momentum, then the norm's duality map, no shape factor.
OptimizerInfo norm_row(const NormEntry& e) {
  std::vector<Hyperparameter> hyper =
      join({momentum_hp(),
            {{"scale", "none", "shape factor on top of the map (muon's rules)"}},
            msign_hp("polar-express")});
  if (!e.param.empty()) hyper.push_back({e.param, e.param_default, e.param_help});
  const std::string param = e.param;
  const auto make = e.make;
  const double param_default = e.param_default;
  return {"steepest-" + e.name,
          e.name + " (norms/norm.h)",
          "O = dualize_" + e.name + "(lerp(G,B,mu)); W <- W(1-lr*wd) - lr*O",
          "steepest descent in the " + e.name + " norm: " + e.optimizer,
          e.lr,
          hyper,
          true,
          muon_family([name = "steepest-" + e.name, param, make,
                       param_default](const OptimizerArgs& a) -> Rule {
            return std::make_shared<DualizeRule>(
                make(param.empty() ? param_default : a.num(param.c_str())), name);
          })};
}

}  // namespace

std::string OptimizerInfo::defaults() const {
  std::ostringstream s;
  s << "lr=" << lr;
  for (const auto& h : hyper)
    s << " " << h.name << "="
      << (h.value.is_string() ? h.value.get<std::string>() : h.value.dump());
  return s.str();
}

const std::vector<OptimizerInfo>& optimizer_infos() {
  // Defaults and formulas from the source named in each row (docs/REFERENCES.md);
  // docs/OPTIMIZERS.md's fidelity table says where and why we differ.
  static const std::vector<OptimizerInfo> infos = [] {
    std::vector<OptimizerInfo> rows = {
        {"sgd",
         "Frobenius",
         "B <- mu*B + G; W <- W(1-lr*wd) - lr*B   (libtorch SGD)",
         "torch::optim::SGD",
         0.1,
         {{"momentum", 0.9, "heavy-ball momentum"}},
         false,
         [](const OptimizerArgs& a) -> std::unique_ptr<torch::optim::Optimizer> {
           return std::make_unique<torch::optim::SGD>(detail::tensors_of(a.params),
                                                      torch::optim::SGDOptions(a.lr)
                                                          .momentum(a.num("momentum"))
                                                          .weight_decay(a.weight_decay));
         }},
        {"adamw",
         "l-inf (Adam without EMA = sign)",
         "W <- W(1-lr*wd) - lr*m_hat/(sqrt(v_hat)+eps)",
         "torch::optim::AdamW (Loshchilov & Hutter 2019)",
         3e-3,
         {{"beta1", 0.9, "first-moment EMA"},
          {"beta2", 0.95, "second-moment EMA"},
          {"eps", 1e-8, "denominator floor"}},
         false,
         [](const OptimizerArgs& a) -> std::unique_ptr<torch::optim::Optimizer> {
           return std::make_unique<torch::optim::AdamW>(detail::tensors_of(a.params),
                                                        torch::optim::AdamWOptions(a.lr)
                                                            .betas({a.num("beta1"), a.num("beta2")})
                                                            .eps(a.num("eps"))
                                                            .weight_decay(a.weight_decay));
         }},
        {"signsgd",
         "l-inf",
         "B <- lerp(B,G,1-mu); W <- W(1-lr*wd) - lr*sign(B)",
         "Bernstein et al. 2018 (signSGD / Signum)",
         1e-3,
         {{"momentum", 0.9, "EMA momentum"}},
         false,
         [](const OptimizerArgs& a) -> std::unique_ptr<torch::optim::Optimizer> {
           return std::make_unique<SignSGD>(
               a.params,
               SignSGDOptions(a.lr).momentum(a.num("momentum")).weight_decay(a.weight_decay));
         }},
        {"lion",
         "l-inf",
         "C=lerp(M,G,1-b1); W <- W(1-lr*wd) - lr*sign(C); M <- lerp(M,G,1-b2)",
         "Chen et al. 2023 (lr 3-10x below AdamW's: 3e-4 for AdamW's 3e-3)",
         3e-4,
         {{"beta1", 0.9, "interpolation for the step"}, {"beta2", 0.99, "momentum EMA"}},
         false,
         [](const OptimizerArgs& a) -> std::unique_ptr<torch::optim::Optimizer> {
           return std::make_unique<Lion>(a.params, LionOptions(a.lr)
                                                       .beta1(a.num("beta1"))
                                                       .beta2(a.num("beta2"))
                                                       .weight_decay(a.weight_decay));
         }},
        {"modular", "modular norm: each atom's own norm, one step split by mass and sensitivity",
         "per atom: W <- W(1-lr*wd) - lr*share*dualize(lerp(G,B,mu)); Linear sqrt(fo/fi) msign, "
         "Embed rows to length sqrt(d), Gain sign",
         "Large et al. 2024 'Scalable Optimization in the Modular Norm'; modula", 0.1,
         join({momentum_hp(),
               {{"orthogonalizer", "polar-express", "msign of Linear atoms"},
                {"ns_steps", -1, "Newton-Schulz steps (-1: the schedule's own)"},
                {"embed_mass", 1.0, "GPT tree: mass of the embedding"},
                {"blocks_mass", 5.0, "GPT tree: mass of all blocks together"},
                {"head_mass", 1.0, "GPT tree: mass of the output head"}}}),
         false,
         [](const OptimizerArgs& a) -> std::unique_ptr<torch::optim::Optimizer> {
           ModularOptions o(a.lr);
           o.momentum(a.num("momentum")).nesterov(a.flag("nesterov")).weight_decay(a.weight_decay);
           o.orthogonalizer(a.str("orthogonalizer")).ns_steps(a.integer("ns_steps"));
           return std::make_unique<Modular>(a.params, a.tree ? a.tree : flat_module_tree(a.params),
                                            o);
         }},
        {"muon", "spectral (hidden matrices) + AdamW elsewhere",
         "B <- lerp(B,G,1-mu); O=msign(lerp(G,B,mu)); W <- W(1-lr*wd) - lr*scale*O",
         "Keller Jordan 2024, KellerJordan/Muon", 0.02,
         join({momentum_hp(), scale_hp(), msign_hp()}), true,
         muon_family([](const OptimizerArgs&) { return Rule(); })},
        {"spectral-descent", "spectral, no momentum", "O = msign(G); W <- W - lr*scale*O",
         "Bernstein & Newhouse 2024, 'Old Optimizer, New Norm'", 0.02,
         join({momentum_hp(0.0), scale_hp(), msign_hp()}), true,
         muon_family([](const OptimizerArgs&) -> Rule {
           return std::make_shared<DualizeRule>(make_norm("spectral"), "spectral-descent");
         })},
        {"htmuon", "Schatten-q, q = 1 + 1/p", "O = U (S/s_max)^p V^T at the norm of U V^T",
         "HTMuon (Findings ACL 2026), TDCSZ327/HTmuon", 0.02,
         join({momentum_hp(),
               scale_hp(),
               msign_hp(),
               {{"p", 0.125, "spectral exponent in (0, 1]"},
                {"mode", "svd", "svd | ns (msign(M)(M^T M)^(p/2), SVD-free) | interval"},
                {"interval", 10, "interval mode: exact SVD every k steps, msign between"},
                {"sqrt_steps", 12, "ns mode: coupled NS square-root steps"},
                {"normalize", true,
                 "false: the reference's raw U S^p V^T (svd/ns modes; its lr was 0.03)"}}}),
         true, muon_family([](const OptimizerArgs& a) -> Rule {
           return std::make_shared<HtMuonRule>(a.num("p"), a.str("mode"), a.integer("interval"),
                                               a.integer("sqrt_steps"), a.flag("normalize"));
         })},
        {"dynmuon", "Schatten-q with a scheduled exponent",
         "O = U (S/s_max)^p(t) V^T, p(t) = p_min + (p_max-p_min)/(1+exp((t/T-tau)/w))",
         "DynMuon, fzwark/DynMuon; modded-nanogpt track 3 (2026-05-19)", 0.02,
         join({dynmuon_momentum_hp(),
               scale_hp(),
               msign_hp("convergent"),
               {{"p_max", 1.0, "exponent at the start"},
                {"p_min", -0.25, "exponent at the end"},
                {"tau", 0.04, "midpoint of the switch, fraction of training"},
                {"w", 0.04, "width of the switch, fraction of training"},
                {"total_steps", 0, "T (0: the run's --steps)"},
                {"mode", "svd",
                 "svd (exact, at the norm of U V^T) | taylor (track-3 script) | staged "
                 "(fzwark/DynMuon: summed momentum M <- mu*M + G, then raw M, msign, taylor; "
                 "its recipe adds tau=0.04 w=0.04 scale=spectral orthogonalizer=dion)"}}}),
         true, muon_family([](const OptimizerArgs& a) -> Rule {
           const int64_t own = a.h.at("total_steps").get<int64_t>();
           const int64_t T = own > 0 ? own : a.total_steps;
           if (T <= 0)
             throw std::invalid_argument(
                 "dynmuon needs the run length for its p(t) schedule: pass --opt total_steps=N "
                 "(steepest train passes --steps)");
           return std::make_shared<DynMuonRule>(T, a.num("p_max"), a.num("p_min"), a.num("tau"),
                                                a.num("w"), a.str("mode"));
         })},
        {"mucon", "spectral-norm ball projection", "M^ = M sqrt(r)/|M|_F; O = U min(S^, tau) V^T",
         "MuCon (singular-value clipping)", 0.02,
         join({momentum_hp(),
               scale_hp(),
               msign_hp("polar-express"),
               {{"tau", 1.0, "clip level (RMS singular value = 1)"},
                {"mode", "svd", "svd | msign (SVD-free formula)"}}}),
         true, muon_family([](const OptimizerArgs& a) -> Rule {
           return std::make_shared<MuConRule>(a.num("tau"), a.str("mode"));
         })},
        {"contra-muon", "spectral with a contracted top",
         "O = msign(M) - (kappa/2) M/|M|_2, rescaled to |msign(M)|_F",
         "modded-nanogpt optimization track #11 (contra-muon-record: its full recipe)", 0.02,
         join({momentum_hp(), scale_hp(), msign_hp("convergent"), contra_hp(0.0, 0.0)}), true,
         muon_family([](const OptimizerArgs& a) -> Rule {
           return std::make_shared<ContraMuonRule>(a.num("kappa"), a.integer("power_iters"),
                                                   a.str("mode"), a.num("beta2"), a.num("floor"),
                                                   "contra-muon");
         })},
        {"contra-muon-record", "spectral with a contracted top (record recipe)",
         "contra-muon, then per-neuron variance norm (b2 0.95) and |lr-free U|_F >= 0.35 |W|_F",
         "modded-nanogpt track 3 record 2026-05-01 (3225 steps): lr 0.0375, convergent x12, no wd",
         0.0375, join({momentum_hp(), scale_hp(), msign_hp("convergent"), contra_hp(0.95, 0.35)}),
         true, muon_family([](const OptimizerArgs& a) -> Rule {
           return std::make_shared<ContraMuonRule>(a.num("kappa"), a.integer("power_iters"),
                                                   a.str("mode"), a.num("beta2"), a.num("floor"),
                                                   "contra-muon-record");
         })},
        {"freon", "spectral with an inverted shape", "O = (M M^T)^(-c) M = U S^(1-2c) V^T (SVD)",
         "Freon (inverted-spectrum study; see docs/REFERENCES.md)", 0.02,
         join({momentum_hp(),
               scale_hp(),
               {{"c", 0.75, "c=0 SGD, c=1/2 Muon; the reference's best runs have c > 1/2"}}}),
         true, muon_family([](const OptimizerArgs& a) -> Rule {
           return std::make_shared<FreonRule>(a.num("c"));
         })},
        {"kaon", "scrambled spectrum",
         "X <- 4.1 (I - X X^T)^2 X from M/|M|_F, steps times; O = X/1.175",
         "Kaon (scrambled-spectrum study; see docs/REFERENCES.md)", 0.02,
         join({momentum_hp(), scale_hp(), {{"steps", 5, "iterations of the chaotic map"}}}), true,
         muon_family([](const OptimizerArgs& a) -> Rule {
           return std::make_shared<KaonRule>(a.integer("steps"));
         })},
        {"rmnp", "row-wise l2 (l2 -> l-inf)",
         "O = each row of M over its l2 norm; step x sqrt(max(1,m/n))", "RMNP (ICML 2026)", 0.02,
         join({momentum_hp(), scale_hp()}), true, muon_family([](const OptimizerArgs&) -> Rule {
           return std::make_shared<DualizeRule>(make_norm("row-l2"), "rmnp");
         })},
        {"normuon", "spectral + per-neuron adaptivity",
         "O = msign(M); v <- lerp(v, mean_row(O^2), 1-b2); O <- O/(sqrt(v)+eps) at |msign(M)|_F",
         "NorMuon (arXiv 2510.05491)", 0.02,
         join({momentum_hp(),
               scale_hp(),
               msign_hp(),
               {{"beta2", 0.95, "second-moment EMA"}, {"eps", 1e-8, "denominator floor"}}}),
         true, muon_family([](const OptimizerArgs& a) -> Rule {
           return std::make_shared<NorMuonRule>(a.num("beta2"), a.num("eps"));
         })},
        {"adamuon", "spectral + element-wise adaptivity",
         "O = msign(sign(M)); v <- lerp(v, O^2, 1-b2); O <- O/(sqrt(v)+eps) at RMS 0.2",
         "AdaMuon (Si et al. 2025), Chongjie-Si/AdaMuon", 3e-3,
         join({momentum_hp(),
               msign_hp(),
               {{"beta2", 0.95, "second-moment EMA"},
                {"eps", 1e-8, "denominator floor"},
                {"rms", 0.2, "update RMS (AdamW's typical)"}}}),
         true, muon_family([](const OptimizerArgs& a) -> Rule {
           return std::make_shared<AdaMuonRule>(a.num("beta2"), a.num("eps"), a.num("rms"));
         })},
        {"dion",
         "spectral, rank r",
         "B <- B+G; P=QR(BQ); R=B^T P; B <- B-(1-mu)PR^T; Q=colnorm(R); O = sqrt(m/n) P Q^T",
         "Dion (Ahn et al. 2025, microsoft/dion)",
         0.02,
         {{"momentum", 0.95, "mu of the error feedback"},
          {"rank", 0, "r (0: rank_fraction * min(m, n))"},
          {"rank_fraction", 0.25, "r as a fraction of min(m, n)"}},
         true,
         muon_family([](const OptimizerArgs& a) -> Rule {
           return std::make_shared<DionRule>(a.h.at("rank").get<int64_t>(), a.num("rank_fraction"));
         })},
        {"manifold-muon", "spectral on the Stiefel manifold",
         "dual ascent: A = msign(M + 2W L), L -= a(W^T A + A^T W); W <- retract(W - lr A)",
         "Bernstein 2025, 'Modular Manifolds'", 0.02,
         join({momentum_hp(),
               {{"dual_steps", 10, "dual-ascent iterations per step"},
                {"dual_lr", 0.2, "dual step size alpha (decayed linearly over the dual steps)"},
                {"orthogonalizer", "polar-express", "msign inside the dual ascent"},
                {"retraction", "polar", "polar | cayley | qr"},
                {"retraction_steps", -1,
                 "polar: NS steps; cayley: fixed-point iterations (-1: polar 2, cayley exact)"}}}),
         true, stiefel_family(true, "manifold-muon")},
        {"stiefel", "Frobenius on the Stiefel tangent space",
         "D = M - W sym(W^T M), |D|_F = sqrt(n); W <- retract(W - lr D)",
         "Li, Fuxin & Todorovic 2020 (Cayley); tangent projection", 0.02,
         join({momentum_hp(),
               {{"retraction", "polar", "polar | cayley | qr"},
                {"retraction_steps", -1,
                 "polar: NS steps; cayley: fixed-point iterations (-1: polar 2, cayley exact)"}}}),
         true, stiefel_family(false, "stiefel")},
    };
    for (const auto& e : norm_entries()) rows.push_back(norm_row(e));
    return rows;
  }();
  return infos;
}

const OptimizerInfo& optimizer_info(const std::string& name) {
  std::string known;
  for (const auto& i : optimizer_infos()) {
    if (i.name == name) return i;
    known += (known.empty() ? "" : ", ") + i.name;
  }
  throw std::invalid_argument("unknown optimizer '" + name + "'; known: " + known);
}

json resolve_hyperparameters(const std::string& name, const json& overrides) {
  const OptimizerInfo& info = optimizer_info(name);
  json out = json::object();
  std::string keys;
  for (const auto& h : info.hyper) {
    out[h.name] = h.value;
    keys += (keys.empty() ? "" : ", ") + h.name;
  }
  if (overrides.is_null()) return out;
  if (!overrides.is_object())
    throw std::invalid_argument("optimizer options must be a JSON object, got " + overrides.dump());
  for (const auto& item : overrides.items()) {
    if (!out.contains(item.key()))
      throw std::invalid_argument("optimizer '" + name + "' has no option '" + item.key() +
                                  "'; its options: " + (keys.empty() ? "(none)" : keys));
    const json& d = out[item.key()];
    const json& v = item.value();
    const bool ok = (d.is_boolean() && v.is_boolean()) || (d.is_string() && v.is_string()) ||
                    (d.is_number_integer() && v.is_number_integer()) ||
                    (d.is_number_float() && v.is_number());
    if (!ok)
      throw std::invalid_argument("optimizer '" + name + "' option '" + item.key() +
                                  "' expects a value like " + d.dump() + ", got " + v.dump());
    out[item.key()] = d.is_number_float() ? json(v.get<double>()) : v;
  }
  return out;
}

std::vector<std::pair<std::string, int>> parse_ns_steps_map(const std::string& text) {
  std::vector<std::pair<std::string, int>> out;
  std::stringstream ss(text);
  std::string entry;
  while (std::getline(ss, entry, ',')) {
    if (entry.empty()) continue;
    const auto eq = entry.rfind('=');
    int steps = 0;
    try {
      size_t used = 0;
      if (eq == std::string::npos || eq == 0) throw std::invalid_argument(entry);
      steps = std::stoi(entry.substr(eq + 1), &used);
      if (used != entry.size() - eq - 1) throw std::invalid_argument(entry);
    } catch (const std::exception&) {
      throw std::invalid_argument("ns_steps_map entry '" + entry +
                                  "' must look like 'regex=steps', e.g. 'attn=4,mlp=6'");
    }
    out.emplace_back(entry.substr(0, eq), steps);
  }
  return out;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const std::string& name,
                                                        const std::vector<NamedParameter>& params,
                                                        double lr, const json& overrides,
                                                        int64_t total_steps, double weight_decay,
                                                        const Module& tree) {
  const OptimizerInfo& info = optimizer_info(name);  // throws for unknown names
  const json h = resolve_hyperparameters(name, overrides);
  const double resolved = lr >= 0 ? lr : info.lr;
  // fp32 parameters take lr (and lr·weight decay) as an fp32 scalar: beyond
  // 3.4e38 libtorch fails with "cannot be converted to type float".
  constexpr double kMaxFloat = 3.4028234663852886e38;
  if (!std::isfinite(resolved) || resolved > kMaxFloat)
    throw std::invalid_argument("optimizer '" + name + "': learning rate " + std::to_string(lr) +
                                " is not a finite fp32 number (at most 3.4e38); use a learning "
                                "rate near its default " +
                                std::to_string(info.lr));
  if (!std::isfinite(weight_decay) || weight_decay < 0 || resolved * weight_decay > kMaxFloat)
    throw std::invalid_argument("optimizer '" + name + "': weight decay " +
                                std::to_string(weight_decay) +
                                " must be finite and >= 0, with lr x weight decay within fp32's "
                                "range (3.4e38); typical values are 0 to 0.1");
  try {
    return info.make({params, resolved, h, total_steps, weight_decay, tree});
  } catch (const c10::Error& e) {
    // The optimizer's own checks of its hyperparameters and parameters: bad
    // input, reported as ours rather than as an unexpected libtorch error.
    throw std::invalid_argument("optimizer '" + name + "': " + e.what_without_backtrace() +
                                " (`steepest optimizers` lists every hyperparameter with its "
                                "default and range)");
  }
}

std::unique_ptr<NamedOptimizer> make_matrix_optimizer(const std::string& name,
                                                      const std::vector<NamedParameter>& params,
                                                      double lr, const json& overrides,
                                                      int64_t total_steps, double weight_decay) {
  if (!optimizer_info(name).hidden_matrices)
    throw std::invalid_argument("'" + name + "' is not a hidden-matrix optimizer");
  auto opt = make_optimizer(name, params, lr, overrides, total_steps, weight_decay);
  auto* named = dynamic_cast<NamedOptimizer*>(opt.get());
  if (named == nullptr)
    throw std::logic_error("registry: hidden-matrix optimizer '" + name +
                           "' is not a NamedOptimizer");
  opt.release();
  return std::unique_ptr<NamedOptimizer>(named);
}

StepCost measure_step_cost(const std::string& name, int64_t m, int64_t n, const json& overrides,
                           int repeats) {
  TORCH_CHECK(m >= 1 && n >= 1, "measure_step_cost: shape must be positive, got ", m, "x", n);
  auto gen = at::make_generator<at::CPUGeneratorImpl>(0);
  at::Tensor W =
      (at::randn({m, n}, gen) / std::sqrt(static_cast<double>(n))).set_requires_grad(true);
  auto opt = make_optimizer(name, {{"w", W}}, -1.0, overrides, /*total_steps=*/1000);
  std::vector<double> ms;
  for (int r = 0; r <= std::max(0, repeats); ++r) {
    W.mutable_grad() = at::randn({m, n}, gen);
    const auto t0 = std::chrono::steady_clock::now();
    opt->step();
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  StepCost out;
  if (ms.size() > 1) ms.erase(ms.begin());  // the warm-up step allocates state
  std::sort(ms.begin(), ms.end());
  out.ms = ms[ms.size() / 2];
  if (const auto* named = dynamic_cast<const NamedOptimizer*>(opt.get())) {
    out.cost = named->last_step_cost();
    out.state_bytes = named->state_bytes();
  } else {
    out.state_bytes = detail::libtorch_state_bytes(*opt);
  }
  return out;
}

}  // namespace steepest
