#!/bin/sh
# Data parallelism on one machine, side by side (issue #11): the default GPT
# config with Muon as 1 rank x 2 OpenBLAS threads against 2 ranks x 1 thread
# (`--nproc 2`), with 1 rank x 1 thread for reference, interleaved repetitions, medians of the metrics windows after
# the first (warm-up) one. Usage: benchmarks/compare_data_parallel.sh
#   EXE=build/steepest STEPS=60 REPS=3 OUT=/tmp/steepest-dp-bench OPTIMIZER=muon
set -eu
EXE=${EXE:-build/steepest}
STEPS=${STEPS:-60}
REPS=${REPS:-3}
OUT=${OUT:-/tmp/steepest-dp-bench}
OPTIMIZER=${OPTIMIZER:-muon}
mkdir -p "$OUT"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores;" \
  "avx512_bf16: $(grep -qw avx512_bf16 /proc/cpuinfo && echo yes || echo no);" \
  "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; $(date -u +%F)"
common="--optimizer $OPTIMIZER --steps $STEPS --eval-every $STEPS --eval-batches 1 --log-every 10 --overwrite"
for rep in $(seq "$REPS"); do
  "$EXE" train $common --threads 2 --out "$OUT/one_$rep" > "$OUT/one_$rep.log" 2>&1
  "$EXE" train $common --threads 1 --out "$OUT/single_$rep" > "$OUT/single_$rep.log" 2>&1
  "$EXE" train $common --threads 1 --nproc 2 --out "$OUT/two_$rep" > "$OUT/two_$rep.log" 2>&1
done
python3 - "$OUT" "$REPS" <<'PY'
import json, statistics, sys
out, reps = sys.argv[1], int(sys.argv[2])
def windows(run):
    lines = [json.loads(l) for l in open(f"{out}/{run}/metrics.jsonl")]
    return lines[1:]  # the first window includes warm-up
keys = ["tokens_per_s", "ms_per_step", "optimizer_ms", "optimizer_local_ms",
        "slowest_optimizer_local_ms", "comm_ms", "comm_bytes_per_step"]
print(f"{'setup':<20}" + "".join(f"{k:>28}" for k in keys))
for name, label in [("one", "1 rank x 2 threads"), ("two", "2 ranks x 1 thread"),
                    ("single", "1 rank x 1 thread")]:
    vals = {k: [] for k in keys}
    for rep in range(1, reps + 1):
        for w in windows(f"{name}_{rep}"):
            for k in keys:
                if k in w: vals[k].append(w[k])
    print(f"{label:<20}" + "".join(
        f"{statistics.median(vals[k]):>28.1f}" if vals[k] else f"{'-':>28}" for k in keys))
PY
