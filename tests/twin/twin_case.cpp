// Writes the cases that tests/twin/twin_gpt.py checks against PyTorch: per
// case a directory with the model (export_gpt: gpt.json + one .npy per
// parameter), the batch and steepest's loss (batch.json), and steepest's
// gradient of every parameter (grad/<name>.npy).
//
//   steepest_twin_case OUT_DIR
//
// Every weight is drawn from N(0, 1/fan_in) rather than the trainer's init
// (whose zero output projections and head would make most gradients zero and
// the comparison weak).
#include <ATen/ATen.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "steepest/io/npy.h"
#include "steepest/model/export.h"
#include "steepest/model/gpt.h"

namespace {

namespace fs = std::filesystem;
using steepest::GPT;
using steepest::GPTConfig;

struct Case {
  const char* name;
  GPTConfig config;
  at::ScalarType dtype;
  int64_t batch, seq;
};

GPTConfig small(int64_t head_dim, int64_t n_head) {
  GPTConfig c;
  c.vocab_size = 64;
  c.n_layer = 2;
  c.n_head = n_head;
  c.n_embd = head_dim * n_head;
  c.ctx = 48;
  return c;
}

GPTConfig modular(GPTConfig c) {
  c.residual_mixing = true;
  c.attn_1_over_d = true;
  c.logit_softcap = 15.0;
  return c;
}

void write_case(const Case& k, const fs::path& dir) {
  at::manual_seed(1234);
  GPT model(k.config);
  model->to(k.dtype);
  {
    at::NoGradGuard no_grad;
    for (auto& p : model->parameters()) p.normal_(0.0, 1.0 / std::sqrt(double(p.size(-1))));
  }
  const auto tokens = at::randint(k.config.vocab_size, {k.batch, k.seq + 1}, at::kLong);
  const auto idx = tokens.slice(1, 0, k.seq).contiguous();
  const auto targets = tokens.slice(1, 1).contiguous();
  const auto loss = model->loss(idx, targets);
  loss.backward();

  steepest::export_gpt(model, dir.string());
  fs::create_directories(dir / "grad");
  for (const auto& p : model->named_parameters())
    steepest::write_npy((dir / "grad" / (p.key() + ".npy")).string(), p.value().grad());
  auto rows = [](const at::Tensor& t) {
    nlohmann::json j = nlohmann::json::array();
    for (int64_t b = 0; b < t.size(0); ++b) {
      const at::Tensor row = t[b];
      j.push_back(
          std::vector<int64_t>(row.data_ptr<int64_t>(), row.data_ptr<int64_t>() + row.numel()));
    }
    return j;
  };
  const nlohmann::json batch = {
      {"idx", rows(idx)}, {"targets", rows(targets)}, {"loss", loss.item<double>()}};
  std::ofstream(dir / "batch.json") << batch.dump() << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  // Head sizes 16, 32 and 64 take the attention kernel's specialized paths,
  // 12 its generic one; T = 48 and 37 are not multiples of the vector width.
  const Case cases[] = {
      {"fp64_d16", small(16, 2), at::kDouble, 3, 48},
      {"fp64_d12_modular", modular(small(12, 3)), at::kDouble, 2, 37},
      {"fp32_d32", small(32, 2), at::kFloat, 3, 48},
      {"fp32_d64_modular", modular(small(64, 1)), at::kFloat, 2, 37},
  };
  for (const auto& k : cases) {
    const fs::path dir = fs::path(argv[1]) / k.name;
    write_case(k, dir);
    std::printf("wrote %s\n", dir.c_str());
  }
  return 0;
}
