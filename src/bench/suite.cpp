#include "steepest/bench/suite.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "io/json_fields.h"
#include "steepest/optim/registry.h"

namespace steepest {
namespace {

using detail::shown;
using nlohmann::json;

void require(bool ok, const std::string& where, const std::string& msg) {
  if (!ok) throw std::invalid_argument(where + ": " + msg);
}

// Past this many LR trials per optimizer a suite is surely a typo, and its
// run list would not fit in memory.
constexpr int64_t kMaxLrPoints = 1000;
// Seeds become TrainConfig::seed: non-negative, within its range.
constexpr int64_t kMaxSeed = 9'000'000'000'000'000'000;
// Run ids print an LR with 4 significant digits (lr_text): neighbours closer
// than 1% could print alike and share one run directory.
constexpr double kMinLrFactor = 1.01;
// An LR reaches fp32 parameters as an fp32 scalar.
constexpr double kMaxLr = 3.4e38;

}  // namespace

std::string lr_text(double lr) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", lr);
  return buf;
}

BenchSuite suite_from_json(const json& j, const std::string& where) {
  // Every error names the file, the key's path (e.g. 'optimizers[2].lr'), what
  // it must be and what it is.
  const detail::JsonFields r(where);
  require(j.is_object(), where, "a suite must be a JSON object, got " + shown(j));
  r.only_keys(j, "",
              {"name", "description", "train", "optimizers", "lr_grid", "lr_search", "seeds",
               "target_val_loss"});
  BenchSuite s;
  s.source = j;
  s.name = j.contains("name") ? r.text(j["name"], "name") : std::string("suite");
  if (j.contains("description")) s.description = r.text(j["description"], "description");
  require(j.contains("train") && j["train"].is_object(), where,
          "needs a \"train\" object with the training config (steepest train --print-config)");
  for (const char* k : {"optimizer", "opt", "lr", "seed", "out"})
    require(
        !j["train"].contains(k), where,
        std::string("\"train\" must not set '") + k + "': the suite sets it per optimizer and run");
  try {
    s.train = train_config_from_json(j["train"]);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw std::invalid_argument(where + ": train: " + e.what());
  }
  require(j.contains("optimizers") && j["optimizers"].is_array() && !j["optimizers"].empty(), where,
          "needs a non-empty \"optimizers\" array");
  std::set<std::string> labels;
  for (size_t i = 0; i < j["optimizers"].size(); ++i) {
    const json& o = j["optimizers"][i];
    const std::string at = "optimizers[" + std::to_string(i) + "]";
    require(o.is_object() && o.contains("optimizer"), where,
            at + " needs \"optimizer\": a name from `steepest optimizers`, got " + shown(o));
    r.only_keys(o, at + ".", {"optimizer", "label", "opt", "lr"});
    BenchOptimizer b;
    b.optimizer = r.text(o["optimizer"], at + ".optimizer");
    b.label = o.contains("label") ? r.text(o["label"], at + ".label") : b.optimizer;
    if (o.contains("opt")) {
      if (!o["opt"].is_object())
        r.wrong(at + ".opt", "an object of hyperparameters (steepest optimizers)", o["opt"]);
      b.opt = o["opt"];
    }
    const OptimizerInfo* info = nullptr;
    try {
      info = &optimizer_info(b.optimizer);          // throws listing the names
      resolve_hyperparameters(b.optimizer, b.opt);  // throws naming the key
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(where + ": " + at + ": " + e.what());
    }
    b.center_lr = o.contains("lr") ? r.number(o["lr"], at + ".lr") : info->lr;
    require(b.center_lr > 0, where,
            "key '" + at + ".lr' (optimizer '" + b.label + "'): lr must be > 0, got " +
                lr_text(b.center_lr));
    require(!b.label.empty(), where, "key '" + at + ".label' must not be empty");
    require(labels.insert(b.label).second, where,
            "label '" + b.label + "' appears twice; give each entry its own \"label\"");
    const bool plain = std::none_of(b.label.begin(), b.label.end(), [](char c) {
      return c == '/' || c == '\\' || c == ' ' || static_cast<unsigned char>(c) < 0x20;
    });
    require(plain, where,
            "label " + shown(b.label) +
                " must not contain '/', '\\', spaces or control characters (it names "
                "directories)");
    s.optimizers.push_back(b);
  }
  if (j.contains("lr_grid")) {
    const auto& g = j["lr_grid"];
    if (!g.is_object()) r.wrong("lr_grid", "an object {\"points\": N, \"factor\": F}", g);
    r.only_keys(g, "lr_grid.", {"points", "factor"});
    if (g.contains("points"))
      s.lr_points = static_cast<int>(r.whole(g["points"], "lr_grid.points", 1, kMaxLrPoints));
    if (g.contains("factor")) s.lr_factor = r.number(g["factor"], "lr_grid.factor");
  }
  require(s.lr_factor >= kMinLrFactor, where,
          "lr_grid.factor must be >= 1.01 (run ids print 4 digits of an LR, so closer "
          "neighbours would share a run), got " +
              lr_text(s.lr_factor));
  if (j.contains("lr_search")) {
    require(!j.contains("lr_grid"), where,
            "set either \"lr_grid\" (a fixed grid) or \"lr_search\" (adaptive), not both");
    const auto& g = j["lr_search"];
    if (!g.is_object()) r.wrong("lr_search", "an object {\"trials\": N, \"factor\": F}", g);
    r.only_keys(g, "lr_search.", {"trials", "factor"});
    s.lr_search_trials = 7;
    if (g.contains("trials"))
      s.lr_search_trials =
          static_cast<int>(r.whole(g["trials"], "lr_search.trials", 3, kMaxLrPoints));
    if (g.contains("factor")) s.lr_search_factor = r.number(g["factor"], "lr_search.factor");
    require(s.lr_search_factor >= kMinLrFactor, where,
            "lr_search.factor must be >= 1.01 (run ids print 4 digits of an LR, so closer "
            "trials would be one run), got " +
                lr_text(s.lr_search_factor));
  }
  if (j.contains("seeds")) {
    const auto& seeds = j["seeds"];
    if (!seeds.is_array()) r.wrong("seeds", "a list of seeds such as [1, 2, 3]", seeds);
    s.seeds.clear();
    for (size_t i = 0; i < seeds.size(); ++i)
      s.seeds.push_back(r.whole(seeds[i], "seeds[" + std::to_string(i) + "]", 0, kMaxSeed));
  }
  require(!s.seeds.empty(), where, "seeds must list at least one seed (3 or more for intervals)");
  require(std::set<int64_t>(s.seeds.begin(), s.seeds.end()).size() == s.seeds.size(), where,
          "seeds must be distinct");
  require(j.contains("target_val_loss"), where,
          "needs \"target_val_loss\" (steps-to-target is the first eval at or below it)");
  s.target_val_loss = r.number(j["target_val_loss"], "target_val_loss");
  // Every LR the grid or the search can reach must be a usable fp32 step size.
  const double factor = s.lr_search_trials > 0 ? s.lr_search_factor : s.lr_factor;
  const double reach = s.lr_search_trials > 0 ? s.lr_search_trials : (s.lr_points - 1) / 2.0;
  for (const auto& o : s.optimizers) {
    const double hi = o.center_lr * std::pow(factor, reach),
                 lo = o.center_lr / std::pow(factor, reach);
    require(std::isfinite(hi) && hi <= kMaxLr && lo >= 1e-30, where,
            "optimizer '" + o.label + "': its LRs would reach " + lr_text(lo) + " … " +
                lr_text(hi) + ", beyond [1e-30, 3.4e38] (lr " + lr_text(o.center_lr) + ", factor " +
                lr_text(factor) + "); use an lr near the optimizer's default or a smaller factor");
  }
  const double planned = static_cast<double>(s.optimizers.size()) *
                         ((s.lr_search_trials > 0 ? s.lr_search_trials : s.lr_points) +
                          static_cast<double>(s.seeds.size()));
  require(planned <= kMaxPlannedRuns, where,
          "plans about " + std::to_string(static_cast<int64_t>(planned)) +
              " runs (optimizers x (LR trials + seeds)), more than " +
              std::to_string(kMaxPlannedRuns) + "; split it into several suites");
  try {
    validate(s.train);
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    throw std::invalid_argument(where + ": train: " + e.what());
  }
  return s;
}

