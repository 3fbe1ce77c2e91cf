// `steepest orthogonalize`: msign of a matrix from an .npy file, with a report.
#include <ATen/ATen.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "commands.h"
#include "steepest/io/npy.h"
#include "steepest/linalg/compute_dtype.h"
#include "steepest/linalg/orthogonality_report.h"
#include "steepest/linalg/orthogonalizer.h"
#include "steepest/linalg/polar_svd.h"

namespace steepest::app {
namespace {

struct OrthogonalizeArgs {
  std::string in, out, method = "keller", dtype = "fp32";
  int steps = -1;
  int threads = 0;
  bool demo = false;
};

at::ScalarType parse_dtype(const std::string& s) {
  try {
    return compute_dtype_from_name(s);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string("--dtype: ") + e.what());
  }
}

double time_ms(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

nlohmann::ordered_json run_one(const Orthogonalizer& o, const at::Tensor& X, at::Tensor* result) {
  Cost cost;
  at::Tensor O;
  const double ms = time_ms([&] { O = o(X, &cost); });
  const auto rep = orthogonality_report(O, cost);
  if (result) *result = O;
  return {
      {"method", o.name()},         {"shape", X.sizes().vec()},        {"sigma_min", rep.sigma_min},
      {"sigma_max", rep.sigma_max}, {"orth_error", rep.orth_error},    {"gemms", cost.gemms},
      {"flops", cost.flops},        {"other_flops", cost.other_flops}, {"ms", ms}};
}

// A 512×2048 matrix with known singular values 10^[-3, 0] through every method.
void demo(const OrthogonalizeArgs& a) {
  at::manual_seed(0);
  const int64_t m = 512, n = 2048;
  const auto U = std::get<0>(at::linalg_qr(at::randn({m, m})));
  const auto V = std::get<0>(at::linalg_qr(at::randn({n, m})));
  const auto S = at::logspace(-3, 0, m);
  const auto X = at::matmul(U * S.unsqueeze(0), V.t());
  std::printf(
      "steepest orthogonalize --demo: X = U diag(sigma) V^T, %lldx%lld, sigma in "
      "[1e-3, 1] log-spaced\n",
      static_cast<long long>(m), static_cast<long long>(n));
  std::printf("%-22s %9s %9s %11s %6s %10s %9s\n", "method", "sigma_min", "sigma_max", "|OtO-I|/vr",
              "GEMMs", "GFLOP", "ms");
  for (const auto& name : orthogonalizer_names()) {
    const auto o = Orthogonalizer::from_name(name, a.steps, parse_dtype(a.dtype));
    const auto j = run_one(o, X, nullptr);
    std::printf("%-22s %9.4f %9.4f %11.2e %6lld %10.3f %9.1f\n", name.c_str(),
                j["sigma_min"].get<double>(), j["sigma_max"].get<double>(),
                j["orth_error"].get<double>(), j["gemms"].get<long long>(),
                j["flops"].get<double>() / 1e9, j["ms"].get<double>());
  }
  std::printf("(keller stops short of 1 by design; polar-express lands near 1; svd is exact.)\n");
}

}  // namespace

void add_orthogonalize_command(CLI::App& app) {
  auto args = std::make_shared<OrthogonalizeArgs>();
  auto* cmd = app.add_subcommand(
      "orthogonalize",
      "Orthogonalize a matrix (msign = U V^T) read from .npy; print a one-line JSON report");
  cmd->add_option("--in", args->in,
                  "input .npy (float32/float64, C or Fortran order, (m,n) or (B,m,n))");
  cmd->add_option("--out", args->out, "output .npy for the orthogonalized matrix");
  cmd->add_option("--method", args->method, "method (see `steepest optimizers`)")
      ->capture_default_str();
  cmd->add_option("--steps", args->steps, "iterations (default: the schedule's own)");
  cmd->add_option("--dtype", args->dtype,
                  "compute dtype: fp32 (input's), bf16, fp64, auto (bf16 where the CPU has "
                  "AVX512_BF16 or AMX)")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads,
                  "OpenBLAS threads (libtorch intra-op then 1; 0 = leave both as they are)");
  cmd->add_flag("--demo", args->demo, "run every method on a built-in matrix with known spectrum");
  cmd->callback([args] {
    if (args->steps == 0 || args->steps < -1)
      throw std::invalid_argument("--steps must be >= 1 (or -1: the schedule's own), got " +
                                  std::to_string(args->steps));
    apply_threads_flag(args->threads);
    if (args->demo) return demo(*args);
    if (args->in.empty()) throw CLI::RequiredError("--in (or --demo)");
    const auto o = Orthogonalizer::from_name(args->method, args->steps, parse_dtype(args->dtype));
    const at::Tensor X = read_npy(args->in);
    if (X.dim() != 2 && X.dim() != 3)
      throw std::invalid_argument("--in '" + args->in + "' has " + std::to_string(X.dim()) +
                                  " dimensions; expected a matrix (m,n) or a batch (B,m,n)");
    if (X.numel() == 0)
      throw std::invalid_argument("--in '" + args->in + "' has shape " + c10::str(X.sizes()) +
                                  ", which holds no entries; give a " +
                                  "matrix with at least one row and one column");
    if (!at::isfinite(X).all().item<bool>())
      throw std::invalid_argument("--in '" + args->in + "' holds " +
                                  std::to_string(at::isnan(X).sum().item<int64_t>()) + " NaN and " +
                                  std::to_string(at::isinf(X).sum().item<int64_t>()) +
                                  " Inf entries; orthogonalization needs finite values");
    at::Tensor O;
    const auto j = run_one(o, X, &O);
    if (!args->out.empty()) write_npy(args->out, O);
    std::cout << j.dump() << std::endl;
  });
}

}  // namespace steepest::app
