#!/usr/bin/env bash
# One command on a machine with an NVIDIA GPU, no network needed: the gpu rehearsal of every notebook on
# CUDA, the GPU benchmarks, and the 2-process test when 2 GPUs exist. Models are random weights with the
# real shapes (Qwen2.5-0.5B, 2 of its layers in the rehearsal, all 24 in the benchmarks; DeBERTa-v3-base),
# datasets the mirror's fixtures (rlkit/rehearsal.py). Everything it prints goes to one results file.
#
#   bash scripts/gpu_check.sh [results-file]     # default: gpu_check_results.md; about 6-8 minutes
#
# Python: ./.venv when it exists, else the current python3 when it has the kit's dependencies, else
# scripts/setup.sh (which needs the package index). vLLM rows run only when vllm is importable.
set -uo pipefail
cd "$(dirname "$0")/.."
results="$(realpath -m "${1:-gpu_check_results.md}")"
if [ -x .venv/bin/python ]; then . .venv/bin/activate
elif ! python3 -c "import torch, transformers, trl, peft, bitsandbytes, accelerate, datasets, papermill, math_verify, reasoning_gym" 2>/dev/null; then
  bash scripts/setup.sh && . .venv/bin/activate
fi
PY="$(command -v python3)"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
work="$(mktemp -d)"
status=0
step() { echo; echo "## $1"; echo; }
{
  echo "# rlkit gpu_check, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader || { echo "no NVIDIA GPU"; exit 1; }
  "$PY" -c "import torch, trl; print('torch', torch.__version__, 'CUDA', torch.version.cuda, '| trl', trl.__version__)"

  step "gpu rehearsal: every notebook, gpu profile, on CUDA"
  t0=$SECONDS
  "$PY" -m pytest tests/test_gpu_rehearsal.py -s -q -p no:cacheprovider 2>&1 | grep -E "rehearsed|passed|failed|Error|assert" || status=1
  echo "(${SECONDS}s since the start of the rehearsal: $((SECONDS - t0))s)"

  step "benchmarks: Qwen2.5-0.5B shapes (24 layers, random weights), GRPO group 8 x 512 completion tokens"
  "$PY" -c "from rlkit.rehearsal import build_mirror; build_mirror('$work/mirror', layers=24, verbose=False)" || status=1
  export RLKIT_HUB_MIRROR="$work/mirror"
  (cd benchmarks && "$PY" grpo_throughput.py --profile gpu --weights nf4 --steps 2 --batch-size 8 --generations 8 \
      --tokens 512 --repeats 1 2>/dev/null | grep -E "^\|") || status=1
  (cd benchmarks && "$PY" grpo_throughput.py --profile gpu --weights 16bit --steps 2 --batch-size 8 --generations 8 \
      --tokens 512 --repeats 1 2>/dev/null | grep -E "^\|" | tail -n 2) || status=1
  if "$PY" -c "import vllm" 2>/dev/null; then
    (cd benchmarks && "$PY" grpo_throughput.py --profile gpu --weights 16bit --vllm --steps 2 --batch-size 8 \
        --generations 8 --tokens 512 --repeats 1 2>/dev/null | grep -E "^\|" | tail -n 2) || status=1
  else
    echo "vLLM: not installed here, its rows not measured"
  fi
  (cd benchmarks && "$PY" generation_throughput.py --model Qwen/Qwen2.5-0.5B-Instruct --task gsm8k --n 32 --tokens 256 \
      --repeats 1 2>/dev/null | grep -E "^\|") || status=1
  unset RLKIT_HUB_MIRROR

  step "2 processes (accelerate launch, DDP)"
  if [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then
    "$PY" -m accelerate.commands.launch --config_file configs/accelerate/ddp.yaml -m rlkit.train grpo --profile smoke \
      --output-dir "$work/ddp" max_steps=2 learning_rate=0.01 n_train=64 2>&1 | tail -n 3 || status=1
    "$PY" - "$work/ddp" <<'PYEOF' || status=1
import json, sys
ranks = [json.load(open(f"{sys.argv[1]}/ranks/rank{r}.json")) for r in (0, 1)]
same = ranks[0]["weights"] == ranks[1]["weights"]
disjoint = not set(ranks[0]["prompts"]) & set(ranks[1]["prompts"])
print(f"2 GPUs: identical LoRA weights {same}, different prompts {disjoint}")
sys.exit(0 if same and disjoint else 1)
PYEOF
  else
    echo "one GPU: the 2-process test ran on CPU only (tests/test_train_script.py)"
  fi
  echo; echo "exit status: $status"
  exit "$status"
} 2>&1 | tee "$results"
code="${PIPESTATUS[0]}"
rm -rf "$work"
echo "results: $results"
exit "$code"