BenchRun make_run(const BenchSuite& s, const BenchOptimizer& o, double lr, int64_t seed,
                  BenchPhase phase, const std::string& dir, const std::string& tag) {
  BenchRun r;
  r.label = o.label;
  r.lr = lr;
  r.seed = seed;
  r.phase = phase;
  r.id =
      o.label + (tag.empty() ? "" : "_" + tag) + "_lr" + lr_text(lr) + "_s" + std::to_string(seed);
  r.config = s.train;
  r.config.optimizer = o.optimizer;
  r.config.opt = o.opt;
  r.config.lr = lr;
  r.config.seed = seed;
  r.config.out = (std::filesystem::path(dir) / "runs" / r.id).string();
  return r;
}

BenchSuite load_suite(const std::string& path) {
  const std::string where = "suite '" + path + "'";
  return suite_from_json(detail::read_json(path, where), where);
}

std::vector<double> lr_grid(const BenchSuite& suite, const BenchOptimizer& o) {
  std::vector<double> lrs;
  const double mid = (suite.lr_points - 1) / 2.0;
  for (int k = 0; k < suite.lr_points; ++k)
    lrs.push_back(o.center_lr * std::pow(suite.lr_factor, k - mid));
  return lrs;
}

std::vector<BenchRun> tuning_runs(const BenchSuite& suite, const std::string& dir) {
  if (suite.lr_search_trials > 0)
    throw std::invalid_argument("tuning_runs: suite '" + suite.name +
                                "' searches its LRs adaptively; use tuning_plan (bench/results.h)");
  std::vector<BenchRun> runs;
  for (const auto& o : suite.optimizers)
    for (double lr : lr_grid(suite, o))
      runs.push_back(make_run(suite, o, lr, suite.seeds.front(), BenchPhase::Tune, dir));
  return runs;
}

std::vector<BenchRun> seed_runs(const BenchSuite& suite, const std::string& dir,
                                const std::vector<double>& best_lr) {
  if (best_lr.size() != suite.optimizers.size())
    throw std::invalid_argument("seed_runs: one best lr per optimizer expected");
  std::vector<BenchRun> runs;
  for (size_t i = 0; i < suite.optimizers.size(); ++i)
    for (size_t k = 1; k < suite.seeds.size(); ++k)
      runs.push_back(
          make_run(suite, suite.optimizers[i], best_lr[i], suite.seeds[k], BenchPhase::Seed, dir));
  return runs;
}

}  // namespace steepest
