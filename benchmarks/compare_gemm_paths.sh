#!/usr/bin/env bash
# bench_gpt's rows with steepest's GEMMs on oneDNN's matmul primitive (the
# default, `--gemm onednn`) and on the path before it (`--gemm onednn-sgemm`:
# dnnl_sgemm for fp32, libtorch's bf16 bmm/baddbmm), measured side by side
# in one run: REPS repetitions, the order alternating each time; the table
# gives medians of the repetitions.
#
#   benchmarks/compare_gemm_paths.sh [BUILD_DIR] [REPS] [bench_gpt flags...]
#   e.g. benchmarks/compare_gemm_paths.sh build 3 --muon-dtype fp32 --benchmark_filter=optimizer
set -euo pipefail
build=${1:-build}
reps=${2:-3}
shift $(($# < 2 ? $# : 2))
threads=${THREADS:-$(nproc)}
[ -x "$build/bench_gpt" ] || { echo "compare_gemm_paths: no $build/bench_gpt (make build)" >&2; exit 1; }
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for rep in $(seq 1 "$reps"); do
  order="onednn onednn-sgemm"
  [ $((rep % 2)) = 0 ] && order="onednn-sgemm onednn"
  for gemm in $order; do
    "$build/bench_gpt" --threads "$threads" --gemm "$gemm" "$@" \
      --benchmark_out="$out/$gemm.$rep.json" --benchmark_out_format=json >"$out/$gemm.$rep.txt" 2>&1 ||
      { cat "$out/$gemm.$rep.txt" >&2; echo "compare_gemm_paths: bench_gpt --gemm $gemm failed" >&2; exit 1; }
  done
done
grep -m1 "^threads:" "$out/onednn.1.txt" || true
python3 - "$out" <<'PY'
import collections, glob, json, os, statistics, sys
times = collections.defaultdict(list)
for f in glob.glob(os.path.join(sys.argv[1], "*.json")):
    gemm = os.path.basename(f).split(".")[0]
    for b in json.load(open(f))["benchmarks"]:
        times[(b["name"].split("/min_time")[0], gemm)].append(b["real_time"])
print("| row | onednn-sgemm ms | onednn (matmul primitive) ms | speed-up | reps |")
print("|---|---|---|---|---|")
for name in sorted({k[0] for k in times}):
    old, new = times.get((name, "onednn-sgemm")), times.get((name, "onednn"))
    if old and new:
        a, b = statistics.median(old), statistics.median(new)
        print(f"| {name} | {a:.2f} | {b:.2f} | {a / b:.2f}× | {len(new)} |")
PY
