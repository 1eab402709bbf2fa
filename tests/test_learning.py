"""Learning checks: the lessons run headless in the cpu profile and their held-out metrics improve.

Each notebook asserts its own gains (the 95% interval's lower bound above 0, plus a minimum gain);
these tests run them with papermill exactly as a user would (``papermill notebooks/X.ipynb out.ipynb
-p PROFILE cpu``) and re-check the written metrics. They take minutes, so they are marked ``slow``;
CI runs them. 01 runs first: the others start from its model (or build the same one in place).
"""

import json
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# The families whose headroom 01 measures here: the two where the tiny model has it. Countdown, knights and knaves
# and zebra have none yet (issue 11 is open for them: pass@8 at most 0.004 on 500 prompts each, docs/testbed.md);
# 01's default run still measures all five and its stored run shows them. Leaving them out of CI saves about 3
# of 01's 8 minutes here (zebra alone took 106 s, knights and knaves 50, Countdown 32).
HEADROOM_TASKS = ["arithmetic", "code"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return tmp_path_factory.mktemp("learning")


def _run(name: str, out: Path, tag: str = "", **parameters) -> dict:
    import papermill

    folder = out / f"{name}{tag}"
    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(out / f"{name}{tag}.out.ipynb"),
                               parameters={"PROFILE": "cpu", "OUTPUT_DIR": str(folder), **parameters},
                               cwd=str(NOTEBOOKS), progress_bar=False, kernel_name="python3")
    return json.loads((folder / "metrics.json").read_text())


def _positive(metrics: dict, key: str = "", min_gain: float = 0.0) -> None:
    before, after = metrics[f"{key}before"], metrics[f"{key}after"]
    ci = metrics[f"{key}ci95"] if key else metrics["ci95"]
    assert ci[0] > 0, f"{key or 'headline'} {before:.3f} -> {after:.3f}: interval {ci} includes 0"
    assert after - before >= min_gain, f"{key or 'headline'} gain {after - before:.3f} < {min_gain}"


@pytest.fixture(scope="module")
def sft_metrics(outputs):
    return _run("01_sft", outputs, HEADROOM_TASKS=HEADROOM_TASKS)


@pytest.mark.slow
def test_01_sft_gain(sft_metrics):
    assert sft_metrics["profile"] == "cpu" and sft_metrics["n_eval"] >= 500
    _positive(sft_metrics, min_gain=0.20)


@pytest.mark.slow
@pytest.mark.parametrize("task", HEADROOM_TASKS)
def test_01_headroom(sft_metrics, task):
    assert sorted(sft_metrics["headroom"]) == sorted(HEADROOM_TASKS)
    h = sft_metrics["headroom"][task]
    assert h["n"] >= 500
    assert h["pass@8"] - h["pass@1"] >= 0.25 and 0.10 <= h["greedy"] <= 0.70, h


@pytest.mark.slow
def test_03_grpo_main_job(outputs, sft_metrics):
    metrics = _run("03_grpo", outputs, SFT_DIR=str(outputs / "01_sft"))
    assert metrics["n_eval"] >= 500 and metrics["task"] == "arithmetic"
    _positive(metrics, min_gain=0.10)
    _positive(metrics, "pass@1_")


# Issue 11 asks for a sampled pass@1 gain of at least 0.15. On the tiny model of recipe 6 it was missed on CPUs
# without AVX-512 (+0.126 [0.103, 0.149]); on recipe 7 (code in the corpus, 800 steps) seed 0 there gives
# 0.337 -> 0.836, +0.500 [0.470, 0.529].
@pytest.mark.slow
def test_03_grpo_main_job_pass1_target(outputs):
    metrics = json.loads((outputs / "03_grpo" / "metrics.json").read_text())
    assert metrics["pass@1_after"] - metrics["pass@1_before"] >= 0.15, metrics


# The other family with headroom is code (issue 14): 03 with TASK="code", every program judged in the sandbox.
# At 200 steps the greedy gain stayed inside the noise in six of seven recipe-7 runs (without AVX-512: 0.460 ->
# 0.452, -0.008 [-0.050, 0.034]; sampled pass@1 +0.051 [0.029, 0.075]): the tiny model does not tell `min` from
# `max`, and GRPO traded one for the other (README, the testbed). The lesson's default for code is 400 steps
# (config.TASK_DEFAULTS): three of six runs then learned both (without AVX-512, seed 0: +0.064 [0.026, 0.102] in
# 13.0 min on one 01 model, -0.014 [-0.040, 0.012] on the stored run's). CI has no room for 400 steps, so it runs
# 100: the notebook asserts the greedy gain, so its run may stop there; the sampled pass rate must still have risen
# (natively, 100 steps: +0.050 [0.028, 0.075] in 4.5 min), and the greedy shortfall at 100 steps is reported as an
# expected failure. (Countdown has no headroom: see HEADROOM_TASKS above.)
CODE_STEPS = 100


@pytest.mark.slow
def test_03_grpo_other_family(outputs, sft_metrics):
    import papermill

    greedy_rose = True
    try:
        metrics = _run("03_grpo", outputs, tag="_code", SFT_DIR=str(outputs / "01_sft"), TASK="code",
                       MAX_STEPS=CODE_STEPS)
    except papermill.PapermillExecutionError as exc:
        assert "interval of the greedy gain includes 0" in str(exc), exc  # any other failure is a failure
        greedy_rose = False
        metrics = json.loads((outputs / "03_grpo_code" / "metrics.json").read_text())
    assert metrics["n_eval"] >= 500 and metrics["task"] == "code" and metrics["steps"] == CODE_STEPS
    _positive(metrics, "pass@1_")
    if not greedy_rose:
        pytest.xfail(f"03 on code: greedy {metrics['before']:.3f} -> {metrics['after']:.3f}, interval {metrics['ci95']} "
                     "includes 0 on this build (sampled pass@1 rose)")


@pytest.mark.slow
def test_02_dpo(outputs, sft_metrics):
    metrics = _run("02_dpo", outputs, SFT_DIR=str(outputs / "01_sft"))
    _positive(metrics, "preference_accuracy_", min_gain=0.10)
    _positive(metrics, "task_accuracy_")


@pytest.mark.slow
def test_04_rloo(outputs, sft_metrics):
    # section 10 (three reward-model designs, each with its own RLOO run: 11 min without AVX-512) asserts nothing
    # about learning, and its code runs in the smoke and gpu-rehearsal tiers; CI's time goes to the main run here
    metrics = _run("04_rloo", outputs, SFT_DIR=str(outputs / "01_sft"), RM_DESIGNS="")
    _positive(metrics, min_gain=0.10)  # sampled win rate against the starting policy, judged by the reward model
    assert metrics["reward_model_accuracy"] >= 0.70  # the judge must be good before its verdicts mean anything


# Issue 11 asks 04's verifier accuracy to rise with its interval above 0. On recipe 6 it did not without AVX-512
# (-0.018 [-0.070, 0.034]); on recipe 7, seed 0 there: 0.538 -> 0.934, +0.396 [0.350, 0.442].
@pytest.mark.slow
def test_04_rloo_task_accuracy(outputs):
    metrics = json.loads((outputs / "04_rloo" / "metrics.json").read_text())
    _positive(metrics, "task_accuracy_")
