#!/usr/bin/env bash
# Every test tier: unit tests, every notebook headless in the smoke profile (nbval checks the stored
# teaching outputs), the gpu rehearsal (every notebook in the gpu profile on random-weight models of the
# real shapes), the 2-process accelerate test, and the cpu-profile learning checks. Extra arguments go to pytest.
#
# The tests run on two pytest-xdist workers, each with half of the CPU cores (conftest.py groups them: the two
# halves of the learning checks and the gpu rehearsal start first, on different workers). A model this small uses
# a second core poorly while it generates, so two workers finish sooner than one process with both cores.
# RLKIT_TEST_WORKERS=1 runs everything in one process, in file order (for --pdb, or to time one test alone).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export RLKIT_CACHE="${RLKIT_CACHE:-$HOME/.cache/rlkit}"
python scripts/nbtool.py check notebooks/*.ipynb
# the offline tiny model, built once here: two workers that both need it would otherwise both build it
python -c "from rlkit import tiny; tiny.ensure_tiny_model()"
workers="${RLKIT_TEST_WORKERS:-2}"
if [ "$workers" -gt 1 ]; then
  cores=$(python -c "import os; print(len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') \
    else os.cpu_count())")
  threads=$(( cores / workers > 0 ? cores / workers : 1 ))
  export OMP_NUM_THREADS="${OMP_NUM_THREADS:-$threads}" MKL_NUM_THREADS="${MKL_NUM_THREADS:-$threads}"
  echo "tests: $workers workers, $OMP_NUM_THREADS thread(s) each ($cores cores)"
  python -m pytest --nbval -n "$workers" --dist loadgroup --no-loadscope-reorder tests notebooks "$@"
else
  python -m pytest --nbval tests notebooks "$@"
fi
