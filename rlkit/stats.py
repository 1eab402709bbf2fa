"""Error bars for every claim: paired bootstrap intervals over prompts, and spread over seeds.

A before/after gain is measured on the *same* held-out prompts, so the two numbers are not
independent: a prompt that was easy before is usually easy after. The paired bootstrap keeps each
prompt's pair together. Resample prompts with replacement, recompute mean(after) - mean(before),
repeat a few thousand times, and read the 2.5th and 97.5th percentiles: a 95% interval for the gain.
Its lower bound above 0 is what "it learns" means in this kit.

Per-prompt scores can be 0/1 (greedy accuracy), fractions (sampled pass@1 over k samples) or
any number (a reward). Comparisons between methods run over seeds: :func:`over_seeds` gives the
mean, the standard deviation and a t interval.

>>> gain = paired_bootstrap([0, 0, 1, 1, 0, 1] * 50, [1, 0, 1, 1, 1, 1] * 50)
>>> round(gain.delta, 3), gain.ci95[0] > 0
(0.333, True)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

RESAMPLES = 4000
# Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (beyond: the normal's 1.96).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)


@dataclass(frozen=True)
class Gain:
    """A paired before/after comparison over ``n`` prompts."""

    before: float
    after: float
    delta: float  # after - before
    ci95: tuple[float, float]  # percentile bootstrap interval of delta
    se: float  # bootstrap standard error of delta
    n: int

    def __str__(self) -> str:
        return (f"{self.before:.3f} -> {self.after:.3f}: {self.delta:+.3f} "
                f"[95% CI {self.ci95[0]:+.3f}, {self.ci95[1]:+.3f}] (n={self.n})")

    def as_dict(self) -> dict:
        return {"before": self.before, "after": self.after, "delta": self.delta, "ci95": list(self.ci95),
                "se": self.se, "n": self.n}


def _scores(values: Sequence[float], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or len(array) == 0:
        raise ValueError(f"{name} must be a non-empty list of per-prompt scores, got shape {array.shape}")
    if np.isnan(array).any():
        raise ValueError(f"{name} holds NaN scores; score every prompt (a missing answer scores 0)")
    return array


def paired_bootstrap(before: Sequence[float], after: Sequence[float], resamples: int = RESAMPLES,
                     seed: int = 0) -> Gain:
    """95% interval of mean(after) - mean(before) over the same prompts, resampling prompts with replacement.

    ``before[i]`` and ``after[i]`` must score the same prompt ``i``.

    >>> g = paired_bootstrap([0.0] * 100, [1.0] * 100)
    >>> g.delta, g.ci95, g.se
    (1.0, (1.0, 1.0), 0.0)
    """
    b, a = _scores(before, "before"), _scores(after, "after")
    if len(a) != len(b):
        raise ValueError(f"before and after must score the same prompts: {len(b)} != {len(a)} scores")
    diff = a - b  # (n,) per-prompt change
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(resamples, len(diff)))  # (R, n) resampled prompt indices
    means = diff[idx].mean(axis=1)  # (R,)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return Gain(before=float(b.mean()), after=float(a.mean()), delta=float(diff.mean()),
                ci95=(float(lo), float(hi)), se=float(means.std(ddof=1)), n=len(diff))


def bootstrap_mean(values: Sequence[float], resamples: int = RESAMPLES, seed: int = 0) -> tuple[float, tuple[float, float]]:
    """``(mean, (lo, hi))``: a 95% percentile bootstrap interval of one mean over prompts.

    >>> bootstrap_mean([1.0, 1.0, 1.0])
    (1.0, (1.0, 1.0))
    """
    x = _scores(values, "values")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(resamples, len(x)))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(x.mean()), (float(lo), float(hi))


def t_quantile(df: int) -> float:
    """The two-sided 95% quantile of Student's t with ``df`` degrees of freedom (normal beyond 30).

    >>> t_quantile(2)
    4.303
    """
    if df < 1:
        raise ValueError(f"need at least 1 degree of freedom (2 seeds), got {df}")
    return _T975[df - 1] if df <= len(_T975) else 1.96


def over_seeds(values: Sequence[float]) -> dict:
    """Mean over seeds with the sample standard deviation and a 95% t interval of the mean.

    With one seed there is no spread to report: ``std`` and ``ci95`` are None.

    >>> over_seeds([0.10, 0.14, 0.12])["mean"]
    0.12
    """
    x = _scores(values, "values")
    mean = float(round(x.mean(), 12))
    if len(x) == 1:
        return {"mean": mean, "std": None, "ci95": None, "n_seeds": 1}
    std = float(x.std(ddof=1))
    half = t_quantile(len(x) - 1) * std / math.sqrt(len(x))
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "n_seeds": len(x)}


def per_prompt(rewards: Sequence[Sequence[float]]) -> list[float]:
    """Each prompt's share of correct samples (reward exactly 1.0): greedy 0/1, or sampled pass@1.

    >>> per_prompt([[1.0, 0.0], [0.1, 1.0], [0.0, 0.0]])
    [0.5, 0.5, 0.0]
    """
    return [sum(r == 1.0 for r in row) / len(row) for row in rewards]
