// `steepest checkpoint seal FILE...`: seals checkpoints written before
// steepest sealed them (include/steepest/io/zip_check.h), so they load again.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "commands.h"
#include "steepest/train/checkpoint.h"

namespace steepest::app {
namespace fs = std::filesystem;

void add_checkpoint_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("checkpoint", "Maintain checkpoint files");
  cmd->require_subcommand(1);
  auto files = std::make_shared<std::vector<std::string>>();
  auto* seal = cmd->add_subcommand(
      "seal",
      "Add the whole-file CRC-32 seal that steepest checks before loading a checkpoint, to "
      "checkpoints written before 2026-11-30 (only files you trust: the seal vouches for them)");
  seal->add_option("files", *files, "checkpoint files, or run directories (every .pt in them)")
      ->required();
  seal->callback([files] {
    for (const auto& f : *files) {
      std::vector<std::string> paths;
      std::error_code ec;
      if (fs::is_directory(f, ec)) {
        for (const auto& e : fs::directory_iterator(f))
          if (e.path().extension() == ".pt") paths.push_back(e.path().string());
        if (paths.empty())
          throw std::runtime_error("directory '" + f + "' holds no .pt checkpoint to seal");
        std::sort(paths.begin(), paths.end());
      } else {
        paths.push_back(resolve_checkpoint(f));
      }
      for (const auto& p : paths)
        std::printf("%s: %s\n", p.c_str(),
                    seal_checkpoint_file(p) ? "sealed" : "already sealed, unchanged");
    }
  });
}

}  // namespace steepest::app
