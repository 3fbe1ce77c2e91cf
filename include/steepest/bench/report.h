// `steepest report`: report.html (one self-contained file, inline SVG charts,
// no network) and report.md (the summary table) from a bench results directory.
#pragma once

#include <string>
#include <vector>

#include "steepest/bench/baseline.h"
#include "steepest/bench/results.h"

namespace steepest {

// The per-optimizer summary as a Markdown table (what report.md holds).
std::string summary_markdown(const BenchResults& results);

// The whole page. A non-empty `baseline` (an optimizer label) adds the
// "Against <baseline>" table of bench/baseline.h.
std::string report_html(const BenchResults& results, const std::string& baseline = "");
// The same with the comparison already computed (compare_to_baseline).
std::string report_html(const BenchResults& results, const std::string& baseline,
                        const std::vector<AgainstBaseline>& against);

// Writes <dir>/report.html and <dir>/report.md (tmp + rename); returns their paths.
std::vector<std::string> write_report(const BenchResults& results,
                                      const std::string& baseline = "");
// The same with the comparison already computed (compare_to_baseline).
std::vector<std::string> write_report(const BenchResults& results, const std::string& baseline,
                                      const std::vector<AgainstBaseline>& against);

}  // namespace steepest
