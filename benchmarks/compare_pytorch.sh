#!/usr/bin/env bash
# ms per training step of steepest (bench_gpt) and of its PyTorch twin
# (tests/twin/twin_gpt.py, Debian's python3-torch: the same libtorch 1.13.1
# and OpenBLAS) on the default GPT (4 layers, 4 heads, 128 wide, vocab 256) at
# B×T = 8×64, 8×128 and 16×128, measured side by side in one run.
#
#   benchmarks/compare_pytorch.sh [BUILD_DIR] [REPS] [OUT.jsonl]
#
# Each repetition runs, per shape, steepest's three steps (fwd+bwd, + AdamW,
# + Muon/AdamW hybrid) and the twin's three (fwd+bwd, + torch.optim.AdamW,
# + the twin's Muon/AdamW), alternating which goes first; the table gives
# medians over repetitions. Both get THREADS OpenBLAS threads (default: the
# core count); steepest its own intra-op default (steepest/util/threads.h),
# the twin both 1 and THREADS intra-op threads, and the table takes the
# twin's faster setting. Both keep freed memory (glibc mallopt), as
# steepest's trainer does. The environment (OPENBLAS_CORETYPE included) is
# used as it is, and recorded. Raw records go to OUT.jsonl.
set -euo pipefail
build=${1:-build}
reps=${2:-5}
out=${3:-$build/compare_pytorch.jsonl}
threads=${THREADS:-$(nproc)}
here=$(cd "$(dirname "$0")" && pwd)
twin=$here/../tests/twin/twin_gpt.py
. "$here/../tests/twin/find_python.sh"
python=$TWIN_PYTHON
[ -n "$python" ] || { echo "compare_pytorch: needs python3-torch (make deps)" >&2; exit 1; }
[ -x "$build/bench_gpt" ] || { echo "compare_pytorch: no $build/bench_gpt (make build)" >&2; exit 1; }

: >"$out"
ours() {  # B T rep
  local json=$out.bench_gpt.json
  "$build/bench_gpt" --threads "$threads" --benchmark_filter="^(fwd_bwd|step_adamw|step_hybrid)/B:$1/T:$2/" \
    --benchmark_out="$json" --benchmark_out_format=json >/dev/null
  "$python" -c '
import json, sys
for b in json.load(sys.stdin)["benchmarks"]:
    step = {"fwd_bwd": "none", "step_adamw": "adamw", "step_hybrid": "muon"}[b["name"].split("/")[0]]
    print(json.dumps(dict(impl="steepest", batch=int(sys.argv[1]), seq=int(sys.argv[2]),
                          optimizer=step, rep=int(sys.argv[3]), ms=b["real_time"],
                          iterations=b["iterations"])))' "$1" "$2" "$3" <"$json" >>"$out"
  rm -f "$json"
}
theirs() {  # B T rep
  for opt in none adamw muon; do
    for intra in 1 "$threads"; do
    "$python" "$twin" bench --batch "$1" --seq "$2" --optimizer "$opt" --threads "$threads" \
      --intra-op "$intra" --steps 15 --warmup 3 |
      "$python" -c '
import json, sys
r = json.loads(sys.stdin.read())
r.update(rep=int(sys.argv[1]), ms=r["ms_median"])
print(json.dumps(r))' "$3" >>"$out"
    done
  done
}

for rep in $(seq 1 "$reps"); do
  for shape in "8 64" "8 128" "16 128"; do
    set -- $shape
    echo "rep $rep/$reps: B=$1 T=$2" >&2
    if [ $((rep % 2)) -eq 1 ]; then ours "$1" "$2" "$rep"; theirs "$1" "$2" "$rep"
    else theirs "$1" "$2" "$rep"; ours "$1" "$2" "$rep"; fi
  done
done

"$build/bench_gpt" --threads "$threads" --benchmark_filter=NONE 2>/dev/null | head -1
"$python" - "$out" "$threads" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(impl, b, t, opt):
    # The twin: its faster intra-op setting (each setting's median first).
    settings = {r.get("intra_op") for r in rows if r["impl"] == impl}
    return min(statistics.median(r["ms"] for r in rows
                                 if (r["impl"], r["batch"], r["seq"], r["optimizer"],
                                     r.get("intra_op")) == (impl, b, t, opt, s))
               for s in settings)
reps = max(r["rep"] for r in rows)
import os
print(f"medians of {reps} interleaved repetitions, ms per step; OpenBLAS threads {sys.argv[2]}; "
      f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}; "
      "the twin's faster intra-op setting; speedup = twin / steepest")
print("| B×T | step | steepest ms | PyTorch twin ms | speedup |")
print("|---|---|---|---|---|")
for b, t in [(8, 64), (8, 128), (16, 128)]:
    for opt, label in [("none", "fwd+bwd"), ("adamw", "+ AdamW"), ("muon", "+ Muon (hidden) / AdamW")]:
        s, p = med("steepest", b, t, opt), med("pytorch-twin", b, t, opt)
        print(f"| {b}×{t} | {label} | {s:.1f} | {p:.1f} | {p / s:.2f}× |")
print()
print("| B×T | steepest Muon optimizer ms (hybrid − fwd+bwd) | share of the step |")
print("|---|---|---|")
for b, t in [(8, 64), (8, 128), (16, 128)]:
    s, f = med("steepest", b, t, "muon"), med("steepest", b, t, "none")
    print(f"| {b}×{t} | {s - f:.1f} | {100 * (s - f) / s:.0f}% |")
EOF
