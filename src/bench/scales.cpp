#include "steepest/bench/scales.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <random>
#include <sstream>
#include <stdexcept>

#include "steepest/bench/baseline.h"
#include "steepest/bench/stats.h"
#include "util/atomic_file.h"

namespace steepest {
namespace {

namespace fs = std::filesystem;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

// Both name one directory (as text, or as files: "a" and "./a/", links).
bool same_directory(const std::string& a, const std::string& b) {
  if (a.empty() || b.empty()) return false;  // results built in memory
  std::error_code ec;
  if (fs::equivalent(a, b, ec)) return true;
  return fs::path(a).lexically_normal() == fs::path(b).lexically_normal();
}

std::string scale_name(const BenchResults& r) {
  const auto& t = r.suite.train;
  std::ostringstream o;
  o << r.suite.name << " (" << t.n_layer << "×" << t.n_embd << ", " << t.steps << " steps)";
  return o.str();
}

}  // namespace

double kendall_tau(const std::vector<double>& a, const std::vector<double>& b) {
  if (a.size() != b.size()) throw std::invalid_argument("kendall_tau: sizes differ");
  const size_t n = a.size();
  if (n < 2) return kNaN;
  double concordant = 0, discordant = 0, ties_a = 0, ties_b = 0, pairs = 0;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = i + 1; j < n; ++j) {
      pairs += 1;
      const double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0) ties_a += 1;
      if (db == 0) ties_b += 1;
      if (da == 0 || db == 0) continue;
      ((da > 0) == (db > 0) ? concordant : discordant) += 1;
    }
  const double denom = std::sqrt((pairs - ties_a) * (pairs - ties_b));
  return denom > 0 ? (concordant - discordant) / denom : kNaN;
}

ScaleComparison compare_scales(const std::vector<BenchResults>& scales, int resamples,
                               const std::string& baseline) {
  if (scales.size() < 2)
    throw std::invalid_argument("comparing scales needs at least two results directories");
  // The same directory twice would agree with itself: τ = 1 says nothing.
  for (size_t a = 0; a < scales.size(); ++a)
    for (size_t b = a + 1; b < scales.size(); ++b)
      if (same_directory(scales[a].dir, scales[b].dir))
        throw std::invalid_argument(
            "'" + scales[a].dir + "' and '" + scales[b].dir + "' (directories " +
            std::to_string(a + 1) + " and " + std::to_string(b + 1) +
            ") are the same results directory; compare-scales compares different scales: one "
            "`steepest bench` results directory per model size");
  ScaleComparison c;
  for (const auto& s : scales) c.scales.push_back(scale_name(s));
  for (const auto& o : scales.front().optimizers) {
    bool everywhere = true;
    for (const auto& s : scales) {
      const auto* f = find_optimizer(s, o.optimizer.label);
      everywhere &= f != nullptr && !f->final_losses.empty();
    }
    if (everywhere) c.labels.push_back(o.optimizer.label);
  }
  if (c.labels.size() < 2)
    throw std::invalid_argument(
        "comparing scales needs at least two optimizers with finished seed runs at every scale "
        "(same labels in every suite)");
  c.mean_loss.assign(scales.size(), {});
  for (size_t s = 0; s < scales.size(); ++s)
    for (const auto& l : c.labels)
      c.mean_loss[s].push_back(mean(find_optimizer(scales[s], l)->final_losses));

  // The fewest seeds behind any mean: the sample size the expansion corrects for.
  size_t min_seeds = SIZE_MAX;
  for (const auto& s : scales)
    for (const auto& l : c.labels)
      min_seeds = std::min(min_seeds, find_optimizer(s, l)->final_losses.size());
  std::mt19937_64 rng(20261201);
  for (size_t a = 0; a < scales.size(); ++a)
    for (size_t b = a + 1; b < scales.size(); ++b) {
      ScalePair p{a, b, {kendall_tau(c.mean_loss[a], c.mean_loss[b]), kNaN, kNaN}};
      std::vector<double> taus;
      for (int r = 0; r < resamples; ++r) {
        std::vector<double> ma, mb;
        for (const auto& l : c.labels) {
          ma.push_back(mean(resampled(find_optimizer(scales[a], l)->final_losses, rng)));
          mb.push_back(mean(resampled(find_optimizer(scales[b], l)->final_losses, rng)));
        }
        taus.push_back(kendall_tau(ma, mb));
      }
      if (min_seeds >= 2)
        std::tie(p.tau.lo, p.tau.hi) = expanded_percentile_interval(taus, min_seeds);
      c.pairs.push_back(p);
    }

  c.baseline = baseline;
  if (baseline.empty()) return c;
  if (std::find(c.labels.begin(), c.labels.end(), baseline) == c.labels.end()) {
    std::string labels;
    for (const auto& l : c.labels) labels += (labels.empty() ? "" : ", ") + l;
    throw std::invalid_argument("--baseline '" + baseline +
                                "': not among the optimizers finished at every scale (" + labels +
                                ")");
  }
  for (const auto& l : c.labels) {
    if (l == baseline) continue;
    SpeedUp s{l, {}, {}};
    for (const auto& scale : scales) {
      std::string why;
      s.by_scale.push_back(
          steps_speedup(*find_optimizer(scale, baseline), *find_optimizer(scale, l), &why));
      s.note.push_back(why);
    }
    c.speedups.push_back(s);
  }
  return c;
}

