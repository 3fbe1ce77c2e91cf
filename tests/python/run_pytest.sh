#!/usr/bin/env bash
# ctest python.pytest: the `steepest` package's tests (tests/python/) on the
# extension in the build tree. Prints SKIPPED: (a skip for ctest) without pytest.
#
# usage: run_pytest.sh PYTHON PACKAGE_DIR TEST_DIR
set -euo pipefail
if ! "$1" -c "import pytest" 2>/dev/null; then
  echo "SKIPPED: $1 has no pytest; install it with 'sudo apt-get install python3-pytest'" \
    "(make deps does)"
  exit 0
fi
# One thread each: ctest runs other tests beside this one.
export PYTHONPATH="$2${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
exec "$1" -m pytest -q -p no:cacheprovider "$3"
