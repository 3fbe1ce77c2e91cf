// The bad-input table: every row runs the CLI on one broken input and checks
// that it fails (or, for a documented meaning, succeeds) with our own message:
// the phrases name the file or flag, the value, and the hint; no libtorch or
// allocator text may reach the user without a sentence of ours in front.
// docs/RELIABILITY.md reports the row count.
#include <fcntl.h>
#include <gtest/gtest.h>

#include <sys/file.h>
#include <unistd.h>
#include <cerrno>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "apps/cli_runner.h"
#include "io/without_seal.h"
#include "steepest/data/shard.h"
#include "steepest/io/npy.h"
#include "steepest/train/trainer.h"
#include "train/tiny_corpus.h"

namespace steepest {
namespace {
namespace fs = std::filesystem;

struct BadInput {
  const char* name;                  // the test's name
  std::string args;                  // after `steepest`; $D is the fixture directory
  std::vector<std::string> phrases;  // all must appear in the output ($D expanded)
  bool succeeds = false;             // a documented meaning, not an error
};

// Text that only libtorch, the C++ runtime or the allocator print.
const char* const kInternalMarkers[] = {
    "Exception raised from",
    "terminate called",
    "what():",
    "frame #",
    "INTERNAL ASSERT",
    "c10::",
    "std::bad_alloc",
    "Aborted",
    "core dumped",
    "unexpected libtorch error",  // main()'s fallback: our own check is missing
};

void write_bytes(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << bytes;
}

std::string le32(int32_t v) {
  std::string s(4, '\0');
  std::memcpy(s.data(), &v, 4);
  return s;
}

// An llm.c shard: a 256-int32 header (magic, version, count) and uint16 tokens.
std::string shard_bytes(int32_t magic, int32_t version, int32_t count,
                        const std::vector<uint16_t>& tokens) {
  std::string h(1024, '\0');
  h.replace(0, 4, le32(magic));
  h.replace(4, 4, le32(version));
  h.replace(8, 4, le32(count));
  std::string body(tokens.size() * 2, '\0');
  if (!tokens.empty()) std::memcpy(body.data(), tokens.data(), body.size());
  return h + body;
}

// A version-1.0 .npy file with the given header dict and raw body.
std::string npy_bytes(const std::string& dict, const std::string& body) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string s = "\x93NUMPY\x01";
  s += '\0';
  s += static_cast<char>(header.size() & 0xff);
  s += static_cast<char>(header.size() >> 8);
  return s + header + body;
}

std::string floats(const std::vector<float>& v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.data(), s.size());
  return s;
}

const fs::path& fixture_dir() {
  // One directory per CLI build: the sanitizer build's rows must not rebuild
  // the normal build's fixtures under its feet.
  static const fs::path dir =
      fs::path(::testing::TempDir()) /
      ("steepest_bad_inputs_" + std::to_string(std::hash<std::string>{}(STEEPEST_CLI) % 100000));
  return dir;
}

