// `steepest optimizers`: every optimizer, norm, default and schedule.
#include <iostream>

#include "commands.h"
#include "steepest/linalg/orthogonalizer.h"
#include "steepest/linalg/schedule.h"
#include "steepest/optim/registry.h"

namespace steepest::app {

void add_optimizers_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("optimizers",
                                 "List every optimizer and orthogonalization method with defaults");
  cmd->callback([] {
    std::cout << "Optimizers (steepest train --optimizer NAME):\n";
    for (const auto& i : optimizer_infos()) {
      std::cout << "  " << i.name << "\n"
                << "      norm:     " << i.norm << "\n"
                << "      update:   " << i.formula << "\n"
                << "      defaults: " << i.defaults << "\n"
                << "      source:   " << i.source << "\n";
    }
    std::cout << "\nOrthogonalization methods (Muon --orthogonalizer, steepest orthogonalize "
                 "--method):\n";
    for (const auto& s : ns_schedule_names()) {
      const auto sched = ns_schedule(s);
      std::cout << "  " << s << " (" << sched.steps.size() << " steps)  "
                << ns_schedule_description(s) << "\n";
    }
    std::cout << "  gram-<schedule>  Gram Newton-Schulz with that schedule (restart after step "
                 "2; falls back to plain NS when not cheaper)\n"
              << "  svd  exact U V^T by LAPACK SVD\n";
  });
}

}  // namespace steepest::app
