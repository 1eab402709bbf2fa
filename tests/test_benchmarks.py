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
