#!/usr/bin/env python3
"""PyTorch twin of steepest's GPT, as llm.c keeps train_gpt2.py next to its C.

The same architecture written with plain PyTorch modules and ops (no custom
kernels), built from the weights that `steepest export` (or the test tool
`steepest_twin_case`) writes: gpt.json and one .npy per parameter.

  twin_gpt.py check CASE_DIR...   loss and every gradient vs steepest's
  twin_gpt.py bench --batch B --seq T [--optimizer adamw|muon] [--steps N]
                    [--threads N]  ms per training step, one JSON line

Model (steepest/model/gpt.h): token embedding; per block
  x += o(attention(q, k, v))  with q, k, v = per-head RMS norm, rotary (half
                              split), q scaled by 1/sqrt(d) (1/d with
                              attn_1_over_d), causal softmax attention
  x += proj(relu(fc(rms_norm(x)))^2)
(x = (1-b)x + b*block with residual_mixing, b = 1/(2L)); logits =
head(rms_norm(x)), tanh soft cap when logit_softcap > 0; mean cross entropy.
Every linear map is bias-free and every RMS norm has no gain.

Needs Debian's python3-torch (1.13) and python3-numpy: `make deps` installs them.
"""
import argparse
import ctypes
import json
import math
import os
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def rms_norm(x, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)


def rotary_tables(ctx, head_dim, base):
    # Angles in float64, rounded once to float32, as steepest does.
    inv_freq = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    theta = torch.outer(torch.arange(ctx, dtype=torch.float64), inv_freq)
    return theta.cos().float(), theta.sin().float()


