"""Tests for rlkit.plots (figures from log histories) and rlkit.results (metrics files)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from rlkit.plots import plot_before_after, training_dashboard  # noqa: E402
from rlkit.results import add_to_metrics, read_results, results_path, results_table, write_metrics  # noqa: E402

# ---------------------------------------------------------------------------
# Synthetic log histories, shaped like trainer.state.log_history in TRL 1.16
# ---------------------------------------------------------------------------


def grpo_history(steps: int = 5) -> list[dict]:
    rows = [
        {
            "loss": 0.01 * s, "grad_norm": 0.5, "learning_rate": 1e-6 * (steps - s), "num_tokens": 1000.0 * s,
            "completions/mean_length": 80.0 + s, "completions/min_length": 20.0, "completions/max_length": 128.0,
            "completions/clipped_ratio": 0.1, "completions/mean_terminated_length": 70.0,
            "rewards/accuracy_reward/mean": 0.1 * s, "rewards/accuracy_reward/std": 0.3,
            "rewards/format_reward/mean": 0.5, "rewards/format_reward/std": 0.2,
            "reward": 0.6 + 0.1 * s, "reward_std": 0.4, "frac_reward_zero_std": 0.25,
            "kl": 0.001 * s, "entropy": 1.2, "clip_ratio/low_mean": 0.0, "clip_ratio/high_mean": 0.0,
            "clip_ratio/region_mean": 0.0, "epoch": s / steps, "step": s,
        }
        for s in range(1, steps + 1)
    ]  # fmt: skip
    rows.append({"train_runtime": 12.0, "train_loss": 0.03, "epoch": 1.0, "step": steps, "total_flos": 0.0})
    return rows


def dpo_history() -> list[dict]:
    rows = [
        {
            "loss": 0.69 - 0.05 * s, "grad_norm": 3.0, "learning_rate": 5e-7,
            "rewards/chosen": 0.1 * s, "rewards/rejected": -0.1 * s, "rewards/margins": 0.2 * s,
            "rewards/accuracies": 0.5 + 0.1 * s, "logps/chosen": -50.0, "logps/rejected": -60.0,
            "logits/chosen": -1.0, "logits/rejected": -1.1, "epoch": 0.1 * s, "step": 10 * s,
        }
        for s in range(1, 4)
    ]  # fmt: skip
    rows.append({"eval_loss": 0.6, "eval_rewards/chosen": 0.2, "eval_runtime": 1.0, "epoch": 0.3, "step": 30})
    return rows


def drawn_axes(fig: Figure) -> dict[str, int]:
    """Panel title -> number of lines, for every axes that has something drawn."""
    return {ax.get_title(): len(ax.get_lines()) for ax in fig.axes if ax.has_data()}


# ---------------------------------------------------------------------------
# training_dashboard
# ---------------------------------------------------------------------------


def test_grpo_dashboard_panels():
    fig = training_dashboard(grpo_history(), title="GRPO")
    assert isinstance(fig, Figure)
    panels = drawn_axes(fig)
    assert len(fig.axes) == len(panels) == 10
    assert panels["reward"] == 3  # reward + one line per reward function
    assert panels["reward spread"] == 2
    assert panels["completion length (tokens)"] == 3
    assert panels["loss"] == 1 and panels["KL to reference"] == 1
    assert "DPO implicit rewards" not in panels
    assert fig.get_suptitle() == "GRPO"


def test_dpo_dashboard_panels():
    fig = training_dashboard(dpo_history())
    panels = drawn_axes(fig)
    assert len(fig.axes) == len(panels) == 5
    assert panels == {
        "loss": 2,  # loss + eval_loss
        "learning rate": 1,
        "grad norm": 1,
        "DPO implicit rewards": 3,
        "DPO reward accuracy": 1,
    }


def test_dashboard_series_use_logged_steps():
    fig = training_dashboard(dpo_history())
    loss_axes = next(ax for ax in fig.axes if ax.get_title() == "loss")
    train, evaluation = loss_axes.get_lines()
    assert list(train.get_xdata()) == [10, 20, 30]
    assert list(evaluation.get_xdata()) == [30]


def test_sft_dashboard_single_panel_layout():
    fig = training_dashboard([{"mean_token_accuracy": 0.5, "step": 1}])
    assert [ax.get_title() for ax in fig.axes] == ["token accuracy"]


@pytest.mark.parametrize("history", [[], [{"epoch": 0.0, "step": 0}], [{"train_runtime": 1.0, "step": 3}]])
def test_dashboard_with_nothing_to_plot(history):
    with pytest.raises(ValueError, match="Nothing to plot yet"):
        training_dashboard(history)


def test_figures_are_not_left_open_in_pyplot():
    """Returned figures are detached from pyplot, so a notebook shows them once, not twice."""
    open_before = plt.get_fignums()
    training_dashboard(grpo_history())
    plot_before_after({"accuracy": 0.1}, {"accuracy": 0.3})
    assert plt.get_fignums() == open_before


# ---------------------------------------------------------------------------
# plot_before_after
# ---------------------------------------------------------------------------


def test_plot_before_after_bars():
    before = {"n": 100, "n_samples": 1, "accuracy": 0.2, "pass@1": 0.2, "mean_reward": 0.4}
    after = {"n": 100, "n_samples": 1, "accuracy": 0.5, "pass@1": 0.5, "mean_reward": 0.7}
    fig = plot_before_after(before, after)
    (ax,) = fig.axes
    assert len(ax.containers) == 2  # before and after bar groups
    assert [t.get_text() for t in ax.get_xticklabels()] == ["accuracy", "pass@1", "mean_reward"]
    heights = [bar.get_height() for bar in ax.containers[1]]
    assert heights == [0.5, 0.5, 0.7]
    (ax,) = plot_before_after(before, after, ["accuracy"]).axes
    assert len(ax.containers[0]) == 1


def test_plot_before_after_missing_key():
    with pytest.raises(ValueError, match="missing"):
        plot_before_after({"accuracy": 0.1}, {"accuracy": 0.2}, ["accuracy", "pass@4"])


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------

RUN = dict(notebook="grpo_countdown", profile="tiny", model="tiny-qwen", metric="accuracy", n_eval=50, seconds=12.5)


def test_write_metrics_files(tmp_path):
    out = tmp_path / "outputs" / "grpo_countdown"
    row = write_metrics(out, before=0.1, after=0.3, method="GRPO", steps=20, seed=0, extra={"pass@8": 0.6}, **RUN)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == row
    assert row["delta"] == pytest.approx(0.2) and row["pass@8"] == 0.6
    assert {"notebook", "profile", "model", "metric", "before", "after", "n_eval", "seconds", "timestamp"} <= set(row)
    stamp = datetime.fromisoformat(row["timestamp"])
    assert stamp.utcoffset() == timezone.utc.utcoffset(None)
    assert results_path(out) == (tmp_path / "outputs" / "results.jsonl").absolute()

    second = write_metrics(tmp_path / "outputs" / "dpo_helpsteer", before=0.4, after=0.35, **RUN | {"notebook": "dpo"})
    lines = (tmp_path / "outputs" / "results.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [row, second]
    assert second["delta"] == pytest.approx(-0.05)


def test_a_later_section_adds_to_metrics_without_a_second_row(tmp_path):
    out = tmp_path / "outputs" / "rloo"
    with pytest.raises(FileNotFoundError, match="write_metrics must run first"):
        add_to_metrics(out, {"reward_models": {}})
    row = write_metrics(out, before=0.5, after=0.7, **RUN)
    updated = add_to_metrics(out, {"reward_models": {"siamese": {"pairwise_accuracy": 0.9}}})
    assert updated == {**row, "reward_models": {"siamese": {"pairwise_accuracy": 0.9}}}
    assert json.loads((out / "metrics.json").read_text()) == updated
    assert len(read_results(results_path(out))) == 1  # the table keeps the one row the run wrote
    for clash in ({"after": 0.9}, {"reward_models": {}}):  # nothing recorded is overwritten
        with pytest.raises(ValueError, match="must not redefine"):
            add_to_metrics(out, clash)


def test_read_results_round_trip(tmp_path):
    out = tmp_path / "outputs" / "run"
    rows = [write_metrics(out, before=0.1 * i, after=0.2 * i, **RUN) for i in range(3)]
    assert read_results(results_path(out)) == rows
    assert read_results(tmp_path / "outputs") == rows  # a folder works too
    assert read_results(tmp_path / "nowhere.jsonl") == []


def test_read_results_bad_line(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text('{"a": 1}\n\nnot json\n')
    with pytest.raises(ValueError, match="line 3"):
        read_results(path)


def test_results_table_keeps_latest_per_notebook_and_profile(tmp_path):
    out = tmp_path / "outputs" / "run"
    write_metrics(out, before=0.1, after=0.2, **RUN)
    write_metrics(out, before=0.1, after=0.4, **RUN)  # re-run of the same notebook/profile
    write_metrics(out, before=0.1, after=0.3, **RUN | {"profile": "full"})
    table = results_table(read_results(results_path(out)))
    assert list(table["profile"]) == ["full", "tiny"]
    assert list(table["after"]) == [0.3, 0.4]
    assert list(table.columns[:3]) == ["notebook", "profile", "method"]
    assert len(results_table(read_results(results_path(out)), latest_only=False)) == 3
    assert len(results_table([])) == 0


@pytest.mark.parametrize(
    "bad",
    [
        {"before": "0.1"},
        {"after": None},
        {"before": float("nan")},
        {"after": True},
        {"n_eval": 0},
        {"seconds": "fast"},
        {"notebook": ""},
        {"steps": 2.5},
        {"extra": {"before": 1.0}},
        {"extra": {"obj": object()}},
    ],
)
def test_write_metrics_rejects_bad_values(tmp_path, bad):
    args = {**RUN, "before": 0.1, "after": 0.2} | bad
    with pytest.raises(ValueError):
        write_metrics(tmp_path / "outputs" / "run", **args)
    assert not (tmp_path / "outputs").exists()  # nothing written on error


def test_best_of_n_curves_one_panel_per_model_with_bands_and_references():
    from rlkit.plots import best_of_n_curves

    c = {"N": [1, 2, 4], "accuracy": [0.3, 0.5, 0.6], "ci95": [[0.2, 0.4], [0.4, 0.6], [0.5, 0.7]]}
    open_before = plt.get_fignums()
    fig = best_of_n_curves({"SFT": {"oracle": c, "majority": c}, "GRPO": {"oracle": c}}, reference={"GRPO": 0.7})
    assert plt.get_fignums() == open_before
    assert [ax.get_title() for ax in fig.axes] == ["SFT", "GRPO"]
    assert len(fig.axes[0].lines) == 3 and len(fig.axes[0].collections) == 2  # 2 selectors + 1 reference, 2 bands
    with pytest.raises(ValueError, match="No curves"):
        best_of_n_curves({})
