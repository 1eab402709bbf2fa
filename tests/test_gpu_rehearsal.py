"""The gpu rehearsal: every notebook with the ``gpu`` profile's own settings, headless through papermill.

Only these are substituted: the hub ids read from a local mirror (``RLKIT_HUB_MIRROR``) that holds
random-weight models with the real shapes, special tokens and chat templates, and dataset fixtures with
each dataset's real splits, columns and formats (``rlkit.rehearsal``); and the scale (a step or two, a
few held-out rows, shorter completions where the notebook has that setting, so that five notebooks fit
in CI on two CPU cores). Everything else (NF4 weights, LoRA, gradient checkpointing, the trainers, the
evaluation, the plots, metrics.json) is the gpu profile's code. On a machine with CUDA the same test runs
on the GPU (``scripts/gpu_check.sh``); without one it runs on the CPU in float32, and 01-03 and 06 run once
more in bf16.

A random-weight model cannot learn, so nothing here checks a gain: the notebooks' own gain assertions
are off outside the cpu profile. A notebook that raises fails the test with the cell that raised.
"""

import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.name for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# Scale only: steps, rows, and (where a notebook has the setting) batch, group size and completion length.
TOKENS = 32  # new tokens per completion in every notebook that has the setting
SCALE = {
    "00_setup": {},
    "01_sft": dict(MAX_STEPS=1, N_TRAIN=16, N_EVAL=4, HEADROOM_K=2, MAX_COMPLETION_LENGTH=TOKENS),
    "02_dpo": dict(MAX_STEPS=1, N_EVAL=4, BATCH_SIZE=2),
    # groups of 2 (the profile's 8 and 4 cost minutes on a CPU: a policy's 151,936-word head over every sampled token)
    "03_grpo": dict(MAX_STEPS=1, N_EVAL=4, BATCH_SIZE=2, NUM_GENERATIONS=2, MAX_COMPLETION_LENGTH=TOKENS),
    "04_rloo": dict(MAX_STEPS=1, RM_STEPS=2, N_EVAL=4, BATCH_SIZE=2, NUM_GENERATIONS=2, MAX_COMPLETION_LENGTH=TOKENS,
                    # not scale: section 10 with the decoder design, opt-in on gpu, rehearsed here too (the
                    # cross-encoder's path is the main run's)
                    RM_DESIGNS="siamese,decoder"),
    # one arm: DPO rounds with a reference re-synced from 4-bit + LoRA (s = 2 over 3 steps, one probe); P2's GRPO
    # settings are unit-tested and its trainer is 03's. Section 3's two rounds by hand run as written.
    "05_online_dpo": dict(MAX_STEPS=3, N_EVAL=4, PROMPTS_PER_STEP=1, K=2, EVAL_K=2, PROBE_PROMPTS=2, PROBE_EVERY=3,
                          MAX_COMPLETION_LENGTH=TOKENS, SEMI_S="2,3", ABLATE_S=2, ARMS="semi-2-refsync",
                          GOLD_WHEN_ALL_WRONG=True),
    # P1's Countdown with the Instruct model; 03's rehearsal trained on GSM8K, so the RL comparison is skipped
    "06_best_of_n": dict(N_SAMPLES=4, N_EVAL=2, RM_TRAIN_PROMPTS=4, RM_EVAL_PROMPTS=2, RM_STEPS=1, MAX_COMPLETION_LENGTH=TOKENS),
}

pytestmark = pytest.mark.rehearsal


def test_every_notebook_has_a_rehearsal_scale():
    assert sorted(SCALE) == [n.removesuffix(".ipynb") for n in NOTEBOOKS]


@pytest.fixture(scope="module")
def rehearsal_mirror(tmp_path_factory):
    from rlkit.rehearsal import build_mirror

    return build_mirror(tmp_path_factory.mktemp("mirror"), verbose=False)


def test_every_hub_task_loads_from_the_rehearsal_mirror_and_its_reward_scores_it(rehearsal_mirror, monkeypatch):
    """The fixtures go through the real mappers (also the tasks no notebook uses by default)."""
    from rlkit import hub
    from rlkit.data import get_task
    from rlkit.rewards import get_reward

    monkeypatch.setenv("RLKIT_HUB_MIRROR", str(rehearsal_mirror))
    for task in hub.hub_tasks():
        for split in hub.HUB_SOURCES[task].splits:
            rows = hub.load_hub_task(task, split, n=4, seed=0)
            assert len(rows) == 4, (task, split)
            reward = get_task(task).reward
            if reward != "none" and task != "countdown_hub":  # hub countdown has no gold solution to score
                gold = get_reward(reward)(completions=rows["completion"], **{
                    k: rows[k] for k in rows.column_names if k not in ("prompt", "completion")})
                assert gold == [1.0] * 4, (task, split, gold)


