#!/usr/bin/env bash
# Create ./.venv if needed and install what is missing. Safe to run again (pip skips what is there).
# CPU machines get the CPU build of torch (no CUDA wheels); with an NVIDIA driver, pip's default CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
if command -v nvidia-smi >/dev/null 2>&1; then
  python -m pip install -q "torch>=2.6,<2.14"
else
  python -m pip install -q "torch==2.13.0"
fi
python -m pip install -q -e ".[dev]"
python -m ipykernel install --sys-prefix --name python3 >/dev/null
echo "rlkit environment ready: $(python -c 'import torch, trl; print("torch", torch.__version__, "| trl", trl.__version__)')"
