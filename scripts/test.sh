#!/usr/bin/env bash
# Every test tier: unit tests, every notebook headless in the smoke profile (nbval checks the stored
# teaching outputs), the gpu rehearsal (every notebook in the gpu profile on random-weight models of the
# real shapes), the 2-process accelerate test, and the cpu-profile learning checks. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export RLKIT_CACHE="${RLKIT_CACHE:-$HOME/.cache/rlkit}"
python scripts/nbtool.py check notebooks/*.ipynb
python -m pytest --nbval tests notebooks "$@"