def test_the_mirror_has_the_real_special_ids_and_shapes(rehearsal_mirror):
    from transformers import AutoConfig, AutoTokenizer

    from rlkit import rehearsal

    for hub_id, eos in ((rehearsal.QWEN_BASE, "<|endoftext|>"), (rehearsal.QWEN_INSTRUCT, "<|im_end|>")):
        tok = AutoTokenizer.from_pretrained(rehearsal_mirror / hub_id)
        config = AutoConfig.from_pretrained(rehearsal_mirror / hub_id)
        assert [tok.convert_tokens_to_ids(t) for t in ("<|endoftext|>", "<|im_start|>", "<|im_end|>")] == \
            [151643, 151644, 151645]
        assert tok.eos_token == eos and tok.pad_token_id == 151643 and len(tok) == 151665
        assert (config.vocab_size, config.hidden_size, config.num_key_value_heads) == (151936, 896, 2)
        text = tok.apply_chat_template([{"role": "user", "content": "2+2?"}], tokenize=False, add_generation_prompt=True)
        assert text.startswith("<|im_start|>system\nYou are Qwen") and text.endswith("<|im_start|>assistant\n")
    rm_tok = AutoTokenizer.from_pretrained(rehearsal_mirror / rehearsal.DEBERTA)
    assert (rm_tok.cls_token_id, rm_tok.sep_token_id, rm_tok.mask_token_id) == (1, 2, 128000)


# Read by the notebook's kernel at start (IPython runs the files in $IPYTHONDIR/profile_default/startup). On CUDA
# (scripts/gpu_check.sh): after every cell it writes the process's CUDA peak memory, and with RLKIT_REHEARSE_FP16=1
# it makes PyTorch report no native bf16, so that the kit's precision rule takes a T4's path (fp16 weights, fp16
# autocast and loss scaling) on any GPU. On a CPU with RLKIT_REHEARSE_BF16=1 it makes the rule answer bf16, as on a
# GPU with native bf16 (bf16 weights, 4-bit compute and autocast, the trainers' bf16 flag). The fp32 CPU rehearsal
# runs without it.
KERNEL_STARTUP = """
import json, os
import torch
if os.environ.get("RLKIT_REHEARSE_FP16") == "1":
    torch.cuda.is_bf16_supported = lambda including_emulation=True: False
if os.environ.get("RLKIT_REHEARSE_BF16") == "1" and not torch.cuda.is_available():
    import rlkit.modeling
    rlkit.modeling.precision = lambda: rlkit.modeling.Precision(
        "cpu", torch.bfloat16, "rehearsal: bf16 on the CPU, as on a GPU with native bf16")
def _rehearsal_peak(result, _path=os.environ["RLKIT_REHEARSAL_PEAK"]):
    if torch.cuda.is_initialized():
        with open(_path, "w") as f:
            json.dump({"allocated_GB": torch.cuda.max_memory_allocated() / 2**30,
                       "reserved_GB": torch.cuda.max_memory_reserved() / 2**30}, f)
get_ipython().events.register("post_run_cell", _rehearsal_peak)
"""


def _kernel_startup(tmp_path, monkeypatch) -> Path | None:
    """The kernel startup file above in a fresh IPYTHONDIR, where it is needed; returns the file the CUDA peak is
    written to (None without CUDA)."""
    import torch

    if not torch.cuda.is_available() and os.environ.get("RLKIT_REHEARSE_BF16") != "1":
        return None
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-rehearsal.py").write_text(KERNEL_STARTUP)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("RLKIT_REHEARSAL_PEAK", str(tmp_path / "peak.json"))
    return tmp_path / "peak.json" if torch.cuda.is_available() else None


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_notebook_runs_with_the_gpu_profile(notebook, rehearsal_mirror, tmp_path, monkeypatch):
    _rehearse(notebook, rehearsal_mirror, tmp_path, monkeypatch)


