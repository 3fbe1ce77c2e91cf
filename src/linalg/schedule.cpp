#include "steepest/linalg/schedule.h"

#include <stdexcept>

namespace steepest {
namespace {

struct NamedSchedule {
  const char* name;
  const char* description;
  std::vector<NsCoefficients> steps;
  double safety;
  double eps;
  // The step appended when more steps are asked for than the list holds;
  // unset (all zero) repeats the last step.
  NsCoefficients extension = {};
};

// YouJiacheng's 6-step schedule as used by modula (modula-systems/modula, modula/atom.py);
// published as integers / 1024.
std::vector<NsCoefficients> you6() {
  const double k[6][3] = {{3955, -8306, 5008}, {3735, -6681, 3463}, {3799, -6499, 3211},
                          {4019, -6385, 2906}, {2677, -3029, 1162}, {2172, -1833, 682}};
  std::vector<NsCoefficients> out;
  for (const auto& row : k) out.push_back({row[0] / 1024, row[1] / 1024, row[2] / 1024});
  return out;
}

const std::vector<NamedSchedule>& table() {
  static const std::vector<NamedSchedule> t = {
      // Classic cubic Newton–Schulz, 1.5X − 0.5XXᵀX (Higham, "Functions of Matrices" §8.3);
      // converges for 0 < σ < √3.
      {"cubic", "cubic 1.5X - 0.5XX^TX, 2 GEMMs/step, exact limit 1, slow from small sigma",
       std::vector<NsCoefficients>(12, {1.5, -0.5, 0.0}), 1.0, 1e-7},
      // Keller Jordan's quintic, KellerJordan/Muon muon.py (zeropower_via_newtonschulz5); does not
      // converge to 1 by design.
      {"keller", "Keller Jordan's quintic (3.4445,-4.7750,2.0315) x5, sigma lands in ~[0.68,1.13]",
       std::vector<NsCoefficients>(5, {3.4445, -4.7750, 2.0315}), 1.0, 1e-7},
      // Convergent quintic p(1)=1, p'(1)=0 (Bernstein & Newhouse 2024), ×12 in modded-nanogpt's
      // Contra-Muon record.
      {"convergent", "convergent quintic (2,-1.5,0.5) x12, p(1)=1, p'(1)=0",
       std::vector<NsCoefficients>(12, {2.0, -1.5, 0.5}), 1.0, 1e-7},
      // microsoft/dion's Muon (dion/muon.py, zeropower_via_newtonschulz5), also fzwark/DynMuon's
      // msign (dynmuon/newton_schulz_triton.py): five tuned quintics, ‖X‖_F + ε normalization
      // with the optimizers' default ε = 1e-8.
      {"dion",
       "microsoft/dion's and fzwark/DynMuon's five tuned quintics (4.0848,-6.8946,2.9270)...",
       {{4.0848, -6.8946, 2.9270},
        {3.9505, -6.3029, 2.6377},
        {3.7418, -5.5913, 2.3037},
        {2.8769, -3.1427, 1.2046},
        {2.8366, -3.0525, 1.2012}},
       1.0,
       1e-8},
      // YouJiacheng 6-step (modula).
      {"you6", "YouJiacheng's 6-step schedule (modula)", you6(), 1.0, 1e-7},
      // Polar Express (Amsel, Persson, Musco, Gower 2025, arXiv 2505.16932), the 5 steps
      // modded-nanogpt's train_gpt.py uses; longer runs continue with the paper's final
      // (1.875, −1.25, 0.375), whose fixed point is 1 with zero slope.
      {"polar-express",
       "Polar Express minimax quintics x5 (Amsel et al. 2025), ||X||_F*1.02 normalization",
       {{8.156554524902461, -22.48329292557795, 15.878769915207462},
        {4.042929935166739, -2.808917465908714, 0.5000178451051316},
        {3.8916678022926607, -2.772484153217685, 0.5060648178503393},
        {3.285753657755655, -2.3681294933425376, 0.46449024233003106},
        {2.3465413258596377, -1.7097828382687081, 0.42323551169305323}},
       1.02,
       1e-6,
       {1.875, -1.25, 0.375}},
  };
  return t;
}

}  // namespace

double NsSchedule::apply_scalar(double sigma) const {
  for (const auto& s : steps) {
    const double s2 = sigma * sigma;
    sigma = s.a * sigma + (s.b * s2 + s.c * s2 * s2) * sigma;
  }
  return sigma;
}

NsSchedule ns_schedule(const std::string& name, int steps) {
  for (const auto& t : table()) {
    if (name != t.name) continue;
    NsSchedule s{t.name, t.steps, t.safety, t.eps};
    if (steps == 0) {
      throw std::invalid_argument("Newton-Schulz schedule '" + name +
                                  "': steps must be >= 1 (got 0); pass -1 for the default " +
                                  std::to_string(t.steps.size()));
    }
    if (steps > kMaxNsSteps) {
      throw std::invalid_argument("Newton-Schulz schedule '" + name + "': steps must be <= " +
                                  std::to_string(kMaxNsSteps) + ", got " + std::to_string(steps));
    }
    if (steps > 0) {
      const bool own = t.extension.a != 0.0 || t.extension.b != 0.0 || t.extension.c != 0.0;
      s.steps.resize(static_cast<size_t>(steps), own ? t.extension : t.steps.back());
    }
    return s;
  }
  std::string known;
  for (const auto& n : ns_schedule_names()) known += (known.empty() ? "" : ", ") + n;
  throw std::invalid_argument("unknown Newton-Schulz schedule '" + name + "'; known: " + known);
}

const std::vector<std::string>& ns_schedule_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& t : table()) n.push_back(t.name);
    return n;
  }();
  return names;
}

std::string ns_schedule_description(const std::string& name) {
  for (const auto& t : table())
    if (name == t.name) return t.description;
  ns_schedule(name);  // throws with the list of known names
  return {};
}

}  // namespace steepest
