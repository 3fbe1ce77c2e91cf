#include "steepest/bench/suite.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "steepest/optim/registry.h"

namespace steepest {
namespace {

void require(bool ok, const std::string& where, const std::string& msg) {
  if (!ok) throw std::invalid_argument(where + ": " + msg);
}

}  // namespace

std::string lr_text(double lr) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4g", lr);
  return buf;
}

BenchSuite suite_from_json(const nlohmann::json& j, const std::string& where) {
  require(j.is_object(), where, "a suite must be a JSON object");
  static const std::set<std::string> keys = {
      "name", "description", "train", "optimizers", "lr_grid", "seeds", "target_val_loss"};
  for (const auto& item : j.items())
    require(keys.count(item.key()) > 0, where,
            "unknown key '" + item.key() +
                "'; valid: name, description, train, optimizers, lr_grid, seeds, target_val_loss");
  BenchSuite s;
  s.source = j;
  s.name = j.value("name", std::string("suite"));
  s.description = j.value("description", std::string());
  require(j.contains("train") && j["train"].is_object(), where,
          "needs a \"train\" object with the training config (steepest train --print-config)");
  for (const char* k : {"optimizer", "opt", "lr", "seed", "out"})
    require(
        !j["train"].contains(k), where,
        std::string("\"train\" must not set '") + k + "': the suite sets it per optimizer and run");
  try {
    s.train = train_config_from_json(j["train"]);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(where + ": train: " + e.what());
  }
  require(j.contains("optimizers") && j["optimizers"].is_array() && !j["optimizers"].empty(), where,
          "needs a non-empty \"optimizers\" array");
  std::set<std::string> labels;
  for (const auto& o : j["optimizers"]) {
    require(o.is_object() && o.contains("optimizer") && o["optimizer"].is_string(), where,
            "each optimizers entry needs \"optimizer\": a name from `steepest optimizers`, got " +
                o.dump());
    BenchOptimizer b;
    b.optimizer = o["optimizer"].get<std::string>();
    b.label = o.value("label", b.optimizer);
    b.opt = o.value("opt", nlohmann::json::object());
    const OptimizerInfo& info = optimizer_info(b.optimizer);  // throws listing the names
    resolve_hyperparameters(b.optimizer, b.opt);              // throws naming the key
    b.center_lr = o.value("lr", info.lr);
    require(b.center_lr > 0, where, "optimizer '" + b.label + "': lr must be > 0");
    require(labels.insert(b.label).second, where,
            "label '" + b.label + "' appears twice; give each entry its own \"label\"");
    require(b.label.find_first_of("/ \\") == std::string::npos, where,
            "label '" + b.label + "' must not contain '/', '\\' or spaces (it names directories)");
    s.optimizers.push_back(b);
  }
  if (j.contains("lr_grid")) {
    const auto& g = j["lr_grid"];
    s.lr_points = g.value("points", s.lr_points);
    s.lr_factor = g.value("factor", s.lr_factor);
  }
  require(s.lr_points >= 1, where, "lr_grid.points must be >= 1");
  require(s.lr_factor > 1.0, where, "lr_grid.factor must be > 1");
  if (j.contains("seeds")) s.seeds = j["seeds"].get<std::vector<int64_t>>();
  require(!s.seeds.empty(), where, "seeds must list at least one seed (3 or more for intervals)");
  require(std::set<int64_t>(s.seeds.begin(), s.seeds.end()).size() == s.seeds.size(), where,
          "seeds must be distinct");
  require(j.contains("target_val_loss") && j["target_val_loss"].is_number(), where,
          "needs \"target_val_loss\" (steps-to-target is the first eval at or below it)");
  s.target_val_loss = j["target_val_loss"].get<double>();
  validate(s.train);
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
  return suite_from_json(read_json_file(path), "suite '" + path + "'");
}

std::vector<double> lr_grid(const BenchSuite& suite, const BenchOptimizer& o) {
  std::vector<double> lrs;
  const double mid = (suite.lr_points - 1) / 2.0;
  for (int k = 0; k < suite.lr_points; ++k)
    lrs.push_back(o.center_lr * std::pow(suite.lr_factor, k - mid));
  return lrs;
}

std::vector<BenchRun> tuning_runs(const BenchSuite& suite, const std::string& dir) {
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
