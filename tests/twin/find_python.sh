# Sourced: sets TWIN_PYTHON to a Python 3 that imports torch and numpy
# (Debian's python3-torch and python3-numpy), or to "" when there is none.
# Debian's interpreter comes first: a python3 earlier in PATH (pyenv, a venv)
# lacks Debian's packages.
TWIN_PYTHON=""
for p in /usr/bin/python3 python3; do
  if command -v "$p" >/dev/null && "$p" -c "import torch, numpy" 2>/dev/null; then
    TWIN_PYTHON=$p
    break
  fi
done
