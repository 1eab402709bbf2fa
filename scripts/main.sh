#!/usr/bin/env bash
# The main job: set up, then run the headline lesson (03_grpo) headless on its default profile.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
mkdir -p outputs
papermill notebooks/03_grpo.ipynb outputs/03_grpo.out.ipynb --cwd notebooks "$@"
