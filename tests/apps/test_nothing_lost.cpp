// Issue #25: nothing is lost and nothing is written outside the output
// directory. Each test plants what the probe planted (a symlink under a name
// we write, a FIFO or a device where a checkpoint should be, a checkpoint
// inside the directory --overwrite empties, a forged checkpoint, a results
// directory spelled another way) and checks the victim is untouched, the
// command ends with our message, and no run is lost.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "apps/cli_runner.h"
#include "steepest/model/gpt.h"
#include "steepest/optim/model_optimizer.h"
#include "steepest/train/checkpoint.h"
#include "steepest/train/trainer.h"
#include "train/fresh_checkpoint.h"
#include "train/tiny_corpus.h"

namespace steepest {
namespace {
namespace fs = std::filesystem;
using testing::run_cli;

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class NothingLost : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::cli_built()) return;
    // One directory per process: ctest runs each test in its own, in parallel.
    dir_ = fs::path(::testing::TempDir()) / ("steepest_nothing_lost_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    testing::write_tiny_corpus(dir_);
    fs::create_directories(dir_ / "victim");
    const auto r =
        run_cli(train("--steps 4 --checkpoint-every 2 --out " + (dir_ / "base").string()));
    ASSERT_EQ(r.exit_code, 0) << r.output;
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }
  void SetUp() override {
    if (!testing::cli_built()) GTEST_SKIP() << "CLI not built";
  }
  static std::string train(const std::string& rest) {
    const fs::path d = dir_ / "data";
    return "train --train '" + (d / "train_*.bin").string() + "' --val '" +
           (d / "val_*.bin").string() +
           "' --n-layer 1 --n-head 2 --n-embd 32 --ctx 16 --batch 4 --threads 1 "
           "--eval-batches 2 --eval-every 2 --log-every 1 " +
           rest;
  }
  static fs::path victim(const std::string& name, const std::string& text = "keep me") {
    const fs::path v = dir_ / "victim" / name;
    std::ofstream(v) << text;
    return v;
  }
  static fs::path dir_;
};
fs::path NothingLost::dir_;

TEST_F(NothingLost, ASymlinkedWriteProbeIsNeverFollowed) {
  const fs::path out = dir_ / "sym_probe", v = victim("a.txt");
  fs::create_directories(out);
  fs::create_symlink(v, out / ".write-test");
  const auto r = run_cli(train("--steps 2 --out " + out.string()));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_text(v), "keep me");
}

TEST_F(NothingLost, ASymlinkedLockFileIsRefused) {
  const fs::path out = dir_ / "sym_lock", v = dir_ / "victim" / "created_by_lock";
  fs::create_directories(out);
  fs::create_symlink(v, out / ".steepest.lock");
  const auto r = run_cli(train("--steps 2 --out " + out.string()));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("is a symbolic link"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(v));
}

// The atomic writer's temp names are random and created O_EXCL: a symlink at
// the old predictable "<file>.tmp" is neither followed nor needed.
TEST_F(NothingLost, ASymlinkedTempFileInTheExportDirectoryIsNeverFollowed) {
  const fs::path out = dir_ / "sym_export", v = victim("d.txt"), w = victim("e.txt");
  fs::create_directories(out);
  fs::create_symlink(v, out / "gpt.json.tmp");
  fs::create_symlink(w, out / "embed.weight.npy.tmp");
  const auto r = run_cli("export --run " + (dir_ / "base").string() + " --out " + out.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(read_text(v), "keep me");
  EXPECT_EQ(read_text(w), "keep me");
  EXPECT_TRUE(fs::exists(out / "gpt.json"));
}

// A FIFO would block every reader forever, /dev/zero would fill memory.
TEST_F(NothingLost, AFifoOrADeviceAsACheckpointIsRefusedAtOnce) {
  const fs::path fifo = dir_ / "fifo.pt";
  fs::remove(fifo);
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  const std::string f = fifo.string();
  for (const std::string& args :
       {"checkpoint seal " + f, "eval --run " + f, "train --resume " + f,
        "export --run " + f + " --out " + (dir_ / "exp_fifo").string(),
        "sample --run " + f + " --tokens 3",
        train("--steps 2 --init-from " + f + " --out " + (dir_ / "init_fifo").string())}) {
    const auto r = run_cli(args, 60);  // a hang fails the test instead of blocking it
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("is a FIFO"), std::string::npos) << args << "\n" << r.output;
  }
  for (const std::string& args :
       {std::string("checkpoint seal /dev/zero"), std::string("eval --run /dev/zero")}) {
    const auto r = run_cli(args, 60);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("is a device"), std::string::npos) << args << "\n" << r.output;
  }
}

