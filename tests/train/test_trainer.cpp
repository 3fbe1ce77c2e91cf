#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>

#include "steepest/data/prepare.h"
#include "steepest/data/shard.h"
#include "steepest/model/gpt.h"
#include "steepest/optim/model_optimizer.h"
#include "steepest/train/checkpoint.h"
#include "steepest/train/metrics.h"
#include "steepest/train/trainer.h"
#include "train/fresh_checkpoint.h"
#include "train/tiny_corpus.h"

namespace steepest {
namespace {
namespace fs = std::filesystem;

// A small text corpus and a tiny, fast config on it.
struct TrainerTest : ::testing::Test {
  fs::path dir;
  TrainConfig cfg;
  void SetUp() override {
    dir = fs::path(::testing::TempDir()) /
          ("steepest_trainer_" +
           std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    fs::remove_all(dir);
    testing::write_tiny_corpus(dir);
    cfg.train = (dir / "data" / "train_*.bin").string();
    cfg.val = (dir / "data" / "val_*.bin").string();
    cfg.n_layer = 1;
    cfg.n_head = 2;
    cfg.n_embd = 32;
    cfg.ctx = 32;
    cfg.batch = 4;
    cfg.steps = 20;
    cfg.eval_every = 10;
    cfg.eval_batches = 2;
    cfg.log_every = 1;
    cfg.threads = 1;
    cfg.out = (dir / "run").string();
  }
  TrainRunOptions quiet() {
    TrainRunOptions o;
    o.log = std::fopen("/dev/null", "w");
    return o;
  }
};

// train() must throw a std::exception whose message holds every phrase.
void expect_refusal(const std::function<void()>& run, const std::vector<std::string>& phrases) {
  try {
    run();
    ADD_FAILURE() << "no error; expected one mentioning '" << phrases.front() << "'";
  } catch (const std::exception& e) {
    for (const auto& p : phrases)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

std::map<int64_t, double> train_losses(const fs::path& metrics) {
  std::map<int64_t, double> out;
  for (const auto& j : read_metrics(metrics.string()))
    out[j.at("step").get<int64_t>()] = j.at("train_loss").get<double>();
  return out;
}

TEST_F(TrainerTest, WritesTheRunDirectoryAndLearns) {
  const auto s = train(cfg, quiet());
  for (const char* f : {"config.json", "metrics.jsonl", "checkpoint.pt", "summary.json"})
    EXPECT_TRUE(fs::exists(fs::path(cfg.out) / f)) << f;
  const auto m = read_metrics((fs::path(cfg.out) / "metrics.jsonl").string());
  ASSERT_EQ(m.size(), 20u);
  for (const char* k : {"step", "train_loss", "lr", "tokens_per_s", "ms_per_step", "optimizer_ms"})
    EXPECT_TRUE(m.back().contains(k)) << k;
  EXPECT_TRUE(m[9].contains("val_loss"));
  EXPECT_FALSE(m[8].contains("val_loss"));
  EXPECT_EQ(s.val_curve.size(), 2u);
  EXPECT_LT(s.final_val_loss, std::log(256.0));  // better than uniform over bytes
  EXPECT_EQ(s.steps, 20);
  EXPECT_GT(s.optimizer_gemms_per_step, 0);  // the muon hybrid reports its GEMMs
}

// The issue's resume test: 20 steps with a checkpoint at 10; a run resumed from
// ckpt-10.pt gives bit-identical train losses for steps 11–20.
TEST_F(TrainerTest, ResumeFromCheckpointIsBitIdentical) {
  cfg.checkpoint_every = 10;
  train(cfg, quiet());
  const fs::path first = cfg.out;
  ASSERT_TRUE(fs::exists(first / "ckpt-10.pt"));
  TrainConfig resumed = read_checkpoint_config((first / "ckpt-10.pt").string());
  resumed.out = (dir / "resumed").string();
  auto o = quiet();
  o.resume = (first / "ckpt-10.pt").string();
  train(resumed, o);
  const auto a = train_losses(first / "metrics.jsonl");
  const auto b = train_losses(dir / "resumed" / "metrics.jsonl");
  ASSERT_EQ(b.size(), 10u);
  for (int64_t s = 11; s <= 20; ++s) EXPECT_EQ(a.at(s), b.at(s)) << "step " << s;
}

TEST_F(TrainerTest, ExistingRunNeedsOverwriteOrResume) {
  cfg.steps = 2;
  train(cfg, quiet());
  try {
    train(cfg, quiet());
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("--overwrite"), std::string::npos) << e.what();
  }
  auto o = quiet();
  o.overwrite = true;
  EXPECT_NO_THROW(train(cfg, o));
}

// Issue #12: --overwrite on a directory that is not a run deleted the user's
// own config.json, summary.json and ckpt-best.pt.
TEST_F(TrainerTest, OverwriteNeverDeletesFilesOfADirectoryThatIsNotARun) {
  cfg.steps = 2;
  fs::create_directories(cfg.out);
  std::ofstream(fs::path(cfg.out) / "config.json") << R"({"my": "settings"})";
  std::ofstream(fs::path(cfg.out) / "summary.json") << "my notes";
  std::ofstream(fs::path(cfg.out) / "ckpt-best.pt") << "my model";
  auto o = quiet();
  o.overwrite = true;
  expect_refusal([&] { train(cfg, o); }, {"nothing was deleted"});
  for (const char* f : {"config.json", "summary.json", "ckpt-best.pt"})
    EXPECT_TRUE(fs::exists(fs::path(cfg.out) / f)) << f;
}

// A trainer killed right after it created metrics.jsonl, before its
// config.json was renamed into place, leaves an empty metrics.jsonl and a
// config.json.tmp: --overwrite takes that directory back (a bench rerun
// after kill -9 failed on it), while anything more stays refused (above).
TEST_F(TrainerTest, OverwriteTakesBackARunKilledBeforeItsConfigLanded) {
  cfg.steps = 2;
  fs::create_directories(cfg.out);
  std::ofstream(fs::path(cfg.out) / "metrics.jsonl");
  std::ofstream(fs::path(cfg.out) / "config.json.tmp") << R"({"half": )";
  auto o = quiet();
  o.overwrite = true;
  EXPECT_NO_THROW(train(cfg, o));
  EXPECT_EQ(train_losses(fs::path(cfg.out) / "metrics.jsonl").size(), 2u);
  EXPECT_FALSE(fs::exists(fs::path(cfg.out) / "config.json.tmp"));

  // A non-empty metrics.jsonl without our config.json is not ours.
  fs::remove(fs::path(cfg.out) / "config.json");
  expect_refusal([&] { train(cfg, o); }, {"nothing was deleted"});
}

// Issue #12: resuming ckpt-5.pt into its own directory silently overwrote the
// later checkpoints and metrics; now it takes --overwrite (which discards them).
TEST_F(TrainerTest, ResumingAnEarlierCheckpointInPlaceNeedsOverwrite) {
  cfg.steps = 10;
  cfg.checkpoint_every = 5;
  train(cfg, quiet());
  const std::string ckpt5 = (fs::path(cfg.out) / "ckpt-5.pt").string();
  auto o = quiet();
  o.resume = ckpt5;
  expect_refusal([&] { train(cfg, o); }, {"ckpt-10.pt", "--overwrite"});
  EXPECT_EQ(train_losses(fs::path(cfg.out) / "metrics.jsonl").size(), 10u);  // untouched
  o.overwrite = true;
  EXPECT_NO_THROW(train(cfg, o));
  EXPECT_TRUE(fs::exists(fs::path(cfg.out) / "ckpt-10.pt"));  // written again by the new run
}

// Fine-tuning (--init-from): the run starts from the weights of another run,
// not from its own initialization. With lr 0 for one step the weights stay
// the checkpoint's exactly; the same run without --init-from does not have
// them. A different model shape is refused by name.
TEST_F(TrainerTest, InitFromStartsFromAnotherRunsWeights) {
  cfg.steps = 5;
  train(cfg, quiet());
  const std::string pretrained = cfg.out;
  TrainConfig ft = cfg;
  ft.steps = 1;
  ft.lr = 0.0;
  ft.adamw_lr = 0.0;
  ft.seed = 99;
  ft.init_from = pretrained;
  ft.out = (dir / "ft").string();
  train(ft, quiet());
  ft.init_from.clear();
  ft.out = (dir / "scratch").string();
  train(ft, quiet());
  const GPTConfig shape = gpt_config(read_checkpoint_config(pretrained + "/checkpoint.pt"));
  GPT a(shape), b(shape), c(shape);
  load_checkpoint_weights(pretrained + "/checkpoint.pt", *a);
  load_checkpoint_weights((dir / "ft" / "checkpoint.pt").string(), *b);
  load_checkpoint_weights((dir / "scratch" / "checkpoint.pt").string(), *c);
  const auto pa = a->named_parameters(), pb = b->named_parameters(), pc = c->named_parameters();
  bool all_equal = true, any_scratch_differs = false;
  for (const auto& item : pa) {
    all_equal &= at::equal(item.value(), pb[item.key()]);
    any_scratch_differs |= !at::equal(item.value(), pc[item.key()]);
  }
  EXPECT_TRUE(all_equal);
  EXPECT_TRUE(any_scratch_differs);
  TrainConfig wider = ft;
  wider.n_embd = 64;
  wider.init_from = pretrained;
  wider.out = (dir / "wider").string();
  expect_refusal([&] { train(wider, quiet()); }, {"--init-from", "n_embd 32", "64"});
}

// Issue #12: --vocab-size 512 over a 256-vocab checkpoint was accepted.
TEST_F(TrainerTest, ResumeWithAModelChangingFlagIsRefusedByName) {
  cfg.steps = 2;
  train(cfg, quiet());
  TrainConfig changed = cfg;
  changed.steps = 4;
  changed.vocab_size = 512;
  auto o = quiet();
  o.resume = (fs::path(cfg.out) / "checkpoint.pt").string();
  expect_refusal([&] { train(changed, o); }, {"vocab_size 256", "512"});
}

TEST_F(TrainerTest, UnwritableOutputDirectoryIsReported) {
  std::ofstream(dir / "afile") << "x";
  cfg.out = (dir / "afile" / "run").string();
  try {
    train(cfg, quiet());
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("afile"), std::string::npos) << e.what();
  }
}

// Issue #12: after lr 1e20 the named "last good checkpoint" held NaN weights.
TEST_F(TrainerTest, DivergenceStopsWithTheStepAndEveryCheckpointLeftLoadsFinite) {
  for (const double lr : {3e38, 1e20, 1e6}) {
    cfg.optimizer = "sgd";
    cfg.lr = lr;
    cfg.steps = 200;
    cfg.checkpoint_every = 1;
    std::string msg;
    try {
      train(cfg, [&] {
        auto o = quiet();
        o.overwrite = true;
        return o;
      }());
      ADD_FAILURE() << "lr " << lr << ": expected divergence";
    } catch (const std::runtime_error& e) {
      msg = e.what();
    }
    EXPECT_NE(msg.find("training diverged at step"), std::string::npos) << msg;
    EXPECT_NE(msg.find("Lower --lr"), std::string::npos) << msg;
    // Every checkpoint left behind loads, with finite weights; the named one exists.
    const auto named = msg.find("last good checkpoint is '");
    if (named != std::string::npos) {
      const auto start = named + std::string("last good checkpoint is '").size();
      EXPECT_TRUE(fs::exists(msg.substr(start, msg.find('\'', start) - start))) << msg;
    }
    for (const auto& f : fs::directory_iterator(cfg.out)) {
      if (f.path().extension() != ".pt") continue;
      testing::LoadedCheckpoint loaded;
      ASSERT_NO_THROW(loaded = testing::load_fresh(f.path().string())) << f.path();
      for (const auto& p : loaded.parameters)
        EXPECT_TRUE(at::isfinite(p).all().item<bool>()) << f.path() << " lr " << lr;
    }
  }
}

// A partial last line is what a kill -9 mid-write leaves; it blocked resuming.
TEST_F(TrainerTest, APartialLastMetricsLineDoesNotBlockResume) {
  cfg.steps = 4;
  cfg.checkpoint_every = 2;
  train(cfg, quiet());
  {
    std::ofstream(fs::path(cfg.out) / "metrics.jsonl", std::ios::app) << R"({"step": 5, "train_lo)";
  }
  EXPECT_EQ(read_metrics((fs::path(cfg.out) / "metrics.jsonl").string()).size(), 4u);
  // A stale temporary file is never read and is cleaned up.
  { std::ofstream(fs::path(cfg.out) / "checkpoint.pt.tmp") << "half a checkpoint"; }
  cfg.steps = 6;
  auto o = quiet();
  o.resume = (fs::path(cfg.out) / "checkpoint.pt").string();
  EXPECT_NO_THROW(train(cfg, o));
  EXPECT_FALSE(fs::exists(fs::path(cfg.out) / "checkpoint.pt.tmp"));
  const auto lines = read_metrics((fs::path(cfg.out) / "metrics.jsonl").string());
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines.back()["step"], 6);
}

// One trainer per run directory: a second one would interleave its files.
TEST_F(TrainerTest, ASecondTrainerOnTheSameDirectoryIsRefused) {
  fs::create_directories(cfg.out);
  const int fd = ::open((fs::path(cfg.out) / ".steepest.lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_EQ(::flock(fd, LOCK_EX | LOCK_NB), 0);
  expect_refusal([&] { train(cfg, quiet()); }, {"another `steepest train`", cfg.out});
  ::close(fd);
  EXPECT_NO_THROW(train(cfg, quiet()));
}

TEST_F(TrainerTest, ContextLongerThanDataIsRejected) {
  cfg.ctx = 1 << 20;
  EXPECT_THROW(train(cfg, quiet()), std::invalid_argument);
}

}  // namespace
}  // namespace steepest

namespace steepest {
namespace {

TEST(TrainerVocab, ResolvedFromTheData) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / "steepest_vocab";
  std::filesystem::create_directories(dir);
  TrainConfig c;
  write_shard((dir / "bytes_000000.bin").string(), {0, 17, 255});
  EXPECT_EQ(resolve_vocab_size(c, TokenDataset((dir / "bytes_*.bin").string(), 1 << 30)), 256);
  // A GPT-2-tokenized shard (FineWeb): 50257 padded to a multiple of 64.
  write_shard((dir / "gpt2_000000.bin").string(), {0, 50000, 50256});
  EXPECT_EQ(resolve_vocab_size(c, TokenDataset((dir / "gpt2_*.bin").string(), 1 << 30)), 50304);
  c.vocab_size = 60000;  // an explicit size wins
  EXPECT_EQ(resolve_vocab_size(c, TokenDataset((dir / "gpt2_*.bin").string(), 1 << 30)), 60000);
}

}  // namespace
}  // namespace steepest
