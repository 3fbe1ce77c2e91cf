// Turning text into train/val shards, including the embedded default corpus.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace steepest {

struct PreparedDataset {
  std::string train_path;  // <out_dir>/train_000000.bin
  std::string val_path;    // <out_dir>/val_000000.bin
  int64_t train_tokens = 0;
  int64_t val_tokens = 0;
};

// Byte-tokenizes the concatenation of `text_files` (UTF-8, any size that fits
// in memory) and writes the last `val_fraction` of the tokens as the val shard,
// the rest as the train shard. Creates out_dir. Throws std::runtime_error for
// an unreadable file (naming it), val_fraction outside (0, 1), or too little
// text to fill both shards. Existing shards in out_dir are replaced only with
// force, and never when one of them is also an input file.
PreparedDataset prepare_text_dataset(const std::vector<std::string>& text_files,
                                     const std::string& out_dir, double val_fraction = 0.1,
                                     bool force = false);

// The default corpus: the King James Bible from Debian's bible-kjv package
// (`bible -f Gen1:1-Rev22:21`, ~4.4 MB), prepared once into out_dir. If both
// shards already exist there (and force is false) they are reused. Throws with
// "install bible-kjv (make deps)" when the `bible` program is missing.
PreparedDataset prepare_default_corpus(const std::string& out_dir = "data/kjv",
                                       double val_fraction = 0.1, bool force = false);

}  // namespace steepest
