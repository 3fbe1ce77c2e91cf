#!/usr/bin/env python3
"""The spectral study of issue #14 (docs/RESULTS.md), from a bench output.

    benchmarks/spectra_study.py results/spectra-study [--threshold 0.1]

Reads the runs under <out>/runs/ that recorded spectra.jsonl (bench suites
with "spectra_every" in their train object), each optimizer's at its best
LR (the one with the most seeds), and prints markdown:

1. Weight tails per optimizer: the heavy-tail exponent alpha of the
   eigenvalues of W^T W (Clauset MLE, spectrum_stats.h), averaged over the
   hidden matrices of a run, then mean and 95% Student-t interval over seeds;
   with the paired per-seed differences that HTMuon's claim is about.
2. Momentum spectra: how often the tail's power law beats an exponential
   (likelihood ratio, Clauset et al. 2009 s.5), and whether the momentum's
   alpha predicts the Newton-Schulz steps the layer needs: the fewest steps
   of the convergent schedule with orthogonality error <= threshold, and the
   fewest of the optimizer's own schedule within 2% of its full error (the
   `--ns-steps auto` rule). Spearman correlations per seed, then over seeds.

Standard library only (no numpy): statistics the way docs/RESULTS.md states them.
"""
import argparse
import glob
import json
import math
import os
import statistics
import sys

# Two-sided 95% Student-t quantiles by degrees of freedom (df > 30: normal).
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
       9: 2.262, 10: 2.228, 15: 2.131, 20: 2.086, 30: 2.042}


def t95(df):
    if df in T95:
        return T95[df]
    keys = sorted(k for k in T95 if k <= df)
    return T95[keys[-1]] if df <= 30 else 1.96


def mean_ci(xs):
    """Mean and half-width of the 95% t interval (nan with one value)."""
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return float("nan"), float("nan"), 0
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return m, float("nan"), len(xs)
    return m, t95(len(xs) - 1) * statistics.stdev(xs) / math.sqrt(len(xs)), len(xs)


def fmt(m, h, digits=3):
    if not math.isfinite(m):
        return "—"
    return f"{m:.{digits}f}" if not math.isfinite(h) else f"{m:.{digits}f} ± {h:.{digits}f}"


def ranks(xs):
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    r = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return r


def spearman(xs, ys):
    if len(xs) < 3:
        return float("nan")
    rx, ry = ranks(xs), ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


def layer_type(name):
    """blocks.3.attn.q.weight -> q (q, k, v, o, fc, proj in our GPT)."""
    parts = name.split(".")
    return parts[-2] if len(parts) >= 2 else name


def median_sigma_proxy(stats):
    """-log of the median singular value over the Frobenius norm: how far the
    middle of the spectrum starts from 1 after NS's normalization."""
    q = stats.get("sigma_quantiles")
    med = q[3] if q else statistics.median(stats.get("sigma", [0.0]))
    fro = stats["sigma_max"] * math.sqrt(max(stats.get("stable_rank", 0.0), 0.0))
    return -math.log(med / fro) if med > 0 and fro > 0 else float("inf")


def fewest_steps_below(errors, threshold):
    for s, e in enumerate(errors, start=1):
        if e <= threshold:
            return s
    return None  # not reached within the recorded steps


def fewest_steps_within(errors, tolerance=0.02):
    target = (1.0 + tolerance) * errors[-1]
    for s, e in enumerate(errors, start=1):
        if e <= target:
            return s
    return len(errors)


def load_runs(out):
    runs = []
    for d in sorted(glob.glob(os.path.join(out, "runs", "*"))):
        path = os.path.join(d, "spectra.jsonl")
        # Finished runs only (summary.json is written last).
        if not os.path.isfile(path) or not os.path.isfile(os.path.join(d, "summary.json")):
            continue
        name = os.path.basename(d)
        label, rest = name.rsplit("_lr", 1)
        lr, seed = rest.rsplit("_s", 1)
        records = []
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    records.append(json.loads(line))
        runs.append({"dir": d, "label": label, "lr": float(lr), "seed": int(seed),
                     "records": records})
    return runs


def final_step(run):
    return max(r["step"] for r in run["records"])


