#!/usr/bin/env bash
# Configures BUILD against the libtorch inside VENV's PyTorch from PyPI (issue
# #26), next to the default build on Debian's libtorch 1.13.
#
# usage: cmake/configure_torch2.sh VENV BUILD [extra cmake arguments]
#
# What plain -DCMAKE_PREFIX_PATH=<torch.utils.cmake_prefix_path> gets wrong
# here (PyTorch 2.15.0 on Debian 12 with libtorch-dev, pybind11-dev and the
# CUDA 13.0 toolkit installed):
# - TorchConfig's find_library searches the system directories first and
#   silently picks Debian's libtorch.so/libc10.so 1.13: both are named.
# - find_package(pybind11) finds Debian's 2.10, not the venv's (the version
#   torch bundles): pybind11_DIR is the venv's.
# - The wheel is a CUDA build: libtorch_cuda.so needs the NCCL, cuDNN, ...
#   of the venv's nvidia-* packages, but the linker meets /usr/local/cuda's
#   older NCCL first (undefined ncclCommGrow): -rpath-link names the venv's.
set -euo pipefail
venv=$(cd "$1" && pwd) build=$2
shift 2
py=$venv/bin/python
torch_dir=$("$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))')
prefix=$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)')
link_dirs=$(find "$torch_dir/../nvidia" -mindepth 2 -maxdepth 2 -type d -name lib 2>/dev/null |
  sort | paste -sd: -)
link_flags=${link_dirs:+-Wl,-rpath-link,$link_dirs}
exec cmake -S "$(dirname "$0")/.." -B "$build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" \
  -DTORCH_LIBRARY="$torch_dir/lib/libtorch.so" -Dc10_LIBRARY="$torch_dir/lib/libc10.so" \
  -DPython3_EXECUTABLE="$py" -Dpybind11_DIR="$("$py" -m pybind11 --cmakedir)" \
  -DCMAKE_EXE_LINKER_FLAGS="$link_flags" -DCMAKE_SHARED_LINKER_FLAGS="$link_flags" \
  -DCMAKE_MODULE_LINKER_FLAGS="$link_flags" "$@"
