"""``scripts/gpu_check.sh``, the one command for a lent GPU, dry on the CPU: every step of the script at toy
scale, so that a short GPU lease is not lost to a bug in the script itself. Nothing here measures a GPU."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.rehearsal


def test_gpu_check_runs_every_step_dry_on_the_cpu_and_writes_its_results(tmp_path):
    results = tmp_path / "results.md"
    env = dict(os.environ, GPU_CHECK_DRY_RUN="1", STEPS="rehearsal fp16 bench ddp")
    env.pop("RLKIT_HUB_MIRROR", None)
    # the 2-process step builds the smoke SFT model (and the tiny model where the cache has none): the timeout
    # only guards against a hang
    done = subprocess.run(["bash", "scripts/gpu_check.sh", str(results)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=2400, check=False)
    text = results.read_text()
    assert done.returncode == 0, text + done.stderr[-3000:]
    assert "DRY RUN on the CPU" in text and "exit status: 0" in text
    assert "2 passed" in text  # the rehearsal step: the mirror's checks
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert [r.split(" | ")[1] for r in rows if r.startswith("| kit |")] == ["NF4 weights, HF generate, G=2, 8 tokens",
                                                                          "float32 weights, HF generate, G=2, 8 tokens"]
    assert any(r.startswith("| greedy |") for r in rows) and any(r.startswith("| T=1, 4 samples |") for r in rows)
    assert "2 CPU processes (dry run): identical LoRA weights True, changed by training True, different prompts True" \
        in text
    assert (tmp_path / "results.log").stat().st_size > 0
