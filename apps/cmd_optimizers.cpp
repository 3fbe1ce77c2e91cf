// `steepest optimizers`: every optimizer, norm, default and schedule.
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "commands.h"
#include "steepest/linalg/orthogonalizer.h"
#include "steepest/linalg/schedule.h"
#include "steepest/optim/registry.h"
#include "steepest/util/threads.h"

namespace steepest::app {

void add_optimizers_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("optimizers",
                                 "List every optimizer and orthogonalization method with defaults");
  auto shape = std::make_shared<std::string>();
  cmd->add_option("--cost", *shape,
                  "instead of the list: what one step of each optimizer spends on an MxN "
                  "matrix (GEMMs, FLOPs, state bytes, ms), e.g. --cost 512x128");
  auto threads = std::make_shared<int>(0);
  cmd->add_option("--threads", *threads,
                  "with --cost: OpenBLAS threads (libtorch intra-op then 1; 0 = leave both as they "
                  "are)");
  cmd->callback([shape, threads] {
    if (!shape->empty()) {
      if (*threads > 0) set_threads(*threads);
      int64_t m = 0, n = 0;
      char x = 0;
      std::istringstream in(*shape);
      if (!(in >> m >> x >> n) || (x != 'x' && x != 'X') || m < 1 || n < 1 || !in.eof())
        throw std::invalid_argument("--cost expects MxN with positive M, N (e.g. 512x128), got '" +
                                    *shape + "'");
      std::printf("%-20s %6s %12s %14s %12s %10s\n", "optimizer", "GEMMs", "GEMM MFLOP",
                  "other MFLOP", "state bytes", "ms/step");
      for (const auto& i : optimizer_infos()) {
        const StepCost c = measure_step_cost(i.name, m, n);
        std::printf("%-20s %6lld %12.2f %14.2f %12lld %10.3f\n", i.name.c_str(),
                    static_cast<long long>(c.cost.gemms), c.cost.flops / 1e6,
                    c.cost.other_flops / 1e6, static_cast<long long>(c.state_bytes), c.ms);
      }
      std::printf(
          "(one fp32 %lldx%lld matrix, default hyperparameters; ms: median of 3 steps, "
          "this machine, current thread settings)\n",
          static_cast<long long>(m), static_cast<long long>(n));
      return;
    }
    std::cout << "Optimizers (steepest train --optimizer NAME):\n";
    for (const auto& i : optimizer_infos()) {
      std::cout << "  " << i.name
                << (i.hidden_matrices ? "   (hidden matrices; AdamW for embeddings, head, 1-D)"
                                      : "")
                << "\n"
                << "      norm:     " << i.norm << "\n"
                << "      update:   " << i.formula << "\n"
                << "      defaults: " << i.defaults() << "\n"
                << "      source:   " << i.source << "\n";
      for (const auto& h : i.hyper)
        std::cout << "        --opt " << h.name << "="
                  << (h.value.is_string() ? h.value.get<std::string>() : h.value.dump()) << "   "
                  << h.help << "\n";
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
              << "  turbo-<schedule>  Turbo-Muon: AOL start replaces the schedule's first step "
                 "(runs steps 2..n; --steps N runs steps 2..N+1)\n"
              << "  svd  exact U V^T by LAPACK SVD\n";
  });
}

}  // namespace steepest::app