// --overwrite empties --out: a checkpoint inside it must be refused before
// anything is deleted, not read after.
TEST_F(NothingLost, InitFromInsideTheOverwrittenOutIsRefusedAndNothingIsDeleted) {
  const fs::path out = dir_ / "ifself";
  fs::remove_all(out);
  fs::copy(dir_ / "base", out, fs::copy_options::recursive);
  for (const std::string& from : {out.string(), (out / "ckpt-2.pt").string()}) {
    const auto r =
        run_cli(train("--steps 3 --init-from " + from + " --out " + out.string() + " --overwrite"));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find("lies inside --out"), std::string::npos) << r.output;
    for (const char* f : {"checkpoint.pt", "ckpt-2.pt", "ckpt-4.pt", "config.json", "metrics.jsonl",
                          "summary.json"})
      EXPECT_TRUE(fs::exists(out / f)) << from << ": " << f << " was deleted";
  }
}

TEST_F(NothingLost, ResumeWithInitFromIsRefused) {
  const auto r = run_cli("train --resume " + (dir_ / "base").string() + " --init-from " +
                         (dir_ / "base").string() + " --steps 6 --out " + (dir_ / "if06").string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--init-from cannot be combined with --resume"), std::string::npos)
      << r.output;
}

// A checkpoint whose weights do not fit its own config (the probe forged a
// 10×32 embedding into a vocab-256 model) is refused by name on every path.
TEST_F(NothingLost, AWeightThatDoesNotFitItsConfigIsRefused) {
  const fs::path path = dir_ / "small_embed.pt";
  TrainConfig big = read_checkpoint_config((dir_ / "base" / "checkpoint.pt").string());
  TrainConfig small = big;
  small.vocab_size = 10;
  GPT model(gpt_config(small));
  ModelOptimizer opt(*model, model_optimizer_options(small));
  save_checkpoint(path.string(), *model, opt, big, TrainState{});
  for (const std::string& args :
       {"eval --run " + path.string(), "sample --run " + path.string() + " --tokens 3",
        "export --run " + path.string() + " --out " + (dir_ / "exp_small").string()}) {
    const auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.output;
    EXPECT_NE(r.output.find("weight 'embed.weight' is [10, 32] but the model its config "
                            "describes has [256, 32]"),
              std::string::npos)
        << args << "\n"
        << r.output;
  }
  EXPECT_FALSE(fs::exists(dir_ / "exp_small" / "gpt.json"));
}

// A config altered to describe a model no machine holds: refused by our
// memory check when read, not by libtorch's allocator after building it.
TEST_F(NothingLost, ACheckpointConfigBeyondMemoryIsRefusedByEval) {
  const fs::path path = dir_ / "huge_model.pt";
  const TrainConfig c = read_checkpoint_config((dir_ / "base" / "checkpoint.pt").string());
  TrainConfig huge = c;
  huge.n_layer = 1024;
  huge.n_embd = 65536;
  huge.n_head = 512;
  GPT model(gpt_config(c));
  ModelOptimizer opt(*model, model_optimizer_options(c));
  save_checkpoint(path.string(), *model, opt, huge, TrainState{});
  const auto r = run_cli("eval --run " + path.string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("more than the"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("enforce fail"), std::string::npos) << r.output;
}

TEST_F(NothingLost, AnImpossibleStepInACheckpointIsRefused) {
  const fs::path path = dir_ / "neg_step.pt";
  const TrainConfig c = read_checkpoint_config((dir_ / "base" / "checkpoint.pt").string());
  GPT model(gpt_config(c));
  ModelOptimizer opt(*model, model_optimizer_options(c));
  TrainState st;
  st.step = -30;
  save_checkpoint(path.string(), *model, opt, c, st);
  EXPECT_THROW(
      {
        try {
          testing::load_fresh(path.string());
        } catch (const std::runtime_error& e) {
          EXPECT_NE(std::string(e.what()).find("impossible training state (step -30"),
                    std::string::npos)
              << e.what();
          throw;
        }
      },
      std::runtime_error);
}

}  // namespace
}  // namespace steepest
