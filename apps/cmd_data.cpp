// `steepest data prepare`: text → byte-level train/val shards (or the default corpus).
#include <iostream>

#include "commands.h"
#include "steepest/data/prepare.h"

namespace steepest::app {

void add_data_command(CLI::App& app) {
  auto* data = app.add_subcommand("data", "Prepare token shards");
  data->require_subcommand(1);
  struct Args {
    std::vector<std::string> text;
    std::string out;
    double val_fraction = 0.1;
    bool use_default = false, force = false;
  };
  auto a = std::make_shared<Args>();
  auto* prep = data->add_subcommand(
      "prepare", "Byte-tokenize UTF-8 text into train_000000.bin / val_000000.bin shards");
  prep->add_option("--text", a->text, "input text files (concatenated in order)");
  prep->add_option("--out", a->out, "output directory (default data/kjv with --default)");
  prep->add_option("--val-fraction", a->val_fraction, "last fraction of tokens kept for validation")
      ->capture_default_str();
  prep->add_flag("--default", a->use_default,
                 "the default corpus: the King James Bible from Debian's bible-kjv");
  prep->add_flag("--force", a->force,
                 "replace existing shards in --out (with --default: rebuild them)");
  prep->callback([a] {
    if (a->use_default == !a->text.empty())
      throw std::invalid_argument("give either --text FILE... or --default");
    const PreparedDataset d =
        a->use_default
            ? prepare_default_corpus(a->out.empty() ? "data/kjv" : a->out, a->val_fraction,
                                     a->force)
            : (a->out.empty() ? throw std::invalid_argument("--out DIR is required with --text")
                              : prepare_text_dataset(a->text, a->out, a->val_fraction, a->force));
    std::cout << "train: " << d.train_path << " (" << d.train_tokens << " tokens)\n"
              << "val:   " << d.val_path << " (" << d.val_tokens << " tokens)" << std::endl;
  });
}

}  // namespace steepest::app
