"""``python -m rlkit.train``: the notebooks' runs as a script, alone and under ``accelerate launch``."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlkit.errors import RlkitError
from rlkit.train import parse_settings

ROOT = Path(__file__).resolve().parents[1]


def test_settings_are_literals_or_strings_and_a_bad_one_says_the_form():
    assert parse_settings(["levels=(2, 3)", "model=Qwen/Qwen2.5-0.5B", "beta=0.04"]) == {
        "levels": (2, 3), "model": "Qwen/Qwen2.5-0.5B", "beta": 0.04}
    with pytest.raises(RlkitError, match="key=value"):
        parse_settings(["max_steps"])


def _env(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", OMP_NUM_THREADS="1")
    env.pop("RLKIT_HUB_MIRROR", None)
    return env


def test_two_cpu_processes_draw_different_prompts_and_end_with_the_same_lora_weights(tmp_path):
    """accelerate launch --cpu --num_processes 2 (gloo): 2 GRPO steps on the smoke profile's SFT warm start,
    which the launch builds first (in one child process: built inside the ranks, it hung them).

    Not on the bare tiny model: it never writes the answer format, so on some builds every reward of both steps
    was 0, no gradient flowed and the weights could not change (a fresh build with AVX-512 did that)."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(ROOT / "configs" / "accelerate" / "cpu2.yaml"), "-m", "rlkit.train", "grpo", "--profile", "smoke",
           "--output-dir", str(out), "--sft-dir", str(tmp_path / "sft"), "max_steps=2", "learning_rate=0.01",
           "n_train=64"]
    run = subprocess.run(cmd, cwd=tmp_path, env=_env(tmp_path), check=False, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    ranks = [json.loads((out / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world_size"] for r in ranks] == [2, 2] and [r["steps"] for r in ranks] == [2, 2]
    assert ranks[0]["weights"] == ranks[1]["weights"], "the ranks' LoRA weights diverged: gradients not averaged"
    assert ranks[0]["weights"] != ranks[0]["initial_weights"], (
        "training did not change the LoRA weights: " + run.stdout[-3000:])
    assert ranks[0]["initial_weights"] == ranks[1]["initial_weights"]
    drawn = [set(r["prompts"]) for r in ranks]
    assert drawn[0] and drawn[1] and not drawn[0] & drawn[1], "both ranks scored the same prompts"
    assert (out / "final" / "adapter_config.json").exists()
    assert run.stdout.count("01_sft's model was not found") == 1, run.stdout[-3000:]  # built once, by one process


def test_every_method_runs_as_a_script_and_rloo_uses_the_reward_model_it_trained(tmp_path):
    """One process, smoke profile: sft saves 01's merged model; dpo samples verifier pairs from it (+ instruction
    pairs); reward trains on the instruction pairs; rloo uses that reward model."""
    runs = [["sft", "--output-dir", "sft"], ["dpo"], ["reward", "task=instruct_pairs"],
            ["rloo", "--reward-model", "outputs/smoke/train_reward/final"]]
    for args in runs:
        cmd = [sys.executable, "-m", "rlkit.train", *args, "--profile", "smoke", "--sft-dir", "sft", "max_steps=2"]
        run = subprocess.run(cmd, cwd=tmp_path, env=_env(tmp_path), check=False, capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, " ".join(args) + "\n" + run.stdout[-2000:] + run.stderr[-4000:]
        out = tmp_path / ("sft" if args[0] == "sft" else f"outputs/smoke/train_{args[0]}")
        assert json.loads((out / "ranks" / "rank0.json").read_text())["steps"] == 2
        assert (out / "final").is_dir()
    assert (tmp_path / "sft" / "model" / "config.json").exists()
    assert "Starting from 01_sft's model" in run.stdout or "sft/model" in run.stdout


def test_rloo_without_a_reward_model_says_how_to_get_one(tmp_path):
    run = subprocess.run([sys.executable, "-m", "rlkit.train", "rloo", "--profile", "smoke"], cwd=tmp_path,
                         env=_env(tmp_path), check=False, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "--reward-model" in run.stderr and "Traceback" not in run.stderr
