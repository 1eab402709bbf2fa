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


# Per notebook, the held-out gains its cpu run must reach: {metrics.json prefix: gain}, where the prefix ""
# means the main metric ("before"/"after") and "preference_accuracy_" its "..._before"/"..._after" pair.
# 01 runs first: the others start from its model.
TARGETS = {
    "01_sft": {"": 0.20},
    "02_dpo": {"preference_accuracy_": 0.10, "": 0.03},  # task accuracy gain is capped by 01's one-line share
    "03_grpo": {"": 0.05},
    "04_rloo": {"": 0.10},  # sampled win rate against the starting policy, judged by the reward model
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TARGETS))
def test_cpu_run_raises_held_out_metric(outputs, name):
    extra = {} if name == "01_sft" else {"SFT_DIR": str(outputs / "01_sft")}  # built in place if 01 failed
    metrics = _run(name, outputs, **extra)
    print(metrics)
    assert metrics["profile"] == "cpu" and metrics["n_eval"] >= 200
    for prefix, min_gain in TARGETS[name].items():
        gain = metrics[f"{prefix}after"] - metrics[f"{prefix}before"]
        assert gain >= min_gain, f"{name}: {prefix or 'main metric '}gain {gain:.3f} < {min_gain}"
    if name == "04_rloo":  # the judge itself must be good before its verdicts mean anything
        assert metrics["reward_model_accuracy"] >= 0.70
