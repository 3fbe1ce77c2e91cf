// A small text corpus for trainer tests, prepared as byte-level shards.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "steepest/data/prepare.h"

namespace steepest::testing {

// Writes dir/text.txt (400 short lines) and its shards under dir/data
// (train_*.bin, val_*.bin; 10% validation).
inline void write_tiny_corpus(const std::filesystem::path& dir) {
  std::filesystem::create_directories(dir);
  {
    std::ofstream f(dir / "text.txt");
    for (int i = 0; i < 400; ++i)
      f << "In the beginning was the word, and the word was " << i % 37 << ".\n";
  }
  prepare_text_dataset({(dir / "text.txt").string()}, (dir / "data").string(), 0.1,
                       /*force=*/true);
}

}  // namespace steepest::testing