// Builds the fixtures once; ctest runs rows as parallel processes, so the
// first one builds under a lock and the others wait for it.
void build_fixtures() {
  const fs::path D = fixture_dir();
  fs::create_directories(D);
  const int fd = ::open((D / ".lock").c_str(), O_RDWR | O_CREAT, 0644);
  ASSERT_GE(fd, 0);
  ::flock(fd, LOCK_EX);
  // Rebuilt tests rebuild the fixtures: the marker holds the compile time.
  const std::string stamp = __DATE__ " " __TIME__;
  std::ifstream marker(D / "ready");
  std::string was;
  std::getline(marker, was);
  if (was != stamp) {
    testing::write_tiny_corpus(D);  // D/text.txt, D/data/{train,val}_000000.bin
    TrainConfig c;
    c.train = (D / "data" / "train_*.bin").string();
    c.val = (D / "data" / "val_*.bin").string();
    c.n_layer = 1;
    c.n_head = 2;
    c.n_embd = 32;
    c.ctx = 16;
    c.batch = 2;
    c.steps = 4;
    c.eval_every = 2;
    c.eval_batches = 1;
    c.checkpoint_every = 2;
    c.threads = 1;
    c.optimizer = "muon";
    c.out = (D / "run").string();
    TrainRunOptions o;
    o.log = std::fopen("/dev/null", "w");
    o.overwrite = true;
    train(c, o);
    std::fclose(o.log);
    {  // truncated and corrupt checkpoints
      std::ifstream in(D / "run" / "checkpoint.pt", std::ios::binary);
      const std::string bytes((std::istreambuf_iterator<char>(in)),
                              std::istreambuf_iterator<char>());
      write_bytes(D / "ckpt" / "truncated.pt", bytes.substr(0, bytes.size() / 2));
      write_bytes(D / "ckpt" / "garbage.pt", std::string(4096, '\x5a'));
      write_bytes(D / "ckpt" / "empty.pt", "");
      std::string flipped = bytes;
      flipped[flipped.find("class Module") + 2] ^= 0x10;
      write_bytes(D / "ckpt" / "flipped.pt", flipped);
      const std::string unsealed = testing::without_seal(bytes);  // as before 2026-11-30
      write_bytes(D / "ckpt" / "unsealed.pt", unsealed);
      write_bytes(D / "ckpt" / "to_seal.pt", unsealed);
    }
    fs::create_directories(D / "norun");  // a run directory without a checkpoint
    // shards
    const std::vector<uint16_t> ten(10, 65), thousand(1000, 66);
    write_bytes(D / "s" / "zero.bin", shard_bytes(20240520, 1, 0, {}));
    write_bytes(D / "s" / "short.bin", shard_bytes(20240520, 1, 10, ten));
    write_bytes(D / "s" / "count_big.bin", shard_bytes(20240520, 1, 1000, ten));
    write_bytes(D / "s" / "count_small.bin", shard_bytes(20240520, 1, 10, thousand));
    write_bytes(D / "s" / "version.bin", shard_bytes(20240520, 7, 10, ten));
    write_bytes(D / "s" / "magic.bin", shard_bytes(12345, 1, 10, ten));
    write_bytes(D / "s" / "count_neg.bin", shard_bytes(20240520, 1, -1, ten));
    write_bytes(D / "s" / "count_max.bin", shard_bytes(20240520, 1, 2147483647, ten));
    write_bytes(D / "s" / "header_cut.bin", shard_bytes(20240520, 1, 10, {}).substr(0, 100));
    write_bytes(D / "s" / "token_big.bin", shard_bytes(20240520, 1, 1000, thousand));
    write_bytes(D / "s" / "text.bin", "hello, this is not a shard at all\n");
    fs::create_directories(D / "s" / "dir.bin");
    // .npy
    const std::string f8 = floats(std::vector<float>(8, 1.0f));
    write_bytes(D / "n" / "int32.npy",
                npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 4), }", f8));
    write_bytes(D / "n" / "bool.npy",
                npy_bytes("{'descr': '|b1', 'fortran_order': False, 'shape': (2, 4), }",
                          std::string(8, '\1')));
    write_bytes(D / "n" / "fp16.npy",
                npy_bytes("{'descr': '<f2', 'fortran_order': False, 'shape': (2, 4), }",
                          std::string(16, '\0')));
    write_bytes(D / "n" / "fortran.npy",
                npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 4), }", f8));
    write_bytes(D / "n" / "empty_rows.npy",
                npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", ""));
    write_bytes(D / "n" / "nan.npy",
                npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }",
                          floats({1, 2, NAN, 4, 5, 6, 7, 8})));
    write_bytes(D / "n" / "inf.npy",
                npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }",
                          floats({1, 2, 3, INFINITY, 5, 6, 7, 8})));
    write_bytes(D / "n" / "corrupt.npy", "\x93NUMPY\x01\x00\x20\x00{'descr': '<f4', 'fortr");
    write_bytes(
        D / "n" / "truncated.npy",
        npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }", f8.substr(0, 12)));
    write_bytes(D / "n" / "huge.npy",
                npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, "
                          "1000000000), }",
                          f8));
    write_bytes(D / "n" / "vector.npy",
                npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (8,), }", f8));
    write_bytes(D / "n" / "big_values.npy",
                npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 4), }",
                          floats({3e38f, -1e38f, 2e38f, 1e38f, -3e38f, 1e38f, 2.5e38f, -2e38f})));
    // configs
    write_bytes(D / "c" / "broken.json", "{\"steps\": 3,");
    write_bytes(D / "c" / "unknown.json", R"({"n_embed": 64})");
    write_bytes(D / "c" / "typed.json", R"({"n_layer": "four"})");
    write_bytes(D / "c" / "fraction.json", R"({"n_layer": 1.7})");
    write_bytes(D / "c" / "overflow.json", R"({"n_head": 1e30})");
    write_bytes(D / "c" / "array.json", R"([1, 2, 3])");
    write_bytes(D / "c" / "opt_typed.json", R"({"opt": [1]})");
    write_bytes(D / "c" / "bool_typed.json", R"({"residual_mixing": "yes"})");
    // a directory of someone else's files named like a run's
    write_bytes(D / "user" / "config.json", R"({"my": "settings"})");
    write_bytes(D / "user" / "summary.json", R"({"my": "summary"})");
    write_bytes(D / "user" / "ckpt-best.pt", "my weights");
    write_bytes(D / "afile", "a file, not a directory");
    // bench suites
    write_bytes(D / "b" / "broken.json", "{\"name\": ");
    write_bytes(D / "b" / "typed.json",
                R"({"name": "x", "train": {}, "optimizers": [{"optimizer": "adamw"}],
                    "lr_grid": {"points": "two", "factor": 3.0}, "seeds": [1],
                    "target_val_loss": 3.5})");
    write_bytes(D / "b" / "unknown.json", R"({"name": "x", "optimisers": []})");
    write_bytes(D / "ready", stamp);
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
}

