// Sub-commands of the `steepest` tool; each registers its own flags.
#pragma once

#include <CLI/CLI.hpp>

namespace steepest::app {

void add_orthogonalize_command(CLI::App& app);
void add_optimizers_command(CLI::App& app);

}  // namespace steepest::app