def rotary(x, cos, sin):
    """x (B, H, T, d): the pair (x_i, x_{i+d/2}) at position t rotated by theta_i*t."""
    h = x.size(-1) // 2
    x1, x2 = x[..., :h], x[..., h:]
    return torch.cat([x1 * cos + x2 * sin, x2 * cos - x1 * sin], -1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.q = nn.Linear(c, c, bias=False)
        self.k = nn.Linear(c, c, bias=False)
        self.v = nn.Linear(c, c, bias=False)
        self.o = nn.Linear(c, c, bias=False)


class Mlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.fc = nn.Linear(c, 4 * c, bias=False)
        self.proj = nn.Linear(4 * c, c, bias=False)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attn = Attention(c)
        self.mlp = Mlp(c)


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        c, v = cfg["n_embd"], cfg["vocab_size"]
        self.embed = nn.Embedding(v, c)
        self.blocks = nn.ModuleList(Block(c) for _ in range(cfg["n_layer"]))
        self.head = nn.Linear(c, v, bias=False)
        d = c // cfg["n_head"]
        cos, sin = rotary_tables(cfg["ctx"], d, cfg["rope_base"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        self.q_scale = 1.0 / d if cfg["attn_1_over_d"] else 1.0 / math.sqrt(d)
        b = 1.0 / (2 * cfg["n_layer"])
        self.mix = (1.0 - b, b) if cfg["residual_mixing"] else (1.0, 1.0)

    def forward(self, idx, targets):
        cfg, eps = self.cfg, self.cfg["norm_eps"]
        B, T = idx.shape
        H = cfg["n_head"]
        d = cfg["n_embd"] // H
        cos = self.cos[:T].to(self.head.weight.dtype)
        sin = self.sin[:T].to(self.head.weight.dtype)
        mask = torch.ones(T, T, dtype=torch.bool, device=idx.device).triu(1)
        a, b = self.mix
        x = self.embed(idx)  # (B, T, C)
        for blk in self.blocks:
            h = rms_norm(x, eps)
            q, k, v = (f(h).view(B, T, H, d).transpose(1, 2)
                       for f in (blk.attn.q, blk.attn.k, blk.attn.v))
            q = rotary(rms_norm(q, eps), cos, sin) * self.q_scale
            k = rotary(rms_norm(k, eps), cos, sin)
            att = (q @ k.transpose(-2, -1)).masked_fill(mask, float("-inf"))
            y = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, H * d)
            x = a * x + b * blk.attn.o(y)
            u = F.relu(blk.mlp.fc(rms_norm(x, eps))).square()
            x = a * x + b * blk.mlp.proj(u)
        logits = self.head(rms_norm(x, eps))
        cap = cfg["logit_softcap"]
        if cap > 0:
            logits = torch.tanh(logits / cap) * cap
        return F.cross_entropy(logits.view(B * T, -1), targets.reshape(-1))


def load_gpt(directory):
    """The model `steepest export` wrote into directory, in the .npy files' dtype."""
    with open(os.path.join(directory, "gpt.json")) as f:
        cfg = json.load(f)
    model = GPT(cfg)
    state = {}
    for name, p in model.named_parameters():
        path = os.path.join(directory, name + ".npy")
        w = torch.from_numpy(np.load(path))
        if w.shape != p.shape:
            sys.exit(f"twin: {path} has shape {tuple(w.shape)}, the twin expects {tuple(p.shape)}")
        state[name] = w
    dtype = state["head.weight"].dtype
    model.to(dtype)
    model.load_state_dict(state, strict=False)  # the rotary buffers are not in the files
    return model


def check(case_dirs):
    """Loss and every gradient of the twin against steepest's, per case directory.

    Tolerances, relative to the largest magnitude of each compared tensor:
    1e-12 in float64 (the same maths in another order of operations; 2e-15
    seen) and 1e-5 in float32 (rounding through different kernels; 1.2e-6
    seen on 2-layer models)."""
    failed = 0
    for case in case_dirs:
        with open(os.path.join(case, "batch.json")) as f:
            batch = json.load(f)
        model = load_gpt(case)
        dtype = model.head.weight.dtype
        tol = 1e-12 if dtype == torch.float64 else 1e-5
        idx = torch.tensor(batch["idx"], dtype=torch.long)
        targets = torch.tensor(batch["targets"], dtype=torch.long)
        loss = model(idx, targets)
        loss.backward()
        errors = {"loss": abs(loss.item() - batch["loss"]) / abs(batch["loss"])}
        for name, p in model.named_parameters():
            ours = torch.from_numpy(np.load(os.path.join(case, "grad", name + ".npy")))
            scale = p.grad.abs().max().item()
            if scale == 0:
                print(f"  {name}: the twin's gradient is zero; the case tests nothing there")
                errors[name] = math.inf
                continue
            errors[name] = (p.grad - ours).abs().max().item() / scale
            if not errors[name] <= tol:
                print(f"  {name}: relative error {errors[name]:.3g} (gradient max {scale:.3g})")
        worst_name = max(errors, key=errors.get)
        worst = errors[worst_name]
        ok = worst <= tol
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {os.path.basename(os.path.normpath(case))}: {dtype}, loss {loss.item():.9g} "
              f"(steepest {batch['loss']:.9g}), {sum(1 for _ in model.parameters())} gradients, "
              f"worst relative error {worst:.3g} ({worst_name}), tolerance {tol:g}")
    return failed


def set_blas_threads(n):
    """n OpenBLAS threads (libtorch's OpenMP pool is set apart: their counts add up)."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "openblas" in line and ".so" in line}
    for lib in sorted(libs):
        try:
            ctypes.CDLL(lib).openblas_set_num_threads(n)
            return True
        except (OSError, AttributeError):
            pass
    return False


def newton_schulz5(g, steps=5):
    """Keller Jordan's quintic Newton-Schulz (a, b, c) = (3.4445, -4.7750, 2.0315),
    fp32 here (the reference runs it in bf16 on GPUs), on the wide orientation."""
    a, b, c = 3.4445, -4.7750, 2.0315
    x = g / (g.norm() + 1e-7)
    tall = x.size(0) > x.size(1)
    if tall:
        x = x.t()
    for _ in range(steps):
        s = x @ x.t()
        x = a * x + (b * s + c * s @ s) @ x
    return x.t() if tall else x


class Muon(torch.optim.Optimizer):
    """Muon as in Keller Jordan's reference (and steepest's defaults): EMA
    momentum 0.95 with the Nesterov look-ahead, 5 quintic Newton-Schulz steps,
    update scaled by sqrt(max(1, rows/cols))."""

    def __init__(self, params, lr=0.02, momentum=0.95):
        super().__init__(params, dict(lr=lr, momentum=momentum))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                buf = self.state[p].setdefault("momentum", torch.zeros_like(p))
                buf.lerp_(p.grad, 1 - group["momentum"])
                o = newton_schulz5(p.grad.lerp(buf, group["momentum"]))
                p.add_(o, alpha=-group["lr"] * max(1.0, p.size(0) / p.size(1)) ** 0.5)


def keep_freed_memory():
    """What steepest's trainer and bench_gpt do (steepest/util/memory.h): glibc
    keeps freed blocks instead of returning them to the kernel, so the ~1 MiB
    activations of each step are not page-faulted in anew."""
    libc = ctypes.CDLL("libc.so.6")
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return libc.mallopt(M_MMAP_THRESHOLD, 256 << 20) == 1 and \
        libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1


def bench(args):
    if args.threads > 0:
        torch.set_num_threads(args.intra_op)
        if not set_blas_threads(args.threads):
            print("twin: OpenBLAS not found; only libtorch's pool was set", file=sys.stderr)
    if not args.malloc_default:
        keep_freed_memory()
    torch.manual_seed(0)
    cfg = dict(vocab_size=256, n_layer=4, n_head=4, n_embd=128, ctx=128, logit_softcap=0.0,
               rope_base=10000.0, residual_mixing=False, attn_1_over_d=False, norm_eps=1e-6)
    model = GPT(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 1 / math.sqrt(p.size(-1)))
    batch = torch.randint(256, (args.batch, args.seq + 1))
    x, y = batch[:, :-1], batch[:, 1:]
    hidden = [p for n, p in model.named_parameters() if n.startswith("blocks.")]
    other = [model.embed.weight, model.head.weight]
    if args.optimizer == "adamw":
        opts = [torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)]
    else:
        opts = [Muon(hidden), torch.optim.AdamW(other, lr=1e-3, weight_decay=0.0)]
    times = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        for o in opts:
            o.zero_grad(set_to_none=True)
        loss = model(x, y)
        loss.backward()
        if args.optimizer != "none":
            for o in opts:
                o.step()
        if i >= args.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps(dict(impl="pytorch-twin", torch=torch.__version__, batch=args.batch,
                          seq=args.seq, optimizer=args.optimizer, intra_op=torch.get_num_threads(),
                          blas_threads=args.threads,
                          steps=args.steps, ms_median=statistics.median(times),
                          ms_min=min(times), loss=loss.item())))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check", help="compare loss and gradients with steepest's")
    c.add_argument("cases", nargs="+")
    b = sub.add_parser("bench", help="ms per training step of the twin")
    b.add_argument("--batch", type=int, default=8)
    b.add_argument("--seq", type=int, default=128)
    b.add_argument("--optimizer", choices=["none", "adamw", "muon"], default="adamw")
    b.add_argument("--steps", type=int, default=20)
    b.add_argument("--warmup", type=int, default=3)
    b.add_argument("--threads", type=int, default=0,
                   help="OpenBLAS threads (0 = leave both pools as they are)")
    b.add_argument("--intra-op", type=int, default=1,
                   help="libtorch intra-op threads when --threads > 0 (as bench_gpt)")
    b.add_argument("--malloc-default", action="store_true",
                   help="leave glibc malloc's settings (steepest keeps freed memory)")
    args = parser.parse_args()
    if args.cmd == "check":
        sys.exit(1 if check(args.cases) else 0)
    bench(args)


if __name__ == "__main__":
    main()
