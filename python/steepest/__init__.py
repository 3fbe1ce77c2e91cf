"""steepest: steepest descent under a chosen norm (Muon and its family) for PyTorch.

    import steepest
    opt = steepest.optim.Muon(model.parameters(), lr=0.02)        # one optimizer
    opt = steepest.optim.Hybrid(model)                            # Muon + AdamW by role
    O = steepest.orthogonalize(G, method="polar-express")        # ≈ U V^T
    D = steepest.dualize(G, norm="row-l2")                       # a duality map

Every optimizer, orthogonalizer and duality map is steepest's C++ code
(steepest._C); this package only adapts it to torch.optim.
"""
import torch  # noqa: F401  (loads libtorch before the extension)

from . import _C
from . import optim

__all__ = ["optim", "optimizers", "orthogonalize", "dualize", "orthogonalizer_names",
           "norm_names", "set_threads"]


def optimizers():
    """Every optimizer: a list of dicts with name, norm, formula, source, lr (the
    default), hidden_matrices, defaults (hyperparameter → default) and help."""
    return _C.optimizers()


def orthogonalize(G, method="keller", steps=-1, dtype=None):
    """≈ U Vᵀ of G ((m, n) or a batch (b, m, n)), same shape and dtype.

    method: a Newton–Schulz schedule ("keller", "polar-express", "cubic", …),
    its Gram ("gram-<schedule>") or plain ("ns-<schedule>") form, or "svd";
    steps < 0 keeps the schedule's own length; dtype: the iteration's compute
    dtype ("fp32", "bf16", "fp64"; None: the method's default)."""
    return _C.orthogonalize(G, method, int(steps), dtype or "")


def dualize(G, norm="spectral", method=None):
    """argmax over ‖T‖ = 1 of ⟨G, T⟩ for a registered norm (steepest.norm_names()),
    G (m, n) or (b, m, n). Spectral-type maps use `method` (an orthogonalizer
    name) for U Vᵀ, or an exact SVD when None."""
    return _C.dualize(G, norm, method or "")


def orthogonalizer_names():
    return _C.orthogonalizer_names()


def norm_names():
    return _C.norm_names()


def set_threads(n, intra_op=-1):
    """Threads for OpenBLAS and libtorch's pool together, as `steepest train
    --threads` sets them (they add up otherwise; docs/BENCHMARKS.md, "Threads").
    intra_op < 0: n when oneDNN runs steepest's GEMMs, else 1. Returns False
    when OpenBLAS is not loaded (then only libtorch's count is set)."""
    return _C.set_threads(int(n), int(intra_op))
