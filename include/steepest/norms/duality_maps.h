// Norms on weight updates and their duality maps (Bernstein & Newhouse 2024,
// "Old Optimizer, New Norm"; docs/OPTIMIZERS.md has the table).
//
// Steepest descent under a norm ‖·‖ takes ΔW = −(‖G‖†/λ)·dualize(G), where
// dualize(G) = argmax_{‖T‖=1} ⟨G, T⟩ and ‖G‖† = ⟨G, dualize(G)⟩ is the dual norm.
// Norms take one matrix W or G of shape (n_out, n_in) — rows are output
// neurons, as torch::nn::Linear stores them — and return a 0-dim tensor. Duality
// maps take one matrix or a batch (k, n_out, n_in), each matrix on its own, and
// return G's shape; a zero G dualizes to zero. norms/norm.h bundles each norm
// with its dual and its map as one object, which the optimizers are built from.
#pragma once

#include <ATen/ATen.h>

#include "steepest/linalg/cost.h"

namespace steepest {

// Frobenius / ℓ2: ‖W‖_F; self-dual; dualize G/‖G‖_F (SGD).
at::Tensor frobenius_norm(const at::Tensor& W);
at::Tensor dualize_frobenius(const at::Tensor& G);

// ℓ∞ (max |entry|); dual ℓ1 (entrywise sum of |G|); dualize sign(G) (signSGD, Lion).
at::Tensor linf_norm(const at::Tensor& W);
at::Tensor l1_norm(const at::Tensor& G);
at::Tensor dualize_linf(const at::Tensor& G);

// Spectral ℓ2→ℓ2 (σ_max); dual nuclear Σσᵢ; dualize U Vᵀ by exact SVD (Muon).
at::Tensor spectral_norm(const at::Tensor& W);
at::Tensor nuclear_norm(const at::Tensor& G);
at::Tensor dualize_spectral(const at::Tensor& G, Cost* cost = nullptr);

// RMS→RMS operator norm √(n_in/n_out)·σ_max; dual √(n_out/n_in)·Σσᵢ;
// dualize √(n_out/n_in)·U Vᵀ (Muon with "spectral" scaling).
at::Tensor rms_rms_norm(const at::Tensor& W);
at::Tensor rms_rms_dual_norm(const at::Tensor& G);
at::Tensor dualize_rms_rms(const at::Tensor& G, Cost* cost = nullptr);

// Row-wise ℓ2 (max row norm, the ℓ2→ℓ∞ operator norm); dual Σ row norms;
// dualize: each row over its ℓ2 norm (RMNP).
at::Tensor row_l2_norm(const at::Tensor& W);
at::Tensor row_l2_dual_norm(const at::Tensor& G);
at::Tensor dualize_row_l2(const at::Tensor& G);

// Row-wise RMS (max over rows of ‖row‖₂/√n_in, the modular norm of an embedding
// whose rows are the vectors); dual √n_in·Σ row norms; dualize: each row to
// length √n_in (modula's Embed).
at::Tensor row_rms_norm(const at::Tensor& W);
at::Tensor row_rms_dual_norm(const at::Tensor& G);
at::Tensor dualize_row_rms(const at::Tensor& G);

// Column-wise ℓ2 (max column norm, the ℓ1→ℓ2 operator norm); dual Σ column
// norms; dualize: each column over its ℓ2 norm (embedding normalization).
at::Tensor col_l2_norm(const at::Tensor& W);
at::Tensor col_l2_dual_norm(const at::Tensor& G);
at::Tensor dualize_col_l2(const at::Tensor& G);

// Schatten-q, q ∈ (1, ∞): ‖σ‖_q; dual ‖σ‖_{q*} with 1/q + 1/q* = 1;
// dualize U Σ^{1/(q−1)} Vᵀ / ‖Σ^{1/(q−1)}‖_q (HTMuon with p = 1/(q−1)).
at::Tensor schatten_norm(const at::Tensor& W, double q);
at::Tensor schatten_dual_norm(const at::Tensor& G, double q);
at::Tensor dualize_schatten(const at::Tensor& G, double q, Cost* cost = nullptr);

}  // namespace steepest
