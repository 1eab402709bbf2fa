"""Figures for the notebooks: a training dashboard and a before/after bar chart.

Every helper returns a ``matplotlib.figure.Figure`` and saves nothing. Make the figure the
last value of a notebook cell to show it (or call ``display(fig)``); save it yourself with
``fig.savefig(path)``.

Why the figures are closed before being returned: a figure still open in pyplot is shown
once by the notebook's inline backend at the end of the cell *and* once more as the cell's
returned value. Closing it only detaches it from pyplot, so the returned figure is shown
exactly once and can still be displayed or saved.

Example:
    >>> trainer.train()  # doctest: +SKIP
    >>> training_dashboard(trainer.state.log_history, title="GRPO on countdown")  # doctest: +SKIP
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from numbers import Real
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure

# (panel title, regexes of the logged keys it draws). Keys are those TRL 1.16 logs.
PANELS: list[tuple[str, list[str]]] = [
    ("loss", [r"loss", r"eval_loss"]),
    ("reward", [r"reward", r"rewards/[^/]+/mean"]),
    ("reward spread", [r"reward_std", r"frac_reward_zero_std"]),
    ("KL to reference", [r"kl"]),
    ("entropy", [r"entropy"]),
    ("completion length (tokens)", [r"completions/mean_length", r"completions/min_length", r"completions/max_length"]),
    ("truncated completions (fraction)", [r"completions/clipped_ratio"]),
    ("policy clip ratio", [r"clip_ratio/region_mean"]),
    ("learning rate", [r"learning_rate"]),
    ("grad norm", [r"grad_norm"]),
    ("DPO implicit rewards", [r"rewards/chosen", r"rewards/rejected", r"rewards/margins"]),
    ("DPO reward accuracy", [r"rewards/accuracies"]),
    ("reward model: pairwise accuracy", [r"accuracy"]),
    ("reward model: margin", [r"margin"]),
    ("token accuracy", [r"mean_token_accuracy"]),
]


def _is_number(value: Any) -> bool:
    """True for real numbers that are not booleans."""
    return isinstance(value, Real) and not isinstance(value, bool)


def _logged_keys(log_history: Sequence[Mapping[str, Any]]) -> list[str]:
    """All keys that carry a number somewhere in the history, in first-seen order.

    Example:
        >>> _logged_keys([{"step": 1, "loss": 0.5}, {"step": 2, "kl": 0.1}])
        ['step', 'loss', 'kl']
    """
    keys: dict[str, None] = {}
    for entry in log_history:
        keys.update((k, None) for k, v in entry.items() if _is_number(v))
    return list(keys)


def _panel_keys(patterns: Sequence[str], available: Sequence[str]) -> list[str]:
    """Keys matching the panel's patterns (full match), in pattern order.

    Example:
        >>> _panel_keys([r"reward", r"rewards/[^/]+/mean"], ["rewards/fmt/mean", "reward"])
        ['reward', 'rewards/fmt/mean']
    """
    return [key for pattern in patterns for key in available if re.fullmatch(pattern, key)]


def _series(log_history: Sequence[Mapping[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """(steps, values) of one metric; entries without a step use their position in the history.

    Example:
        >>> _series([{"step": 5, "loss": 1.0}, {"step": 10, "kl": 0.2}], "loss")
        ([5], [1.0])
    """
    points = [
        (entry.get("step", i), float(entry[key]))
        for i, entry in enumerate(log_history)
        if _is_number(entry.get(key))
    ]
    return [s for s, _ in points], [v for _, v in points]


def _label(key: str) -> str:
    """Short legend label: ``rewards/accuracy/mean`` -> ``accuracy``, ``completions/max_length`` -> ``max_length``."""
    match = re.fullmatch(r"rewards/([^/]+)/mean", key)
    if match:
        return match.group(1)
    return key.split("/")[-1]


def _draw_panel(ax: Axes, log_history: Sequence[Mapping[str, Any]], title: str, keys: Sequence[str]) -> None:
    """Draw one line per key on ``ax`` (markers when points are few, legend when lines are many)."""
    for key in keys:
        steps, values = _series(log_history, key)
        ax.plot(steps, values, marker="o" if len(steps) <= 30 else None, markersize=3, label=_label(key))
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    if len(keys) > 1:
        ax.legend(fontsize=7)


def _panels_to_draw(log_history: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    """The panels of ``PANELS`` that have at least one logged key, with those keys."""
    available = _logged_keys(log_history)
    chosen = [(title, _panel_keys(patterns, available)) for title, patterns in PANELS]
    return [(title, keys) for title, keys in chosen if keys]


def _grid(n_panels: int, ncols: int, panel_size: tuple[float, float]) -> tuple[Figure, list[Axes]]:
    """A figure with ``n_panels`` axes on a grid of ``ncols`` columns (unused cells removed)."""
    ncols = min(ncols, n_panels)
    nrows = math.ceil(n_panels / ncols)
    figsize = (panel_size[0] * ncols, panel_size[1] * nrows)
    fig, grid = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, layout="constrained")
    axes = list(grid.flat)
    for ax in axes[n_panels:]:
        ax.remove()
    plt.close(fig)  # detach from pyplot: the returned figure is then displayed exactly once
    return fig, axes[:n_panels]


def training_dashboard(
    log_history: Sequence[Mapping[str, Any]], *, title: str | None = None, ncols: int = 3
) -> Figure:
    """Small-multiples view of ``trainer.state.log_history``: one panel per logged metric group.

    Panels (drawn only when their keys were logged): loss/eval_loss, reward (+ one line
    per reward function), reward_std/frac_reward_zero_std, kl, entropy, completion
    lengths, truncated fraction, clip ratio, learning rate, grad norm, DPO implicit
    rewards and reward accuracy, reward-model accuracy and margin, SFT token accuracy.

    Example:
        >>> fig = training_dashboard(trainer.state.log_history, title="GRPO, 200 steps")  # doctest: +SKIP
        >>> fig  # last line of the cell shows it  # doctest: +SKIP
    """
    panels = _panels_to_draw(log_history)
    if not panels:
        raise ValueError(
            "Nothing to plot yet: the log history has no training metrics. Train first "
            "(trainer.train(), with logging_steps small enough to log), then pass trainer.state.log_history."
        )
    fig, axes = _grid(len(panels), ncols, panel_size=(4.2, 2.8))
    for ax, (panel_title, keys) in zip(axes, panels):
        _draw_panel(ax, log_history, panel_title, keys)
    if title:
        fig.suptitle(title)
    return fig


def _shared_metric_keys(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Numeric keys present in both dicts, minus sample counts (``n``, ``n_samples``)."""
    return [
        k for k, v in before.items() if k not in ("n", "n_samples") and _is_number(v) and _is_number(after.get(k))
    ]


