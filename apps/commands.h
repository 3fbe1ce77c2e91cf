// Sub-commands of the `steepest` tool; each registers its own flags.
#pragma once

#include <CLI/CLI.hpp>

namespace steepest::app {

void add_orthogonalize_command(CLI::App& app);
void add_optimizers_command(CLI::App& app);
void add_data_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_sample_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_report_command(CLI::App& app);
void add_compare_scales_command(CLI::App& app);
void add_sweep_command(CLI::App& app);
void add_checkpoint_command(CLI::App& app);
void add_export_command(CLI::App& app);
void add_spectrum_command(CLI::App& app);

// Sets `threads` (0 = leave libtorch and OpenBLAS as they are) after checking
// it against [0, kMaxThreads]; for the commands other than `train`, whose
// config checks its own.
void apply_threads_flag(int threads);

}  // namespace steepest::app
