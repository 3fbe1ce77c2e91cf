// `steepest sweep`: does the best learning rate stay put as the model grows?
// A sweep suite is a bench suite (train config, optimizers, LR grid, seeds)
// plus one varied size, "vary": {"key": "n_embd" | "n_layer", "values": […]}.
// Every optimizer runs every value × every grid LR × every seed — the same
// grid for every value (centred on the optimizer's default or its "lr"), so
// the best LR per value and its shift in grid steps can be read off.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "steepest/bench/results.h"
#include "steepest/bench/suite.h"

namespace steepest {

struct SweepSuite {
  BenchSuite base;              // its lr_grid and seeds apply to every cell
  std::string vary;             // "n_embd" or "n_layer"
  std::vector<int64_t> values;  // increasing
  nlohmann::json source;        // the file as read
};

// True for a suite file with a "vary" key (`steepest report` uses this).
bool is_sweep_suite(const nlohmann::json& j);
// Reads and checks a sweep suite; errors name the file, the key and a hint.
SweepSuite load_sweep(const std::string& path);
SweepSuite sweep_from_json(const nlohmann::json& j, const std::string& where = "sweep");

// Every run: "<label>_<vary><value>_lr<lr>_s<seed>", in optimizer, value, LR, seed order.
std::vector<BenchRun> sweep_runs(const SweepSuite& suite, const std::string& results_dir);

// One optimizer at one size: the mean final val loss over finished seeds at each grid LR.
struct SweepCurve {
  std::string label;
  int64_t value = 0;
  std::vector<double> lrs;        // the grid, increasing
  std::vector<double> mean_loss;  // NaN where no seed finished
  std::vector<int> finished;      // seeds finished per LR
  int best = -1;                  // index of the lowest mean (ties: smaller LR); -1 if none
  bool best_at_edge = false;      // best is the grid's first or last point
};

struct SweepResults {
  SweepSuite suite;
  std::string dir;
  std::vector<SweepCurve> curves;  // optimizer-major, values in suite order
  int finished_runs = 0, total_runs = 0;
};

// Curves from run results (any order; runs of other suites are ignored).
std::vector<SweepCurve> sweep_curves(const SweepSuite& suite, const std::vector<RunResult>& runs);
// Reads <dir>/suite.json and every planned run.
SweepResults load_sweep_results(const std::string& dir);

// Per optimizer: largest minus smallest best-LR index over the values, in grid
// steps (×lr_factor each); -1 if some value has no finished curve.
int best_lr_shift(const SweepResults& r, const std::string& label);

// report.md text (tables) and the files written: report.html (one chart per
// optimizer: final val loss against LR, one curve per value) and report.md.
std::string sweep_markdown(const SweepResults& r);
std::vector<std::string> write_sweep_report(const SweepResults& r);

}  // namespace steepest