std::string scales_markdown(const ScaleComparison& c) {
  std::ostringstream o;
  o << "Final val loss (mean over seeds) and rank (1 = lowest) at each scale:\n\n| optimizer |";
  for (const auto& s : c.scales) o << " " << s << " |";
  o << "\n|---|";
  for (size_t s = 0; s < c.scales.size(); ++s) o << "---|";
  o << "\n";
  for (size_t i = 0; i < c.labels.size(); ++i) {
    o << "| " << c.labels[i] << " |";
    for (size_t s = 0; s < c.scales.size(); ++s) {
      int rank = 1;
      for (double v : c.mean_loss[s]) rank += v < c.mean_loss[s][i];
      o << " " << fmt("%.4f", c.mean_loss[s][i]) << " (" << rank << ") |";
    }
    o << "\n";
  }
  o << "\nRank agreement between scales (Kendall τ-b of the mean losses; seed-resampling range: "
       "the expanded percentile bootstrap over each optimizer's seeds, not a calibrated 95% "
       "interval, docs/BENCH.md):\n\n| scales | τ | seed-resampling range |\n|---|---|---|\n";
  for (const auto& p : c.pairs)
    o << "| " << c.scales[p.a] << " vs " << c.scales[p.b] << " | " << fmt("%.2f", p.tau.value)
      << " | "
      << (std::isfinite(p.tau.lo) ? fmt("%.2f", p.tau.lo) + " … " + fmt("%.2f", p.tau.hi) : "—")
      << " |\n";
  if (!c.speedups.empty()) {
    o << "\nSpeed-up over " << c.baseline << " in steps to the target (" << c.baseline
      << "'s mean / the optimizer's; Fieller's 95% interval over seeds):\n\n| optimizer |";
    for (const auto& s : c.scales) o << " " << s << " |";
    o << "\n|---|";
    for (size_t s = 0; s < c.scales.size(); ++s) o << "---|";
    o << "\n";
    for (const auto& s : c.speedups) {
      o << "| " << s.label << " |";
      for (size_t k = 0; k < s.by_scale.size(); ++k) {
        const auto& v = s.by_scale[k];
        if (!std::isfinite(v.value))
          o << " — (" << s.note[k] << ") |";
        else
          o << " " << fmt("%.2f", v.value) << "× "
            << (std::isfinite(v.lo) ? "(" + fmt("%.2f", v.lo) + " … " + fmt("%.2f", v.hi) + ")"
                : std::isinf(v.lo)  ? std::string("(unbounded)")
                                    : std::string("(one seed)"))
            << " |";
      }
      o << "\n";
    }
  }
  return o.str();
}

void write_scales_markdown(const ScaleComparison& c, const std::string& path) {
  detail::write_file_atomically(path, scales_markdown(c));
}

}  // namespace steepest
