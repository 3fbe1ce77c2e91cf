// Internal: the bench report's spectra section (issue #14), drawn from the
// spectra.jsonl of each optimizer's best-LR seed runs (suites with
// "spectra_every" in their train object).
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "steepest/bench/results.h"

namespace steepest::detail {

// The statistics of one matrix in a spectra record (spectrum_json in
// train/layer_spectra.cpp): {"sigma_max": x, "stable_rank": x, "alpha":
// {"alpha": x, ...}, and "sigma": [all singular values] or "sigma_top",
// "sigma_bottom" (the largest and smallest, descending) with the 7
// "sigma_quantiles" (q = 0, .1, .25, .5, .75, .9, 1), ...}. A number the
// trainer could not compute is null, read as NaN.
struct SpectrumRecordStats {
  double sigma_max = 0, stable_rank = 0, alpha = 0;
  std::vector<double> sigma;  // all singular values, or empty when the next three are kept
  std::vector<double> sigma_top, sigma_bottom, sigma_quantiles;
};

// One line of a run's spectra.jsonl (train/spectra_recorder.cpp writes it):
// {"step": N, "name": "blocks.0.attn.q.weight", "shape": [rows, cols, ...],
//  "weight": stats, "momentum": stats or null, "update": stats,
//  "alignment": x or null, "msign_band": [sigma_min, sigma_max] or null, ...}.
struct SpectraRecord {
  int line = 0;  // in the file, 1-based
  int64_t step = 0;
  std::string name;
  std::vector<int64_t> shape;
  int64_t rank = 0;  // min(rows, columns) of the matrix the statistics are of
  SpectrumRecordStats weight, update;
  std::optional<SpectrumRecordStats> momentum;
  double alignment = 0;                             // NaN when null
  std::optional<std::array<double, 2>> msign_band;  // absent when null
  nlohmann::json json;                              // the line as read (spectrum --json)
};

// Every record of a spectra.jsonl's text, in file order, each key checked
// for its type and size (sigma lists no longer than the rank, exactly 7
// quantiles, a 2-number band with sigma_min <= sigma_max). Errors
// (std::invalid_argument) start with "<path>:<line>", name the key's path
// (e.g. 'weight.alpha.alpha'), what it must be and the value found, and end
// with a hint; a half-written last line (a killed run) is skipped.
std::vector<SpectraRecord> parse_spectra_jsonl(const std::string& text, const std::string& path);
std::vector<SpectraRecord> read_spectra_jsonl(const std::string& path);

// The section's HTML (a heading, three charts, a note), or "" when no run of
// the results recorded spectra. A damaged spectra.jsonl is an error
// (read_spectra_jsonl's).
//  - weight α over training per optimizer (mean over hidden matrices and seeds);
//  - the last recorded weight spectrum per layer type (q, k, v, o, fc, proj),
//    σ against rank on log-log axes, one series per optimizer (seed run 0;
//    top and bottom singular values and quantiles where the record keeps no
//    full spectrum);
//  - the msign output's band [σ_min, σ_max] per layer type over training,
//    for the first optimizer that records one.
std::string spectra_section_html(const BenchResults& results);

}  // namespace steepest::detail