def plot_before_after(
    metrics_before: Mapping[str, float],
    metrics_after: Mapping[str, float],
    keys: Sequence[str] | None = None,
    *,
    title: str | None = None,
) -> Figure:
    """Grouped bars of the same metrics before and after training, values written on the bars.

    ``keys`` defaults to every numeric metric the two dicts share (e.g. two
    ``EvalResult.summary()`` dicts), except the sample counts.

    Example:
        >>> plot_before_after(before.summary(), after.summary(), ["accuracy", "pass@4"])  # doctest: +SKIP
    """
    keys = list(keys) if keys is not None else _shared_metric_keys(metrics_before, metrics_after)
    missing = [k for k in keys if k not in metrics_before or k not in metrics_after]
    if not keys or missing:
        raise ValueError(f"Need metrics present in both dicts; missing: {missing or 'no shared keys'}")
    fig, (ax,) = _grid(1, 1, panel_size=(max(4.0, 1.3 * len(keys) + 1.5), 3.2))
    positions = range(len(keys))
    width = 0.38
    for offset, label, metrics in ((-width / 2, "before", metrics_before), (width / 2, "after", metrics_after)):
        bars = ax.bar([p + offset for p in positions], [metrics[k] for k in keys], width, label=label)
        ax.bar_label(bars, fmt="%.3g", fontsize=8)
    ax.set_xticks(list(positions), keys)
    ax.margins(y=0.15)
    ax.legend(fontsize=8)
    ax.set_title(title or "before vs after training", fontsize=10)
    return fig


def arm_curves(records: Mapping[str, Sequence[Mapping[str, float]]], keys: Sequence[str] = ("accuracy", "entropy",
               "length"), *, title: str | None = None) -> Figure:
    """One panel per key (e.g. probe accuracy, rollout entropy, completion length) against optimizer steps,
    one line per arm. ``records[arm]`` is a list of ``{"step": ..., key: ...}`` rows.

    Example:
        >>> fig = arm_curves({"online": [{"step": 0, "entropy": 0.2}, {"step": 10, "entropy": 0.15}]}, ["entropy"])
    """
    if not records:
        raise ValueError("No arms to plot: pass {arm name: [{'step': ..., key: value}, ...]}.")
    fig, axes = _grid(len(keys), len(keys), panel_size=(4.2, 3.0))
    for ax, key in zip(axes, keys):
        for arm, rows in records.items():
            points = [(row["step"], row[key]) for row in rows if _is_number(row.get(key))]
            if points:
                ax.plot(*zip(*points), marker=".", label=arm)
        ax.set_title(key)
        ax.set_xlabel("optimizer step")
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def best_of_n_curves(curves: Mapping[str, Mapping[str, Mapping[str, Sequence]]], *, title: str | None = None,
                     reference: Mapping[str, float] | None = None) -> Figure:
    """Accuracy against N (log scale) with 95% bands: one panel per model, one line per selector.

    ``curves[model][selector]`` is ``{"N": [...], "accuracy": [...], "ci95": [[lo, hi], ...]}``
    (``bestofn.curve``); ``reference`` draws horizontal lines (e.g. ``{"GRPO at N = 1": 0.71}``).

    Example:
        >>> fig = best_of_n_curves({"SFT": {"oracle": {"N": [1, 2], "accuracy": [0.4, 0.6], "ci95": [[0.3, 0.5], [0.5, 0.7]]}}})
    """
    if not curves:
        raise ValueError("No curves to plot: pass {model: {selector: {'N': [...], 'accuracy': [...], 'ci95': [...]}}}.")
    fig, axes = _grid(len(curves), min(len(curves), 3), panel_size=(4.4, 3.2))
    for ax, (model, selectors) in zip(axes, curves.items()):
        for selector, c in selectors.items():
            lo, hi = zip(*c["ci95"])
            line, = ax.plot(c["N"], c["accuracy"], marker=".", label=selector)
            ax.fill_between(c["N"], lo, hi, color=line.get_color(), alpha=0.15, linewidth=0)
        for i, (name, value) in enumerate((reference or {}).items()):
            ax.axhline(value, color="black", linestyle=("--", ":", "-.")[i % 3], linewidth=1, label=name)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("N (samples per prompt)")
        ax.set_ylabel("held-out accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(model, fontsize=10)
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig
