// Internal: the bench report's spectra section (issue #14), drawn from the
// spectra.jsonl of each optimizer's best-LR seed runs (suites with
// "spectra_every" in their train object).
#pragma once

#include <string>

#include "steepest/bench/results.h"

namespace steepest::detail {

// The section's HTML (a heading, three charts, a note), or "" when no run of
// the results recorded spectra.
//  - weight α over training per optimizer (mean over hidden matrices and seeds);
//  - the last recorded weight spectrum per layer type (q, k, v, o, fc, proj),
//    σ against rank on log-log axes, one series per optimizer (seed run 0;
//    top and bottom singular values and quantiles where the record keeps no
//    full spectrum);
//  - the msign output's band [σ_min, σ_max] per layer type over training,
//    for the first optimizer that records one.
std::string spectra_section_html(const BenchResults& results);

}  // namespace steepest::detail