std::string expand(std::string s) {
  const std::string D = fixture_dir().string();
  for (size_t at; (at = s.find("$D")) != std::string::npos;) s.replace(at, 2, D);
  return s;
}

// The training flags every train row starts from: tiny and fast.
const std::string kTrain =
    "train --train '$D/data/train_*.bin' --val '$D/data/val_*.bin' --n-layer 1 --n-head 2 "
    "--n-embd 32 --ctx 16 --batch 2 --steps 2 --eval-batches 1 --threads 1 ";

// Config-file rows: only the data flags, so the file's keys are what is read.
const std::string kTrainConfig =
    "train --train '$D/data/train_*.bin' --val '$D/data/val_*.bin' --threads 1 --steps 2 ";

const std::vector<BadInput>& rows() {
  static const std::vector<BadInput> r = {
      // --- shards -------------------------------------------------------------------------
      {"shard_zero_tokens",
       kTrain + "--train $D/s/zero.bin --out $D/o/a",
       {"$D/s/zero.bin", "0 tokens"}},
      {"shard_fewer_than_ctx",
       kTrain + "--train $D/s/short.bin --out $D/o/a",
       {"--ctx 16", "10 training tokens", "smaller --ctx"}},
      {"shard_count_larger_than_body",
       kTrain + "--train $D/s/count_big.bin --out $D/o/a",
       {"$D/s/count_big.bin", "1000"}},
      {"shard_count_smaller_than_body",
       kTrain + "--train $D/s/count_small.bin --out $D/o/a",
       {"$D/s/count_small.bin", "10"}},
      {"shard_wrong_version",
       kTrain + "--train $D/s/version.bin --out $D/o/a",
       {"$D/s/version.bin", "version", "7"}},
      {"shard_wrong_magic",
       kTrain + "--train $D/s/magic.bin --out $D/o/a",
       {"$D/s/magic.bin", "magic", "12345"}},
      {"shard_negative_count",
       kTrain + "--train $D/s/count_neg.bin --out $D/o/a",
       {"$D/s/count_neg.bin", "-1"}},
      {"shard_overflowing_count",
       kTrain + "--train $D/s/count_max.bin --out $D/o/a",
       {"$D/s/count_max.bin", "2147483647"}},
      {"shard_header_cut",
       kTrain + "--train $D/s/header_cut.bin --out $D/o/a",
       {"$D/s/header_cut.bin", "100 bytes"}},
      {"shard_text_file", kTrain + "--train $D/s/text.bin --out $D/o/a", {"$D/s/text.bin"}},
      {"shard_token_above_vocab",
       kTrain + "--train $D/s/token_big.bin --vocab-size 60 --out $D/o/a",
       {"$D/s/token_big.bin", "66", "60"}},
      {"shard_is_a_directory",
       kTrain + "--train $D/s/dir.bin --out $D/o/a",
       {"$D/s/dir.bin", "directory"}},
      {"shard_glob_matches_nothing",
       kTrain + "--train '$D/s/none_*.bin' --out $D/o/a",
       {"$D/s/none_*.bin", "no files"}},
      {"val_glob_matches_nothing",
       kTrain + "--val '$D/s/none_*.bin' --out $D/o/a",
       {"$D/s/none_*.bin", "no files"}},
      {"default_corpus_missing",
       "train --train 'nowhere/train_*.bin' --out $D/o/a",
       {"nowhere/train_*.bin"}},
      // --- .npy ---------------------------------------------------------------------------
      {"npy_int32",
       "orthogonalize --in $D/n/int32.npy --out $D/n/o.npy",
       {"$D/n/int32.npy", "<i4", "float32"}},
      {"npy_bool", "orthogonalize --in $D/n/bool.npy --out $D/n/o.npy", {"$D/n/bool.npy", "|b1"}},
      {"npy_fp16", "orthogonalize --in $D/n/fp16.npy --out $D/n/o.npy", {"$D/n/fp16.npy", "<f2"}},
      {"npy_fortran_order_is_read",
       "orthogonalize --in $D/n/fortran.npy --out $D/n/o.npy",
       {"\"shape\":[2,4]"},
       true},
      {"npy_zero_rows",
       "orthogonalize --in $D/n/empty_rows.npy --out $D/n/o.npy",
       {"$D/n/empty_rows.npy", "0"}},
      {"npy_nan", "orthogonalize --in $D/n/nan.npy --out $D/n/o.npy", {"$D/n/nan.npy", "NaN"}},
      {"npy_inf", "orthogonalize --in $D/n/inf.npy --out $D/n/o.npy", {"$D/n/inf.npy", "nf"}},
      {"npy_corrupt_header",
       "orthogonalize --in $D/n/corrupt.npy --out $D/n/o.npy",
       {"$D/n/corrupt.npy"}},
      {"npy_truncated_body",
       "orthogonalize --in $D/n/truncated.npy --out $D/n/o.npy",
       {"$D/n/truncated.npy"}},
      {"npy_huge_dims",
       "orthogonalize --in $D/n/huge.npy --out $D/n/o.npy",
       {"$D/n/huge.npy", "1000000000"}},
      {"npy_vector", "orthogonalize --in $D/n/vector.npy --out $D/n/o.npy", {"$D/n/vector.npy"}},
      {"npy_missing", "orthogonalize --in $D/n/missing.npy --out $D/n/o.npy", {"$D/n/missing.npy"}},
      {"npy_values_near_float_max",
       "orthogonalize --in $D/n/big_values.npy --out $D/n/big.npy",
       {"\"method\":\"keller\""},
       true},
      {"orthogonalize_unknown_method",
       "orthogonalize --in $D/n/big_values.npy --out $D/n/o.npy --method bogus",
       {"bogus", "keller"}},
      {"orthogonalize_zero_steps",
       "orthogonalize --in $D/n/big_values.npy --out $D/n/o.npy --steps 0",
       {"--steps", "0"}},
      {"orthogonalize_bad_dtype",
       "orthogonalize --in $D/n/big_values.npy --out $D/n/o.npy --dtype fp16",
       {"--dtype", "fp16"}},
      // --- configs and flags ----------------------------------------------------------------
      {"steps_zero", kTrain + "--steps 0 --out $D/o/a", {"--steps", "got 0"}},
      {"steps_negative", kTrain + "--steps -5 --out $D/o/a", {"--steps", "-5"}},
      {"steps_not_a_number", kTrain + "--steps many --out $D/o/a", {"--steps", "many"}},
      {"steps_fractional", kTrain + "--steps 2.5 --out $D/o/a", {"--steps", "2.5"}},
      {"batch_zero", kTrain + "--batch 0 --out $D/o/a", {"--batch", "got 0"}},
      {"ctx_zero", kTrain + "--ctx 0 --out $D/o/a", {"--ctx", "got 0"}},
      {"heads_do_not_divide_width",
       kTrain + "--n-embd 30 --n-head 4 --out $D/o/a",
       {"--n-embd 30", "--n-head 4"}},
      {"lr_nan", kTrain + "--lr nan --out $D/o/a", {"--lr", "nan"}},
      {"lr_inf", kTrain + "--lr inf --out $D/o/a", {"--lr", "inf"}},
      {"adamw_lr_nan", kTrain + "--adamw-lr nan --out $D/o/a", {"--adamw-lr", "nan"}},
      {"weight_decay_negative",
       kTrain + "--weight-decay -1 --out $D/o/a",
       {"--weight-decay", "-1"}},
      {"grad_clip_negative", kTrain + "--grad-clip -1 --out $D/o/a", {"--grad-clip", "-1"}},
      {"decay_fraction_above_one",
       kTrain + "--decay-fraction 2 --out $D/o/a",
       {"--decay-fraction", "2"}},
      {"warmup_not_below_steps", kTrain + "--warmup 5 --out $D/o/a", {"--warmup", "5"}},
      {"unknown_optimizer",
       kTrain + "--optimizer adam --out $D/o/a",
       {"--optimizer 'adam'", "adamw"}},
      {"unknown_opt_key", kTrain + "--opt bogus=1 --out $D/o/a", {"bogus"}},
      {"opt_without_value", kTrain + "--opt momentum --out $D/o/a", {"--opt", "KEY=VALUE"}},
      {"unknown_orthogonalizer", kTrain + "--orthogonalizer bogus --out $D/o/a", {"bogus"}},
      {"ns_steps_word", kTrain + "--ns-steps many --out $D/o/a", {"--ns-steps", "many"}},
      {"ns_steps_auto_with_svd",
       kTrain + "--ns-steps auto --orthogonalizer svd --out $D/o/a",
       {"--ns-steps auto", "svd"}},
      {"ns_steps_negative", kTrain + "--ns-steps -3 --out $D/o/a", {"--ns-steps", "-3"}},
      {"unknown_schedule", kTrain + "--schedule linear --out $D/o/a", {"--schedule", "linear"}},
      {"threads_negative", kTrain + "--threads -1 --out $D/o/a", {"--threads", "-1"}},
      {"threads_absurd", kTrain + "--threads 100000 --out $D/o/a", {"--threads", "100000"}},
      {"eval_every_zero", kTrain + "--eval-every 0 --out $D/o/a", {"--eval-every", "0"}},
      {"dist_timeout_zero", kTrain + "--dist-timeout 0 --out $D/o/a", {"--dist-timeout", "0"}},
      {"switch_with_value",
       kTrain + "--residual-mixing=maybe --out $D/o/a",
       {"--residual-mixing", "maybe"}},
      {"model_too_big_for_memory",
       kTrain + "--n-embd 65536 --n-head 64 --n-layer 1000 --out $D/o/a",
       {"GiB", "reduce"}},
      {"config_broken_json",
       kTrainConfig + "--config $D/c/broken.json --out $D/o/a",
       {"$D/c/broken.json", "not valid JSON"}},
      {"config_missing",
       kTrainConfig + "--config $D/c/missing.json --out $D/o/a",
       {"$D/c/missing.json"}},
      {"config_unknown_key",
       kTrainConfig + "--config $D/c/unknown.json --out $D/o/a",
       {"n_embed", "n_embd"}},
      {"config_wrong_type",
       kTrainConfig + "--config $D/c/typed.json --out $D/o/a",
       {"n_layer", "\"four\""}},
      {"config_fractional_integer",
       kTrainConfig + "--config $D/c/fraction.json --out $D/o/a",
       {"n_layer", "1.7"}},
      {"config_overflowing_integer",
       kTrainConfig + "--config $D/c/overflow.json --out $D/o/a",
       {"n_head", "whole number"}},
      {"config_not_an_object",
       kTrainConfig + "--config $D/c/array.json --out $D/o/a",
       {"$D/c/array.json", "object"}},
      {"config_opt_not_an_object",
       kTrainConfig + "--config $D/c/opt_typed.json --out $D/o/a",
       {"opt", "object"}},
      {"config_switch_wrong_type",
       kTrainConfig + "--config $D/c/bool_typed.json --out $D/o/a",
       {"residual_mixing", "true or false"}},
      // --- runs ---------------------------------------------------------------------------
      {"overwrite_a_directory_that_is_not_a_run",
       kTrain + "--out $D/user --overwrite",
       {"$D/user", "nothing was deleted"}},
      {"out_without_overwrite_on_a_run",
       kTrain + "--out $D/run",
       {"$D/run", "--overwrite", "--resume"}},
      {"out_under_a_file", kTrain + "--out $D/afile/run", {"$D/afile"}},
      {"out_not_creatable", kTrain + "--out /proc/steepest-run", {"/proc/steepest-run"}},
      {"resume_missing_checkpoint", "train --resume $D/ckpt/missing.pt", {"$D/ckpt/missing.pt"}},
      {"resume_directory_without_checkpoint",
       "train --resume $D/norun",
       {"$D/norun", "checkpoint.pt"}},
      {"resume_truncated_checkpoint",
       "train --resume $D/ckpt/truncated.pt",
       {"$D/ckpt/truncated.pt", "corrupt"}},
      {"resume_corrupt_checkpoint",
       "train --resume $D/ckpt/garbage.pt",
       {"$D/ckpt/garbage.pt", "corrupt"}},
      {"resume_empty_checkpoint",
       "train --resume $D/ckpt/empty.pt",
       {"$D/ckpt/empty.pt", "corrupt"}},
      {"resume_flipped_byte_checkpoint",
       "train --resume $D/ckpt/flipped.pt",
       {"$D/ckpt/flipped.pt", "CRC-32", "earlier checkpoint"}},
      {"resume_unsealed_checkpoint",
       "train --resume $D/ckpt/unsealed.pt",
       {"$D/ckpt/unsealed.pt", "no steepest seal", "steepest checkpoint seal $D/ckpt/unsealed.pt"}},
      {"seal_truncated_checkpoint",
       "checkpoint seal $D/ckpt/truncated.pt",
       {"$D/ckpt/truncated.pt", "damaged"}},
      {"seal_flipped_byte_checkpoint",
       "checkpoint seal $D/ckpt/flipped.pt",
       {"$D/ckpt/flipped.pt", "CRC-32"}},
      {"seal_missing_checkpoint", "checkpoint seal $D/ckpt/missing.pt", {"$D/ckpt/missing.pt"}},
      {"seal_directory_without_checkpoints", "checkpoint seal $D/norun", {"$D/norun", "no .pt"}},
      {"seal_an_unsealed_checkpoint", "checkpoint seal $D/ckpt/to_seal.pt", {"sealed"}, true},
      {"resume_with_another_width",
       "train --resume $D/run --n-embd 64 --steps 8",
       {"n_embd 32", "64", "--out"}},
      {"resume_with_another_vocab",
       "train --resume $D/run --vocab-size 512 --steps 8",
       {"vocab_size 256", "512"}},
      {"resume_with_another_optimizer",
       "train --resume $D/run --optimizer adamw --steps 8",
       {"optimizer \"muon\"", "\"adamw\""}},
      {"resume_an_earlier_checkpoint_in_place",
       "train --resume $D/run/ckpt-2.pt --steps 8",
       {"ckpt-4.pt", "--overwrite", "--out NEWDIR"}},
      {"resume_a_finished_run", "train --resume $D/run", {"step 4", "larger --steps"}},
      // --- eval and sample ----------------------------------------------------------------
      {"eval_missing_run", "eval --run $D/nothing", {"$D/nothing"}},
      {"eval_corrupt_checkpoint", "eval --run $D/ckpt/garbage.pt", {"$D/ckpt/garbage.pt"}},
      {"eval_absurd_batches",
       "eval --run $D/run --batches 1000000000000",
       {"--batches 1000000000000", "at most"}},
      {"eval_negative_batch", "eval --run $D/run --batch -1", {"--batch"}},
      {"eval_threads_absurd", "eval --run $D/run --threads 100000", {"--threads"}},
      {"sample_zero_tokens", "sample --run $D/run --tokens 0", {"--tokens", "got 0"}},
      {"sample_negative_tokens", "sample --run $D/run --tokens -5", {"--tokens", "-5"}},
      {"sample_huge_tokens", "sample --run $D/run --tokens 10000000", {"--tokens", "10000000"}},
      {"sample_top_k_negative", "sample --run $D/run --top-k -1", {"--top-k", "-1"}},
      {"sample_top_k_above_vocab", "sample --run $D/run --top-k 1000", {"--top-k 1000", "256"}},
      {"sample_temperature_zero", "sample --run $D/run --temperature 0", {"--temperature"}},
      {"sample_temperature_negative", "sample --run $D/run --temperature -1", {"--temperature"}},
      {"sample_temperature_nan", "sample --run $D/run --temperature nan", {"--temperature"}},
      {"sample_top_k_zero_means_all", "sample --run $D/run --tokens 5 --top-k 0", {}, true},
      {"sample_non_ascii_prompt",
       "sample --run $D/run --tokens 5 --prompt 'Grüße, 世界'",
       {"Grüße, 世界"},
       true},
      // --- data, bench, report ------------------------------------------------------------
      {"prepare_missing_text", "data prepare --text $D/missing.txt --out $D/p", {"$D/missing.txt"}},
      {"prepare_over_existing_shards",
       "data prepare --text $D/text.txt --out $D/data",
       {"already exists", "--force"}},
      {"prepare_its_own_input",
       "data prepare --text $D/data/val_000000.bin --out $D/data --force",
       {"$D/data/val_000000.bin", "is also the output shard"}},
      {"prepare_val_fraction_zero",
       "data prepare --text $D/text.txt --out $D/p --val-fraction 0",
       {"val_fraction", "(0, 1)"}},
      {"bench_missing_suite", "bench $D/b/missing.json --out $D/bo", {"$D/b/missing.json"}},
      {"bench_broken_suite", "bench $D/b/broken.json --out $D/bo", {"$D/b/broken.json"}},
      {"bench_wrongly_typed_suite_value",
       "bench $D/b/typed.json --out $D/bo",
       {"points", "\"two\""}},
      {"bench_unknown_suite_key", "bench $D/b/unknown.json --out $D/bo", {"optimisers"}},
      {"report_missing_results", "report $D/nothing", {"$D/nothing"}},
      {"nproc_negative", kTrain + "--nproc -2 --out $D/o/a", {"--nproc", "at least 1, got -2"}},
      {"nproc_zero", kTrain + "--nproc 0 --out $D/o/a", {"--nproc", "at least 1, got 0"}},
      {"nproc_batch_not_divisible",
       kTrain + "--nproc 3 --out $D/o/a",
       {"--batch 2", "must divide by the 3 ranks"}},
      // --step -5 once meant "the last step" and showed the checkpoint without a word.
      {"spectrum_negative_step_without_records",
       "spectrum --run $D/run --step -5",
       {"--step -5", "has no spectra.jsonl"}},
      // Issue #25, class "--opt values out of range": the optimizer's own check, as ours.
      {"opt_ns_auto_tolerance_negative",
       kTrain + "--ns-steps auto --opt ns_auto_tolerance=-1 --out $D/o/a",
       {"optimizer 'muon'", "ns_auto_tolerance must be >= 0, got -1", "steepest optimizers"}},
      // Learning rates and weight decay beyond fp32's range: named, not "cannot be
      // converted to type float".
      {"adamw_lr_beyond_fp32",
       kTrain + "--optimizer adamw --lr 1e39 --out $D/o/a",
       {"optimizer 'adamw'", "learning rate", "3.4e38"}},
      {"lion_lr_1e300", kTrain + "--optimizer lion --lr 1e300 --out $D/o/a", {"'lion'", "3.4e38"}},
      {"weight_decay_1e300",
       kTrain + "--weight-decay 1e300 --out $D/o/a",
       {"weight decay", "fp32"}},
      // A run far shorter than 100 steps that ends at chance: exit 1, not 0.
      {"lr_1e6_ends_at_chance",
       "train --train '$D/data/train_*.bin' --val '$D/data/val_*.bin' --n-layer 1 --n-head 2 "
       "--n-embd 32 --ctx 16 --batch 2 --steps 30 --eval-batches 1 --threads 1 --lr 1e6 "
       "--out $D/o/a",
       {"is chance level ln(256)", "learned nothing", "lower --lr"}},
      {"resume_with_init_from",
       "train --resume $D/run --init-from $D/run --steps 6 --out $D/o/a",
       {"--init-from cannot be combined with --resume"}},
      {"ns_steps_auto_with_modular",
       kTrain + "--ns-steps auto --optimizer modular --out $D/o/a",
       {"--ns-steps auto", "'modular'", "--ns-steps N"}},
      {"checkpoint_minutes_negative",
       kTrain + "--checkpoint-minutes -1 --out $D/o/a",
       {"--checkpoint-minutes"}},
  };
  return r;
}

