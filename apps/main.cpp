// `steepest`: command-line front end of the library.
#include <c10/util/Exception.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"steepest: neural-network optimizers as steepest descent under a chosen norm"};
  app.require_subcommand(1);
  steepest::app::add_orthogonalize_command(app);
  steepest::app::add_optimizers_command(app);
  steepest::app::add_data_command(app);
  steepest::app::add_train_command(app);
  steepest::app::add_eval_command(app);
  steepest::app::add_sample_command(app);
  steepest::app::add_bench_command(app);
  steepest::app::add_report_command(app);
  steepest::app::add_compare_scales_command(app);
  steepest::app::add_sweep_command(app);
  steepest::app::add_checkpoint_command(app);
  steepest::app::add_export_command(app);
  steepest::app::add_spectrum_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const c10::Error& e) {
    // Our own checks should have caught this first: say so, then libtorch's text.
    std::cerr << "steepest: error: an unexpected libtorch error (please report it with the "
                 "command that caused it): "
              << e.what_without_backtrace() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "steepest: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