# bf16 on the CPU, in the CPU rehearsal: the arithmetic of a GPU with native bf16 (A100, L4, H100), for the lessons
# the first GPU run did not get through in bf16 (README: 01-03 stopped at a device bug fixed since, 06 ran out of
# time). It cannot rehearse what only a GPU has: device placement, CUDA kernels, memory. It runs where the CPU
# computes bf16 itself (AVX512-BF16 or AMX); elsewhere PyTorch emulates bf16 and the four notebooks take about 4x as
# long (2-core Xeon with AMX, 2026-12-07: 119 s in all natively, 465 s under ../shared/tools/without-avx512), so they
# are skipped there unless RLKIT_REHEARSE_BF16=1 asks for them.
BF16_ON_CPU = ["01_sft", "02_dpo", "03_grpo", "06_best_of_n"]


def cpu_computes_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX) that PyTorch may use (its dispatch at AVX-512)."""
    import torch

    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return torch.backends.cpu.get_cpu_capability() == "AVX512" and bool(re.search(r"\b(avx512_bf16|amx_bf16)\b", flags))


@pytest.mark.parametrize("name", BF16_ON_CPU)
def test_notebook_runs_with_the_gpu_profile_in_bf16_on_the_cpu(name, rehearsal_mirror, tmp_path, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("on CUDA the rehearsal runs in the GPU's own precision (scripts/gpu_check.sh)")
    if os.environ.get("RLKIT_REHEARSE_BF16") != "1" and not cpu_computes_bf16():
        pytest.skip("this CPU has no bf16 instructions PyTorch uses (AVX512-BF16, AMX): emulated bf16 takes about "
                    "4x as long; RLKIT_REHEARSE_BF16=1 runs it anyway")
    monkeypatch.setenv("RLKIT_REHEARSE_BF16", "1")
    dtypes = _rehearse(f"{name}.ipynb", rehearsal_mirror, tmp_path, monkeypatch)
    assert dtypes == ["bfloat16"], f"the banner says {dtypes}, not bfloat16"


def _rehearse(notebook, rehearsal_mirror, tmp_path, monkeypatch) -> list[str]:
    """Run ``notebook`` with the gpu profile from the mirror; returns the dtypes its banner says it ran in."""
    import papermill

    monkeypatch.setenv("RLKIT_HUB_MIRROR", str(rehearsal_mirror))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    peak_file = _kernel_startup(tmp_path, monkeypatch)
    work = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", work, ignore=shutil.ignore_patterns("outputs"))  # the lessons, not past runs
    name = notebook.removesuffix(".ipynb")
    started = time.time()
    out = papermill.execute_notebook(
        str(work / notebook), str(tmp_path / f"{name}.out.ipynb"), cwd=str(work), progress_bar=False,
        parameters={"PROFILE": "gpu", **SCALE[name]}, kernel_name="python3",
    )
    banner = "".join(o.get("text", "") for c in out.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert "PROFILE=gpu" in banner and "RLKIT_HUB_MIRROR" in banner
    metrics = work / "outputs" / "gpu" / name / "metrics.json"
    if name != "00_setup":
        row = json.loads(metrics.read_text())
        assert row["profile"] == "gpu", row
        if name == "06_best_of_n":  # nothing trained: it samples, and here no GRPO run on its task exists
            assert row["n_samples"] == SCALE[name]["N_SAMPLES"] and list(row["curves"]) == ["SFT"], row
        else:
            assert row["steps"] >= 1, row
    dtypes = sorted(set(re.findall(r"device: \w+\S* \((\w+):", banner)))  # what the banner says ran
    for flag, dtype in (("RLKIT_REHEARSE_FP16", "float16"), ("RLKIT_REHEARSE_BF16", "bfloat16")):
        if os.environ.get(flag) == "1":
            assert dtypes in ([], [dtype]), f"the {dtype} rehearsal ran in {dtypes}"
    memory = f" ({'/'.join(dtypes) or 'dtype not printed'})"
    if peak_file is not None:
        peak = json.loads(peak_file.read_text()) if peak_file.exists() else None
        memory += (f", CUDA peak {peak['allocated_GB']:.2f} GB allocated, {peak['reserved_GB']:.2f} GB reserved"
                   if peak else ", CUDA not used by the kernel")
    print(f"{notebook}: gpu profile rehearsed in {time.time() - started:.0f}s{memory}")
    return dtypes
