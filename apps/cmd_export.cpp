// `steepest export --run DIR --out DIR`: a run's weights as .npy files plus
// gpt.json, for PyTorch (tests/twin/twin_gpt.py) or NumPy.
#include <cstdio>
#include <memory>
#include <string>

#include "commands.h"
#include "run_loader.h"
#include "steepest/model/export.h"

namespace steepest::app {

void add_export_command(CLI::App& app) {
  struct Args {
    std::string run, out;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "export", "Write a run's weights as one .npy per parameter plus gpt.json (for PyTorch)");
  cmd->add_option("--run", a->run, "run directory or checkpoint file")->required();
  cmd->add_option("--out", a->out, "directory for gpt.json and the .npy files")->required();
  cmd->callback([a] {
    auto r = load_run(a->run);
    export_gpt(r.model, a->out);
    std::printf("exported step %lld of %s (%lld parameters) to %s\n",
                static_cast<long long>(r.step), a->run.c_str(),
                static_cast<long long>(r.model->num_parameters()), a->out.c_str());
  });
}

}  // namespace steepest::app
