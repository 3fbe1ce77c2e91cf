// `steepest eval` (val loss of a checkpoint) and `steepest sample` (text from it).
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "run_loader.h"
#include "steepest/data/byte_tokenizer.h"
#include "steepest/train/config.h"
#include "steepest/train/trainer.h"

namespace steepest::app {

void add_eval_command(CLI::App& app) {
  struct Args {
    std::string run, val;
    int64_t batches = 0, batch = 0;
    int threads = 0;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("eval", "Validation loss of a run's checkpoint (one JSON line)");
  cmd->add_option("--run", a->run, "run directory or checkpoint file")->required();
  cmd->add_option("--val", a->val, "validation shard glob (default: the run's)");
  cmd->add_option("--batches", a->batches, "batches (default: the run's eval_batches)");
  cmd->add_option("--batch", a->batch, "sequences per batch (default: the run's batch)");
  cmd->add_option("--threads", a->threads, "OpenBLAS threads (0 = leave as is)");
  cmd->callback([a] {
    if (a->batches < 0 || a->batch < 0)
      throw std::invalid_argument("--batches and --batch must be >= 1 (0 = the run's own)");
    apply_threads_flag(a->threads);
    auto r = load_run(a->run);
    const std::string val = a->val.empty() ? r.config.val : a->val;
    TokenDataset data(val, r.config.vocab_size);
    const int64_t batches = a->batches > 0 ? a->batches : r.config.eval_batches;
    const int64_t batch = a->batch > 0 ? a->batch : r.config.batch;
    {
      TrainConfig c = r.config;  // the same range and memory checks as training
      c.batch = batch;
      validate(c);
    }
    if (data.size() <= r.config.ctx)
      throw std::invalid_argument("'" + val + "' holds " + std::to_string(data.size()) +
                                  " tokens, fewer than the run's context " +
                                  std::to_string(r.config.ctx) + " + 1");
    // Batches wrap around the data; more than one pass only repeats it.
    const int64_t windows = (data.size() - 1) / r.config.ctx;
    const int64_t one_pass = (windows + batch - 1) / batch;
    if (a->batches > one_pass)
      throw std::invalid_argument("--batches " + std::to_string(a->batches) + " of " +
                                  std::to_string(batch) + " sequences exceeds the " +
                                  std::to_string(windows) + " windows in '" + val + "'; at most " +
                                  std::to_string(one_pass) + " batches cover it once");
    const double loss = evaluate(r.model, data, batch, r.config.ctx, batches);
    nlohmann::ordered_json j = {{"run", a->run},
                                {"step", r.step},
                                {"val", val},
                                {"batches", batches},
                                {"tokens", batches * batch * r.config.ctx},
                                {"val_loss", loss}};
    std::cout << j.dump() << std::endl;
  });
}

void add_sample_command(CLI::App& app) {
  struct Args {
    std::string run, prompt = "\n";
    int64_t tokens = 200, top_k = 0, seed = 0;
    double temperature = 0.8;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("sample", "Generate text from a run's checkpoint");
  cmd->add_option("--run", a->run, "run directory or checkpoint file")->required();
  cmd->add_option("--prompt", a->prompt, "text to continue (byte-level runs)");
  cmd->add_option("--tokens", a->tokens, "tokens to generate")->capture_default_str();
  cmd->add_option("--temperature", a->temperature, "> 0; lower is more conservative")
      ->capture_default_str();
  cmd->add_option("--top-k", a->top_k, "sample among the k most likely (0 = all)")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "sampling seed")->capture_default_str();
  cmd->callback([a] {
    // About 1 ms a token at the default size: 10^5 tokens is a couple of minutes.
    constexpr int64_t kMaxTokens = 100000;
    if (a->tokens < 1 || a->tokens > kMaxTokens)
      throw std::invalid_argument("--tokens must be in [1, " + std::to_string(kMaxTokens) +
                                  "], got " + std::to_string(a->tokens) +
                                  "; for more text, sample in pieces with --prompt");
    if (!(a->temperature > 0) || !std::isfinite(a->temperature))
      throw std::invalid_argument("--temperature must be a finite number > 0, got " +
                                  std::to_string(a->temperature) +
                                  " (lower is more conservative, e.g. 0.8)");
    if (a->top_k < 0)
      throw std::invalid_argument("--top-k must be >= 0 (0 = all tokens), got " +
                                  std::to_string(a->top_k));
    auto r = load_run(a->run);
    if (a->top_k > r.config.vocab_size)
      throw std::invalid_argument("--top-k " + std::to_string(a->top_k) +
                                  " exceeds the vocabulary of " +
                                  std::to_string(r.config.vocab_size) + " (0 = all tokens)");
    if (r.config.vocab_size != kByteVocabSize)
      throw std::invalid_argument(
          "steepest sample decodes byte-level runs (vocab 256); this run "
          "has vocab " +
          std::to_string(r.config.vocab_size));
    const auto bytes = byte_encode(a->prompt.empty() ? std::string("\n") : a->prompt);
    std::vector<int64_t> ids(bytes.begin(), bytes.end());
    const auto prompt = at::tensor(ids, at::kLong).unsqueeze(0);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(a->seed));
    const auto out = r.model->generate(prompt, a->tokens, a->temperature, a->top_k, gen);
    const auto* p = out.data_ptr<int64_t>();
    std::cout << byte_decode(std::vector<int64_t>(p, p + out.numel())) << std::endl;
  });
}

}  // namespace steepest::app
