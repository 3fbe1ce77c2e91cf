#!/usr/bin/env bash
# ctest twin.pytorch: steepest's loss and every gradient against the PyTorch
# twin (tests/twin/twin_gpt.py) on the cases steepest_twin_case writes.
# Prints SKIPPED: (a skip for ctest) when no Python has Debian's python3-torch.
#
# usage: run_twin.sh STEEPEST_TWIN_CASE WORK_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/find_python.sh"
if [ -z "$TWIN_PYTHON" ]; then
  echo "SKIPPED: python3-torch is not installed; install it with" \
    "'sudo apt-get install python3-torch python3-numpy' (make deps does)"
  exit 0
fi
rm -rf "$2" && mkdir -p "$2"
"$1" "$2"
OMP_NUM_THREADS=1 "$TWIN_PYTHON" "$here/twin_gpt.py" check "$2"/*/
