#!/usr/bin/env bash
# Runs every libFuzzer target of `make fuzz` for SECONDS seconds, JOBS at a
# time, each on a scratch copy of its seed corpus (new inputs never land in
# tests/fuzz/corpus/). Prints and writes BUILD/fuzz-summary.txt: target,
# seconds, executions, crashes. Exits 1 if any target found a crash, leak,
# timeout or out-of-memory input (kept under BUILD/fuzz-work/<target>/).
# tests/fuzz/<target>.dict, where present, is the target's libFuzzer dictionary.
# FUZZ_SEED, when set, is libFuzzer's -seed (the same mutations every run).
#
# usage: tests/fuzz/run.sh BUILD SECONDS JOBS target:max_len...
set -u
build=$1 fuzz_seconds=$2 jobs=$3
shift 3
src=$(cd "$(dirname "$0")" && pwd)
work=$build/fuzz-work
summary=$build/fuzz-summary.txt
rm -rf "$work" && mkdir -p "$work"

run_one() {  # target max_len
  local t=$1 len=$2 dir=$work/$1
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp "$src/corpus/$t/"* "$dir/corpus/"
  # -timeout: an input running 25 s is a hang. The malloc limit (= rss limit,
  # 2 GB) turns an allocation sized by the input into a finding.
  local start=$SECONDS extra=()
  [ -f "$src/$t.dict" ] && extra=(-dict="$src/$t.dict")
  [ -n "${FUZZ_SEED:-}" ] && extra+=(-seed="$FUZZ_SEED")
  "$build/$t" "$dir/corpus" ${extra[@]+"${extra[@]}"} -max_total_time="$fuzz_seconds" \
    -max_len="$len" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/" >"$dir/log" 2>&1
  echo $? >"$dir/rc"
  echo $((SECONDS - start)) >"$dir/seconds"
}

for spec in "$@"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  run_one "${spec%%:*}" "${spec##*:}" &
done
wait

printf '%-20s %8s %12s %8s\n' target seconds executions crashes >"$summary"
failed=0
for spec in "$@"; do
  t=${spec%%:*} dir=$work/${spec%%:*}
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
  crashes=$(find "$dir/artifacts" -type f ! -name 'slow-unit-*' | wc -l)
  rc=$(cat "$dir/rc")
  printf '%-20s %8s %12s %8s\n' "$t" "$(cat "$dir/seconds")" "${execs:-?}" "$crashes" >>"$summary"
  if [ "$crashes" -gt 0 ] || [ "$rc" -ne 0 ]; then
    failed=1
    echo "=== $t failed (exit $rc); last lines of $dir/log:"
    tail -n 40 "$dir/log"
    for a in "$dir/artifacts"/*; do
      [ -e "$a" ] && echo "reproduce: $build/$t $a"
    done
  fi
done
cat "$summary"
if [ "$failed" -ne 0 ]; then
  echo "make fuzz: a target found a crash; add the input to tests/fuzz/corpus/<target>/ with the fix"
  exit 1
fi
