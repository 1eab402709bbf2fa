"""The benchmarks run and print their table (their numbers are read by people, never asserted here)."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.mark.parametrize("script, args, first_cell", [
    ("generation_throughput.py", ["--n", "4", "--tokens", "8", "--repeats", "1"], "| greedy |"),
    ("grpo_throughput.py", ["--steps", "1", "--batch-size", "4", "--generations", "2", "--tokens", "8",
                            "--repeats", "1"], "| kit |"),
    ("sandbox_throughput.py", ["--n", "2", "--repeats", "1"], "| correct |"),
])
def test_benchmark_prints_its_rows(script, args, first_cell):
    # the first one builds the tiny model (about 3.5 minutes natively, several times that on a slow or busy CPU):
    # the timeout only guards against a hang
    done = subprocess.run([sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True,
                          timeout=2400, cwd=BENCHMARKS, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")]
    assert any(line.startswith(first_cell) for line in rows), done.stdout
    assert all(line.count("|") == rows[0].count("|") for line in rows)


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_both_sides_of_the_grpo_benchmark_train_with_the_same_settings(profile, tmp_path, monkeypatch):
    """Its ratio means something only if the two trainers differ in who built them and nothing else (the gpu
    profile's from a mirror of random weights with the real shapes: no network here)."""
    from rlkit import config, rewards
    from rlkit.data import get_task
    from rlkit.hub import load_splits

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import grpo_throughput

    if profile == "gpu":
        from rlkit.rehearsal import build_mirror

        monkeypatch.setenv("RLKIT_HUB_MIRROR", str(build_mirror(tmp_path / "mirror", verbose=False)))
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
        monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    cfg = config.make_config("grpo", profile, output_dir=str(tmp_path / "run"), max_steps=2, batch_size=4,
                             num_generations=2, max_completion_length=8, save_steps=10**6)
    prompts = load_splits(cfg.task, 16, 0, seed=0)[0]
    funcs, weights = [rewards.get_reward(get_task(cfg.task).reward), rewards.format_reward], [1.0, 0.1]
    kit, plain = (grpo_throughput.make_trainer(side, cfg, prompts, funcs, weights, str(tmp_path / side)).args.to_dict()
                  for side in ("kit", "plain TRL"))
    where = {"output_dir", "logging_dir", "run_name", "save_steps", "save_total_limit"}  # where and what it writes
    differ = {k: (kit.get(k), plain.get(k)) for k in (kit.keys() | plain.keys()) - where if kit.get(k) != plain.get(k)}
    assert differ == {}, f"kit vs plain TRL: {differ}"
    assert kit["activation_checkpointing"] is (profile == "gpu")  # the profile's choice, on both sides