def alpha_of(stats):
    if not stats or not stats.get("alpha"):
        return None
    a = stats["alpha"].get("alpha", 0.0)
    return a if a and a > 1.0 else None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", help="a bench output directory (its runs/ recorded spectra)")
    ap.add_argument("--thresholds", default="0.5,0.2",
                    help="orthogonality errors a layer must reach with the convergent schedule")
    ap.add_argument("--order", default="adamw,muon,htmuon,mucon,rmnp",
                    help="optimizer labels in table order")
    args = ap.parse_args()
    runs = load_runs(args.out)
    if not runs:
        sys.exit(f"spectra_study: no run under '{args.out}/runs' has spectra.jsonl; "
                 "run a bench suite with \"spectra_every\" in its train object")
    # Per optimizer, the runs at its best LR: the LR with the most seeds (a bench
    # suite's phase 2); the other LR trials are left out.
    best = {}
    for label in {r["label"] for r in runs}:
        lrs = [r["lr"] for r in runs if r["label"] == label]
        best[label] = max(set(lrs), key=lambda lr: (lrs.count(lr), lr))
    runs = [r for r in runs if r["lr"] == best[r["label"]]]
    labels = [l for l in args.order.split(",") if any(r["label"] == l for r in runs)]
    labels += sorted({r["label"] for r in runs} - set(labels))

    # 1. Weight tails.
    print("### Weight tails (alpha of the eigenvalues of W^T W, hidden matrices)\n")
    print("| optimizer | lr | seeds | alpha at the first record | alpha at the end | "
          "KS at the end | power law beats exponential (R > 0, p < 0.1) at the end |")
    print("|---|---|---|---|---|---|---|")
    per_seed_final = {}
    for label in labels:
        rs = [r for r in runs if r["label"] == label]
        first, last, ks, favoured, total = [], [], [], 0, 0
        for r in rs:
            s0 = min(x["step"] for x in r["records"])
            s1 = final_step(r)
            a0 = [alpha_of(x["weight"]) for x in r["records"] if x["step"] == s0]
            a1 = [alpha_of(x["weight"]) for x in r["records"] if x["step"] == s1]
            first.append(statistics.fmean([a for a in a0 if a]))
            last.append(statistics.fmean([a for a in a1 if a]))
            per_seed_final.setdefault(label, {})[r["seed"]] = last[-1]
            for x in r["records"]:
                if x["step"] != s1:
                    continue
                fit = x["weight"]["alpha"]
                ks.append(fit["ks_distance"])
                total += 1
                favoured += fit.get("lr_exponential", 0) > 0 and fit.get("lr_p", 1) < 0.1
        print(f"| {label} | {rs[0]['lr']:g} | {len(rs)} | {fmt(*mean_ci(first)[:2], 2)} | "
              f"{fmt(*mean_ci(last)[:2], 2)} | {statistics.median(ks):.3f} (median) | "
              f"{favoured}/{total} |")
    print()
    print("Paired by seed (alpha at the end, A − B; > 0: A's tails are lighter):\n")
    print("| A − B | difference (mean ± 95% CI) | seeds |")
    print("|---|---|---|")
    for a, b in (("muon", "adamw"), ("muon", "htmuon"), ("htmuon", "adamw"), ("mucon", "muon"),
                 ("rmnp", "muon")):
        if a in per_seed_final and b in per_seed_final:
            seeds = sorted(set(per_seed_final[a]) & set(per_seed_final[b]))
            d = [per_seed_final[a][s] - per_seed_final[b][s] for s in seeds]
            m, h, n = mean_ci(d)
            print(f"| {a} − {b} | {fmt(m, h, 2)} | {n} |")
    print()

    # Per layer type at the end, seeds pooled (mean ± CI over seeds of the type's mean).
    types = sorted({layer_type(x["name"]) for r in runs for x in r["records"]})
    print("Alpha at the end by layer type (mean over seeds ± 95% CI):\n")
    print("| optimizer | " + " | ".join(types) + " |")
    print("|---|" + "---|" * len(types))
    for label in labels:
        cells = []
        for t in types:
            vals = []
            for r in (r for r in runs if r["label"] == label):
                s1 = final_step(r)
                a = [alpha_of(x["weight"]) for x in r["records"]
                     if x["step"] == s1 and layer_type(x["name"]) == t]
                a = [v for v in a if v]
                if a:
                    vals.append(statistics.fmean(a))
            cells.append(fmt(*mean_ci(vals)[:2], 2))
        print(f"| {label} | " + " | ".join(cells) + " |")
    print()

    # 2. Momentum spectra and NS steps (Muon family: records with ns_errors_convergent).
    print("### Momentum spectra\n")
    print("| optimizer | records | momentum alpha (median) | momentum KS (median) | power law beats "
          "exponential (R > 0, p < 0.1) | exponential beats power law (R < 0, p < 0.1) | "
          "own schedule: steps within 2% of its full error (mean) |")
    print("|---|---|---|---|---|---|---|")
    for label in labels:
        recs = [x for r in runs if r["label"] == label for x in r["records"]
                if x.get("ns_errors_convergent") and x.get("momentum")]
        if not recs:
            continue
        fits = [x["momentum"]["alpha"] for x in recs]
        alphas = [a for a in (alpha_of(x["momentum"]) for x in recs) if a]
        pl = sum(f.get("lr_exponential", 0) > 0 and f.get("lr_p", 1) < 0.1 for f in fits)
        ex = sum(f.get("lr_exponential", 0) < 0 and f.get("lr_p", 1) < 0.1 for f in fits)
        own = [fewest_steps_within(x["ns_errors"]["errors"]) for x in recs if x.get("ns_errors")]
        print(f"| {label} | {len(recs)} | {statistics.median(alphas):.2f} | "
              f"{statistics.median(f['ks_distance'] for f in fits):.3f} | {pl}/{len(recs)} | "
              f"{ex}/{len(recs)} | {statistics.fmean(own) if own else float('nan'):.2f} |")
    print()
    for threshold in (float(t) for t in args.thresholds.split(",")):
        print(f"### Convergent Newton–Schulz steps to error ≤ {threshold:g}, and what predicts "
              "them\n")
        print("Spearman correlation with the steps, per seed over every (layer, recorded step), "
              "then mean ± 95% CI over seeds.\n")
        print("| optimizer | steps (mean) | not reached in 16 | by type | ρ(momentum α) | "
              "ρ(momentum stable rank) | ρ(−log median σ/‖X‖_F) |")
        print("|---|---|---|---|---|---|---|")
        for label in labels:
            steps_all, miss, by_type = [], 0, {}
            rho_a, rho_sr, rho_med = [], [], []
            for r in (r for r in runs if r["label"] == label):
                a_x, sr_x, med_x, ys = [], [], [], []
                for x in r["records"]:
                    if not x.get("ns_errors_convergent") or not x.get("momentum"):
                        continue
                    errs = x["ns_errors_convergent"]["errors"]
                    s = fewest_steps_below(errs, threshold)
                    if s is None:
                        miss += 1
                        s = len(errs) + 1  # censored: counted as one more than recorded
                    steps_all.append(s)
                    by_type.setdefault(layer_type(x["name"]), []).append(s)
                    a = alpha_of(x["momentum"])
                    if a:
                        a_x.append(a)
                        sr_x.append(x["momentum"]["stable_rank"])
                        med_x.append(median_sigma_proxy(x["momentum"]))
                        ys.append(s)
                if len(ys) >= 3:
                    rho_a.append(spearman(a_x, ys))
                    rho_sr.append(spearman(sr_x, ys))
                    rho_med.append(spearman(med_x, ys))
            if not steps_all:
                continue
            types = ", ".join(f"{t} {statistics.fmean(v):.1f}" for t, v in sorted(by_type.items()))
            print(f"| {label} | {statistics.fmean(steps_all):.2f} | {miss}/{len(steps_all)} | "
                  f"{types} | {fmt(*mean_ci(rho_a)[:2], 2)} | {fmt(*mean_ci(rho_sr)[:2], 2)} | "
                  f"{fmt(*mean_ci(rho_med)[:2], 2)} |")
        print()

if __name__ == "__main__":
    main()
