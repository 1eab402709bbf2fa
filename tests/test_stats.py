"""rlkit.stats: the intervals every notebook reports."""

import math
import random

import pytest

from rlkit import stats


def test_paired_bootstrap_matches_the_normal_approximation():
    rng = random.Random(0)
    before = [float(rng.random() < 0.4) for _ in range(2000)]
    after = [b if rng.random() < 0.8 else float(rng.random() < 0.7) for b in before]
    gain = stats.paired_bootstrap(before, after, seed=1)
    diff = [a - b for a, b in zip(after, before)]
    mean = sum(diff) / len(diff)
    se = math.sqrt(sum((d - mean) ** 2 for d in diff) / (len(diff) - 1) / len(diff))
    assert gain.delta == pytest.approx(mean)
    assert gain.se == pytest.approx(se, rel=0.1)
    assert gain.ci95[0] == pytest.approx(mean - 1.96 * se, abs=0.01)
    assert gain.ci95[1] == pytest.approx(mean + 1.96 * se, abs=0.01)
    assert gain.before == pytest.approx(sum(before) / len(before))


def test_pairing_matters():
    """The same marginal accuracies, paired or shuffled: pairing narrows the interval when prompts correlate."""
    rng = random.Random(3)
    before = [float(rng.random() < 0.5) for _ in range(600)]
    after = [1.0 if b else float(rng.random() < 0.25) for b in before]  # nothing right before is lost
    paired = stats.paired_bootstrap(before, after)
    shuffled = stats.paired_bootstrap(before, rng.sample(after, len(after)))
    assert paired.delta == pytest.approx(shuffled.delta)
    assert paired.ci95[1] - paired.ci95[0] < 0.8 * (shuffled.ci95[1] - shuffled.ci95[0])


def test_no_change_interval_contains_zero_and_is_reproducible():
    rng = random.Random(5)
    before = [float(rng.random() < 0.5) for _ in range(500)]
    after = [float(rng.random() < 0.5) for _ in range(500)]
    gain = stats.paired_bootstrap(before, after, seed=7)
    assert gain.ci95[0] < gain.delta < gain.ci95[1]
    assert gain == stats.paired_bootstrap(before, after, seed=7)


@pytest.mark.parametrize("before, after, message", [
    ([1.0, 0.0], [1.0], "same prompts"),
    ([], [], "non-empty"),
    ([float("nan")], [1.0], "NaN"),
])
def test_bad_input_says_what_to_change(before, after, message):
    with pytest.raises(ValueError, match=message):
        stats.paired_bootstrap(before, after)


def test_over_seeds_t_interval():
    out = stats.over_seeds([0.10, 0.16, 0.13])
    std = math.sqrt(((0.10 - 0.13) ** 2 + (0.16 - 0.13) ** 2) / 2)
    assert out["mean"] == pytest.approx(0.13)
    assert out["std"] == pytest.approx(std)
    assert out["ci95"] == pytest.approx([0.13 - 4.303 * std / math.sqrt(3), 0.13 + 4.303 * std / math.sqrt(3)])
    assert stats.over_seeds([0.2])["ci95"] is None


def test_per_prompt_counts_only_full_reward():
    assert stats.per_prompt([[1.0, 0.1, 0.9, 1.0]]) == [0.5]
