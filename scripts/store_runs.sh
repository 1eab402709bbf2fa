#!/usr/bin/env bash
# Store one cpu-profile run's results in the lessons (scripts/nbtool.py store): run each notebook in order with
# its default parameters, from the notebooks folder, so that each finds the earlier lessons' runs in
# notebooks/outputs/cpu/ as a learner's would; then copy the outputs of its run-dependent cells into the lesson.
# Arguments: the lessons to store, in order (default: all). Needs an empty notebooks/outputs/cpu (runs resume
# from what they find there, and a stored run must be one run of this commit).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d notebooks/outputs/cpu ] && [ -n "$(ls -A notebooks/outputs/cpu)" ]; then
  echo "notebooks/outputs/cpu holds earlier runs: move it away first (the stored run must start from nothing)" >&2
  exit 2
fi
[ -f .venv/bin/activate ] && . .venv/bin/activate
lessons=("$@")
[ ${#lessons[@]} -gt 0 ] || lessons=(00_setup 01_sft 02_dpo 03_grpo 04_rloo 05_online_dpo 06_best_of_n)
runs=$(mktemp -d)
commit=$(git rev-parse --short HEAD)
for name in "${lessons[@]}"; do
  start=$(date +%s)
  papermill "notebooks/$name.ipynb" "$runs/$name.ipynb" --cwd notebooks -p PROFILE cpu
  python scripts/nbtool.py store "$runs/$name.ipynb" "notebooks/$name.ipynb" \
    "commit $commit, $(nproc) cores, $(( $(date +%s) - start )) s"
done
python scripts/nbtool.py check notebooks/*.ipynb
echo "stored; the executed runs are in $runs"
