"""Learning checks: the lessons run headless in the cpu profile and their held-out metric improves.

Each notebook asserts its own gain (MIN_GAIN); these tests run them with papermill exactly as a user
would (``papermill notebooks/X.ipynb out.ipynb -p PROFILE cpu``) and re-check the written metrics.
They take minutes, so they are marked ``slow``; CI runs them (``pytest -m slow`` selects only them).
"""

import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return tmp_path_factory.mktemp("learning")


def _run(name: str, out: Path, **parameters) -> dict:
    import papermill

    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out / f"{name}.out.ipynb"),
                               parameters={"PROFILE": "cpu", "OUTPUT_DIR": str(out / name), **parameters},
                               cwd=str(NOTEBOOKS), progress_bar=False, kernel_name="python3")
    return json.loads((out / name / "metrics.json").read_text())


@pytest.mark.slow
def test_sft_raises_held_out_accuracy_by_020(outputs):
    metrics = _run("01_sft", outputs)
    print(metrics)
    assert metrics["profile"] == "cpu" and metrics["n_eval"] >= 200
    assert metrics["after"] - metrics["before"] >= 0.20


@pytest.mark.slow
def test_grpo_raises_held_out_accuracy_by_005(outputs):
    """The main job's check, starting from the model the SFT check above saved (built in place if missing)."""
    metrics = _run("03_grpo", outputs, SFT_DIR=str(outputs / "01_sft"))
    print(metrics)
    assert metrics["profile"] == "cpu" and metrics["n_eval"] >= 200
    assert metrics["after"] - metrics["before"] >= 0.05
