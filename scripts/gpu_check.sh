#!/usr/bin/env bash
# One command on a machine with an NVIDIA GPU, no network needed: the gpu rehearsal of every notebook on
# CUDA (in the GPU's own precision and, where it has bf16, once more in fp16 as on a T4), the GPU benchmarks,
# and the 2-process test when 2 GPUs exist. Models are random weights with the real shapes (Qwen2.5-0.5B, 2 of
# its layers in the rehearsal, all 24 in the benchmarks; DeBERTa-v3-base), datasets the mirror's fixtures
# (rlkit/rehearsal.py). The summary goes to one results file, everything printed to a log beside it.
#
#   bash scripts/gpu_check.sh [results-file]     # default: gpu_check_results.md (+ gpu_check_results.log)
#
# The two rehearsals run at the same time (they check that every notebook runs, and each notebook's peak
# memory, which is per process; their seconds are not timings); the benchmarks run alone afterwards.
# Each step has a time limit in seconds: REHEARSAL_TIMEOUT (default 900), BENCH_TIMEOUT (default 900, per benchmark).
# STEPS picks the steps (default "rehearsal fp16 bench ddp"), e.g. STEPS=bench for the benchmarks alone.
# Python: ./.venv when it exists, else the current python3 when it has the kit's dependencies, else
# scripts/setup.sh (which needs the package index). vLLM rows run only when vllm is importable.
# GPU_CHECK_DRY_RUN=1 runs this script's own steps on a CPU at toy scale (2 layers, a few tokens; the rehearsal's
# mirror checks only, the notebooks being CI's; the 2-process step on 2 CPU processes), so that a GPU lease is not
# spent on a bug in this script (tests/test_gpu_check.py). It measures nothing about a GPU.
set -uo pipefail
cd "$(dirname "$0")/.."
results="$(realpath -m "${1:-gpu_check_results.md}")"
log="${results%.md}.log"
mkdir -p "$(dirname "$results")"
: > "$log"
if [ -x .venv/bin/python ]; then . .venv/bin/activate
elif ! python3 -c "import torch, transformers, trl, peft, bitsandbytes, accelerate, datasets, papermill, math_verify" 2>/dev/null; then
  bash scripts/setup.sh && . .venv/bin/activate
