// Shared test fixtures: matrices with a known SVD, and tolerance helpers.
#pragma once

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <tuple>

namespace steepest::testing {

// Random m×k matrix with orthonormal columns (k ≤ m), from a seeded QR.
inline at::Tensor random_orthonormal(int64_t m, int64_t k, at::ScalarType dtype = at::kDouble) {
  return std::get<0>(at::linalg_qr(at::randn({m, k}, at::TensorOptions().dtype(dtype))));
}

// X = U diag(sigma) Vᵀ with random U (m×r), V (n×r), r = sigma.numel().
struct KnownSvd {
  at::Tensor X, U, S, V;
};
inline KnownSvd known_svd(int64_t m, int64_t n, const at::Tensor& sigma,
                          at::ScalarType dtype = at::kFloat) {
  const int64_t r = sigma.numel();
  auto U = random_orthonormal(m, r), V = random_orthonormal(n, r);
  auto S = sigma.to(at::kDouble);
  auto X = at::matmul(U * S.unsqueeze(0), V.t()).to(dtype);
  return {X, U, S, V};
}

// ‖a − b‖_F / max(‖b‖_F, tiny), in fp64.
inline double rel_err(const at::Tensor& a, const at::Tensor& b) {
  auto ad = a.to(at::kDouble), bd = b.to(at::kDouble);
  return ((ad - bd).norm() / bd.norm().clamp_min(1e-300)).item<double>();
}

// Expects fn() to throw std::invalid_argument whose message contains `needle`.
inline void expect_invalid_argument(const std::function<void()>& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected std::invalid_argument mentioning " << needle;
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

}  // namespace steepest::testing
