#!/usr/bin/env python3
"""The Python path's cost (issue #15), measured side by side in one process.

    PYTHONPATH=build/python /usr/bin/python3 benchmarks/python_step.py [--threads 2]

On the default GPT's 24 hidden matrices (4 layers × q, k, v, o 128×128,
fc 512×128, proj 128×512), fp32, fixed random gradients:

- python:   steepest.optim.Muon(...).step(), the torch.optim path;
- cpp:      the same optimizer's C++ step called directly (its handle), i.e.
            the C++ step plus one pybind11 call, without the Python wrapper;
- keller:   Keller Jordan's Muon written in plain PyTorch, fp32 NS, on the
            same tensors (a loop over parameters, as the reference does), at
            each split of the cores between libtorch's pool and OpenBLAS.

steepest's variants run with steepest.set_threads(--threads) (what `steepest
train --threads` sets).

Each variant runs `--steps` steps per repetition; repetitions interleave the
variants; the medians are printed with the machine's CPU flags and threads.
"""
import argparse
import math
import platform
import statistics
import time

import torch

import steepest

KELLER = (3.4445, -4.7750, 2.0315)


def shapes(n_layer=4, d=128):
    out = []
    for _ in range(n_layer):
        out += [(d, d)] * 4 + [(4 * d, d), (d, 4 * d)]
    return out


def keller_muon_step(params, bufs, lr=0.02, momentum=0.95):
    with torch.no_grad():
        for p, buf in zip(params, bufs):
            g = p.grad
            buf.lerp_(g, 1 - momentum)
            u = g.lerp(buf, momentum)
            X = u
            tall = X.size(0) > X.size(1)
            if tall:
                X = X.T
            X = X / (X.norm() + 1e-7)
            a, b, c = KELLER
            for _ in range(5):
                A = X @ X.T
                B = b * A + c * A @ A
                X = a * X + B @ X
            if tall:
                X = X.T
            p.add_(X, alpha=-lr * math.sqrt(max(1.0, p.size(0) / p.size(1))))


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    return " ".join(f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
                                    if f in flags)
    except OSError:
        pass
    return "?"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    steepest.set_threads(args.threads)
    torch.manual_seed(0)
    variants = {}

    def params_with_grads():
        ps = [torch.nn.Parameter(torch.randn(s) / math.sqrt(s[1])) for s in shapes()]
        for p in ps:
            p.grad = torch.randn(p.shape)
        return ps

    for label, kw in (("default", {}), ("fp32", {"dtype": "fp32"})):
        ps = params_with_grads()
        opt = steepest.optim.Muon(ps, lr=0.02, **kw)
        variants[f"python ({label})"] = opt.step
        ps2 = params_with_grads()
        opt2 = steepest.optim.Muon(ps2, lr=0.02, **kw)
        variants[f"cpp ({label})"] = opt2._handles[0].step
    kp = params_with_grads()
    kb = [torch.zeros_like(p) for p in kp]
    # Plain PyTorch at every split of the cores between libtorch's pool and
    # OpenBLAS (its matmuls run on OpenBLAS in 1.13): the best one is its figure.
    thread_settings = {}
    for intra, blas in ((args.threads, args.threads), (1, args.threads), (args.threads, 1), (1, 1)):
        k = f"keller (plain PyTorch, fp32; libtorch {intra}, OpenBLAS {blas})"
        variants[k] = lambda: keller_muon_step(kp, kb)
        thread_settings[k] = (blas, intra)

    def run(k, f, steps):
        steepest.set_threads(*thread_settings.get(k, (args.threads, -1)))
        t = time.perf_counter()
        for _ in range(steps):
            f()
        return 1e3 * (time.perf_counter() - t) / steps

    for k, f in variants.items():  # warm-up
        run(k, f, 1)
    times = {k: [] for k in variants}
    for _ in range(args.reps):
        for k, f in variants.items():
            times[k].append(run(k, f, args.steps))
    steepest.set_threads(args.threads)
    print(f"# {platform.processor() or platform.machine()}, flags: {cpu_flags()}, threads "
          f"{args.threads} (libtorch {torch.get_num_threads()}, OpenBLAS "
          f"{steepest._C.blas_threads()}), torch {torch.__version__}, {args.reps} reps × "
          f"{args.steps} steps, medians")
    print("| variant | ms/step (median) | min | max |")
    print("|---|---|---|---|")
    med = {}
    for k, v in times.items():
        med[k] = statistics.median(v)
        print(f"| {k} | {med[k]:.2f} | {min(v):.2f} | {max(v):.2f} |")
    for label in ("default", "fp32"):
        py, cpp = med[f"python ({label})"], med[f"cpp ({label})"]
        print(f"python overhead over the C++ step ({label}), medians of blocks: "
              f"{100 * (py - cpp) / cpp:+.1f}%")
        # Alternating single steps, so that both see the same machine state, in
        # ABBA order (whichever runs second finds the thread pools awake).
        f_py, f_cpp = variants[f"python ({label})"], variants[f"cpp ({label})"]
        acc = {"py": 0.0, "cpp": 0.0}
        for i in range(args.reps * args.steps):
            order = (("py", f_py), ("cpp", f_cpp)) if i % 2 == 0 else (("cpp", f_cpp), ("py", f_py))
            for k, f in order:
                t = time.perf_counter()
                f()
                acc[k] += time.perf_counter() - t
        t_py, t_cpp = acc["py"], acc["cpp"]
        print(f"python overhead over the C++ step ({label}), alternating steps: "
              f"{100 * (t_py - t_cpp) / t_cpp:+.1f}% ({1e3 * t_py / (args.reps * args.steps):.2f} "
              f"vs {1e3 * t_cpp / (args.reps * args.steps):.2f} ms)")
    # The Python path adds a fixed cost per step (the wrapper's loop over
    # groups, its checks, one pybind11 call): measured where the C++ step is
    # nearly free (one 2×2 matrix), many steps, interleaved; then compared
    # with the C++ step at the GPT's sizes.
    tiny = torch.nn.Parameter(torch.randn(2, 2))
    tiny.grad = torch.randn(2, 2)
    topt = steepest.optim.Muon([tiny], lr=1e-6, dtype="fp32")
    fixed = {"python": [], "cpp": []}
    for _ in range(args.reps):
        for k, f in (("python", topt.step), ("cpp", topt._handles[0].step)):
            t = time.perf_counter()
            for _ in range(2000):
                f()
            fixed[k].append(1e6 * (time.perf_counter() - t) / 2000)
    added = statistics.median(fixed["python"]) - statistics.median(fixed["cpp"])
    print(f"fixed cost of the Python path: {added:.1f} us/step (2x2 step: python "
          f"{statistics.median(fixed['python']):.1f} us, cpp {statistics.median(fixed['cpp']):.1f} us); "
          f"= {100 * added / 1e3 / med['cpp (default)']:.2f}% of the default C++ step, "
          f"{100 * added / 1e3 / med['cpp (fp32)']:.2f}% of the fp32 one")
    best = min((v, k) for k, v in med.items() if k.startswith("keller"))
    print(f"fastest plain PyTorch: {best[1]}, {best[0]:.2f} ms; over steepest from Python: "
          f"{best[0] / med['python (default)']:.2f}x (default), "
          f"{best[0] / med['python (fp32)']:.2f}x (fp32)")


if __name__ == "__main__":
    main()
