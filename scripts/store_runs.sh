#!/usr/bin/env bash
# Store one cpu-profile run's results in the lessons (scripts/nbtool.py store): run each notebook in order with
# its default parameters, from the notebooks folder, so that each finds the earlier lessons' runs in
# notebooks/outputs/cpu/ as a learner's would; then copy the outputs of its run-dependent cells into the lesson.
# Arguments: the lessons to store, in order (default: all). A lesson's own folder in notebooks/outputs/cpu must not
# exist (runs resume from what they find there, and a stored run must be one run of this commit); the folders of
# earlier lessons are what it builds on. A lesson whose outputs cannot be stored (nbtool store says why) is
# reported at the end and the later lessons still run, so that it alone can be fixed and run again.
set -euo pipefail
cd "$(dirname "$0")/.."
lessons=("$@")
[ ${#lessons[@]} -gt 0 ] || lessons=(00_setup 01_sft 02_dpo 03_grpo 04_rloo 05_online_dpo 06_best_of_n)
for name in "${lessons[@]}"; do
  if [ -e "notebooks/outputs/cpu/$name" ]; then
    echo "notebooks/outputs/cpu/$name holds an earlier run: move it away first (the stored run must start from nothing)" >&2
    exit 2
  fi
done
[ -f .venv/bin/activate ] && . .venv/bin/activate
runs=$(mktemp -d)
commit=$(git rev-parse --short HEAD)
failed=()
for name in "${lessons[@]}"; do
  start=$(date +%s)
  papermill "notebooks/$name.ipynb" "$runs/$name.ipynb" --cwd notebooks -p PROFILE cpu
  python scripts/nbtool.py store "$runs/$name.ipynb" "notebooks/$name.ipynb" \
    "commit $commit, $(nproc) cores, $(( $(date +%s) - start )) s" || failed+=("$name")
done
echo "the executed runs are in $runs"
if [ ${#failed[@]} -gt 0 ]; then
  echo "not stored: ${failed[*]}" >&2
  exit 1
fi
python scripts/nbtool.py check notebooks/*.ipynb
echo "stored"