fi
PY="$(command -v python3)"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 PYTHONUNBUFFERED=1
work="$(mktemp -d)"
status=0
dry="${GPU_CHECK_DRY_RUN:-0}"
step() { echo; echo "## $1"; echo; echo "===== $1" >> "$log"; }
summary() { tee -a "$log" | grep -E "$1"; }  # the whole output to the log, the lines that matter to the results
rehearse() {  # $1: label, then environment assignments for the pytest process and its kernels
  local label="$1"; shift
  local select=(); if [ "$dry" = 1 ]; then select=(-k mirror); fi
  env "$@" timeout "${REHEARSAL_TIMEOUT:-900}" "$PY" -m pytest tests/test_gpu_rehearsal.py -s -q -p no:cacheprovider \
    --basetemp "$work/pytest-$label" "${select[@]}" > "$work/rehearsal-$label.out" 2>&1
}
{
  echo "# rlkit gpu_check, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [ "$dry" = 1 ]; then
    echo "DRY RUN on the CPU (GPU_CHECK_DRY_RUN=1): this script's steps at toy scale; no number below is a GPU's"
    bf16=0; layers=2; size=(--steps 1 --batch-size 2 --generations 2 --tokens 8); gen_size=(--n 2 --tokens 8)
  else
    nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader || { echo "no NVIDIA GPU"; exit 1; }
    bf16="$("$PY" -c "import torch; print(int(torch.cuda.is_bf16_supported(including_emulation=False)))")"
    layers=24; size=(--steps 2 --batch-size 8 --generations 8 --tokens 512); gen_size=(--n 32 --tokens 256)
  fi
  "$PY" -c "import torch, transformers, trl, peft, bitsandbytes as bnb; print('torch', torch.__version__, 'CUDA', torch.version.cuda, '| transformers', transformers.__version__, '| trl', trl.__version__, '| peft', peft.__version__, '| bitsandbytes', bnb.__version__)"

  steps=" ${STEPS:-rehearsal fp16 bench ddp} "
  on() { [[ "$steps" == *" $1 "* ]]; }
  fp16_pass=0  # the second rehearsal in fp16: only where the GPU has bf16 (elsewhere the first one is fp16)
  if on fp16 && [ "$bf16" = 1 ]; then fp16_pass=1; fi

  if on rehearsal || [ "$fp16_pass" = 1 ]; then
    if [ "$dry" = 1 ]; then step "gpu rehearsal, dry run: the mirror's checks only, on the CPU"
    else step "gpu rehearsal: every notebook, gpu profile, on CUDA"; fi
    t0=$SECONDS
    if on rehearsal; then rehearse native & native=$!; fi
    if [ "$fp16_pass" = 1 ]; then rehearse fp16 RLKIT_REHEARSE_FP16=1 & fp16=$!; fi
    if on rehearsal; then
      wait "$native" || status=1
      echo "### in the GPU's own precision" >> "$log"
      summary "rehearsed|passed|failed|Error|assert" < "$work/rehearsal-native.out"
    fi
    if [ "$fp16_pass" = 1 ]; then
      wait "$fp16" || status=1
      echo; echo "### again in fp16, as on a T4 (PyTorch told the GPU has no bf16)"; echo "### fp16" >> "$log"
      summary "rehearsed|passed|failed|Error|assert" < "$work/rehearsal-fp16.out"
    fi
    echo "(the rehearsals, run at the same time: $((SECONDS - t0))s)"
  fi

  if on bench; then
    step "benchmarks: Qwen2.5-0.5B shapes ($layers layers, random weights), GRPO ${size[*]}"
    "$PY" -c "from rlkit.rehearsal import build_mirror; build_mirror('$work/mirror', layers=$layers, verbose=False)" \
      >> "$log" 2>&1 || status=1
    export RLKIT_HUB_MIRROR="$work/mirror"
    bench() { (cd benchmarks && timeout "${BENCH_TIMEOUT:-900}" "$PY" "$@" 2>&1) | summary "^\|"; }
    grpo=(grpo_throughput.py --profile gpu "${size[@]}" --repeats 1)
    bench "${grpo[@]}" --weights nf4 || status=1
    bench "${grpo[@]}" --weights 16bit | tail -n 2 || status=1
    if "$PY" -c "import vllm" 2>/dev/null; then
      bench "${grpo[@]}" --weights 16bit --vllm | tail -n 2 || status=1
    else
      echo "vLLM: not installed here, its rows not measured"
    fi
    bench generation_throughput.py --model Qwen/Qwen2.5-0.5B-Instruct --task gsm8k "${gen_size[@]}" --repeats 1 \
      || status=1
    unset RLKIT_HUB_MIRROR
  fi

  if on ddp; then
    step "2 processes (accelerate launch, DDP)"
    if [ "$dry" = 1 ]; then ddp=(configs/accelerate/cpu2.yaml "2 CPU processes (dry run)")
    elif [ "$(nvidia-smi -L | wc -l)" -ge 2 ]; then ddp=(configs/accelerate/ddp.yaml "2 GPUs")
    else ddp=(); echo "one GPU: the 2-process test ran on CPU only (tests/test_train_script.py)"; fi
    if [ "${#ddp[@]}" -gt 0 ]; then
      "$PY" -m accelerate.commands.launch --config_file "${ddp[0]}" -m rlkit.train grpo --profile smoke \
        --output-dir "$work/ddp" --sft-dir "$work/sft" max_steps=2 learning_rate=0.01 n_train=64 2>&1 \
        | summary "rlkit.train|Error" || status=1
      "$PY" - "$work/ddp" "${ddp[1]}" <<'PYEOF' || status=1
import json, sys
ranks = [json.load(open(f"{sys.argv[1]}/ranks/rank{r}.json")) for r in (0, 1)]
same = ranks[0]["weights"] == ranks[1]["weights"]
moved = ranks[0]["weights"] != ranks[0]["initial_weights"]
disjoint = not set(ranks[0]["prompts"]) & set(ranks[1]["prompts"])
print(f"{sys.argv[2]}: identical LoRA weights {same}, changed by training {moved}, different prompts {disjoint}")
sys.exit(0 if same and moved and disjoint else 1)
PYEOF
    fi
  fi
  echo; echo "exit status: $status ($SECONDS s in all)"
  exit "$status"
} 2>&1 | tee "$results"
code="${PIPESTATUS[0]}"
rm -rf "$work"
echo "results: $results (everything printed: $log)"
exit "$code"