// gtest prints a row as its name (ctest lists it), not as raw bytes.
void PrintTo(const BadInput& row, std::ostream* os) {
  *os << row.name;
}

class BadInputs : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadInputs, FailsWithOurOwnMessage) {
  if (!testing::cli_built()) GTEST_SKIP() << "CLI not built";
  build_fixtures();
  const BadInput& row = GetParam();
  // Each row writes (if it wrongly gets that far) into its own run directory.
  std::string args = row.args;
  const std::string own = "$D/o/" + std::string(row.name);
  for (size_t at = 0; (at = args.find("$D/o/a ", at)) != std::string::npos; at += own.size())
    args.replace(at, 6, own);
  if (args.size() >= 6 && args.compare(args.size() - 6, 6, "$D/o/a") == 0)
    args.replace(args.size() - 6, 6, own);
  fs::remove_all(fixture_dir() / "o" / row.name);
  const std::string cmd = "steepest " + expand(args);
  // `train` rows on the shared fixture run take its .steepest.lock while they
  // check it; ctest runs rows in parallel, so they take turns here instead of
  // failing on each other's lock.
  const bool resumes_fixture =
      args.rfind("train ", 0) == 0 && args.find("$D/run") != std::string::npos;
  const int turn = resumes_fixture ? ::open((fixture_dir() / ".resume_turn").c_str(),
                                            O_RDWR | O_CREAT | O_CLOEXEC, 0644)
                                   : -1;
  while (turn >= 0 && ::flock(turn, LOCK_EX) != 0 && errno == EINTR) {
  }
  const auto [rc, out] = testing::run_cli(expand(args));
  if (turn >= 0) ::close(turn);
  ASSERT_LT(rc, 128) << "killed by a signal: " << cmd << "\n" << out;
  if (row.succeeds)
    EXPECT_EQ(rc, 0) << cmd << "\n" << out;
  else
    // 1: our error; 100-115: CLI11's parse errors (they name the flag too).
    EXPECT_TRUE(rc == 1 || (rc >= 100 && rc <= 115))
        << "exit " << rc << "; expected 1 (or a CLI11 parse error): " << cmd << "\n"
        << out;
  for (const auto& phrase : row.phrases)
    EXPECT_NE(out.find(expand(phrase)), std::string::npos)
        << "missing '" << expand(phrase) << "' in the output of\n"
        << cmd << "\n"
        << out;
  for (const char* marker : kInternalMarkers)
    EXPECT_EQ(out.find(marker), std::string::npos)
        << "internal text '" << marker << "' in the output of\n"
        << cmd << "\n"
        << out;
}

INSTANTIATE_TEST_SUITE_P(Table, BadInputs, ::testing::ValuesIn(rows()),
                         [](const ::testing::TestParamInfo<BadInput>& info) {
                           return std::string(info.param.name);
                         });

// The report's row count and a guard that the table stays large.
TEST(BadInputs, TableCoversEveryListedInput) {
  EXPECT_GE(rows().size(), 90u);
}

}  // namespace
}  // namespace steepest
