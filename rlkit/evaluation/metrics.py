"""Scoring completions with a reward: accuracy, unbiased pass@k, maj@k, and :func:`evaluate`, which generates
and scores in one call."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rlkit.evaluation.generation import Messages, RewardFn, check_sampling, chunk, generate


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): chance that k of the n samples include a correct one.

    Computes ``1 - C(n-c, k) / C(n, k)`` as a product, which never builds huge binomials.

    Example:
        >>> pass_at_k(n=4, c=1, k=1)
        0.25
        >>> round(pass_at_k(n=4, c=1, k=2), 4)
        0.5
    """
    if not 0 <= c <= n:
        raise ValueError(f"Need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"Need 1 <= k <= n (k samples drawn from n), got n={n}, k={k}")
    if n - c < k:  # every k-subset contains a correct sample
        return 1.0
    prob_all_wrong = math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))
    return 1.0 - prob_all_wrong


def maj_at_k(answers: Sequence[str | None], correct: Sequence[bool]) -> bool:
    """Majority vote: is the most common extracted answer a correct one?

    ``None`` answers (nothing extractable) do not vote; ties go to the answer seen first.
    The winner's correctness is that of its first sample. No votes at all counts as wrong.

    Example:
        >>> maj_at_k(["4", "5", "4", None], [True, False, True, False])
        True
    """
    if len(answers) != len(correct):
        raise ValueError(f"answers and correct differ in length: {len(answers)} != {len(correct)}")
    votes = Counter(a for a in answers if a is not None)
    if not votes:
        return False
    top = max(votes.values())
    winner = next(a for a in answers if a is not None and votes[a] == top)
    return bool(correct[answers.index(winner)])


@dataclass
class EvalResult:
    """Scores of one model on one dataset; ``summary()`` gives the scalar metrics.

    ``completions[i][j]`` / ``rewards[i][j]`` are sample ``j`` of prompt ``i``; a reward of
    ``None`` from the reward function is stored as NaN.

    Example:
        >>> result.accuracy, result.pass_at_k[1]  # doctest: +SKIP
        (0.41, 0.41)
    """

    accuracy: float
    pass_at_k: dict[int, float]
    maj_at_k: float | None
    mean_reward: float
    truncation_rate: float
    n: int
    n_samples: int
    completions: list[list[str]] = field(repr=False)
    rewards: list[list[float]] = field(repr=False)
    truncated: list[list[bool]] = field(repr=False)

    def summary(self) -> dict[str, float | int]:
        """Scalar metrics as a flat dict (keys like ``pass@4``, ``maj@8``).

        Example:
            >>> result.summary()["accuracy"]  # doctest: +SKIP
            0.41
        """
        out: dict[str, float | int] = {"n": self.n, "n_samples": self.n_samples, "accuracy": self.accuracy}
        out.update({f"pass@{k}": v for k, v in self.pass_at_k.items()})
        if self.maj_at_k is not None:
            out[f"maj@{self.n_samples}"] = self.maj_at_k
        out.update(mean_reward=self.mean_reward, truncation_rate=self.truncation_rate)
        return out


def _as_completion(text: str, conversational: bool) -> str | Messages:
    """Shape a completion the way TRL hands it to reward functions."""
    return [{"role": "assistant", "content": text}] if conversational else text


def score_completions(
    dataset: Any, texts: list[list[str]], reward_fn: RewardFn, n_samples: int
) -> list[list[float]]:
    """Call ``reward_fn`` once on all completions, with every non-prompt column repeated per sample.

    Completions are conversational when the prompts are, as in TRL training.
    Returns one list of rewards per prompt (``None`` becomes NaN).
    """
    conversational = len(dataset) > 0 and not isinstance(dataset[0]["prompt"], str)
    completions = [_as_completion(t, conversational) for row in texts for t in row]
    columns = {
        name: [value for value in dataset[name] for _ in range(n_samples)]
        for name in dataset.column_names
        if name != "prompt"
    }
    rewards = reward_fn(completions=completions, **columns)
    if len(rewards) != len(completions):
        raise ValueError(f"reward_fn returned {len(rewards)} rewards for {len(completions)} completions")
    return chunk([math.nan if r is None else float(r) for r in rewards], n_samples)


def _mean(values: Sequence[float]) -> float:
    """Mean ignoring NaN; NaN when nothing is left."""
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


def _check_ks(ks: Sequence[int], n_samples: int) -> None:
    """Every k in ks must satisfy 1 <= k <= n_samples."""
    bad = [k for k in ks if not 1 <= k <= n_samples]
    if bad:
        raise ValueError(f"pass@k needs 1 <= k <= n_samples={n_samples}; got ks={list(ks)}")


def _majority_rate(
    texts: list[list[str]], correct: list[list[bool]], extract_fn: Callable[[str], str | None]
) -> float:
    """Fraction of prompts whose majority-vote answer (see ``maj_at_k``) is correct."""
    votes = [maj_at_k([extract_fn(t) for t in row], ok) for row, ok in zip(texts, correct)]
    return _mean([float(v) for v in votes])


def evaluate(
    model: Any,
    tokenizer: Any,
    dataset: Any,
    reward_fn: RewardFn,
    *,
    n_samples: int = 1,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_new_tokens: int = 256,
    batch_size: int = 32,
    ks: Sequence[int] = (1,),
    extract_fn: Callable[[str], str | None] | None = None,
    seed: int | None = 0,
    desc: str = "evaluating",
    progress: bool = True,
) -> EvalResult:
    """Generate ``n_samples`` completions per row of ``dataset`` and score them with ``reward_fn``.

    A completion is correct when its reward is exactly 1.0. ``accuracy`` is the mean over
    prompts of each prompt's fraction of correct samples (plain accuracy for one greedy
    sample). ``maj_at_k`` is computed when ``n_samples > 1`` and ``extract_fn`` (completion
    text -> answer string or None) is given.

    Example:
        >>> result = evaluate(model, tokenizer, test_ds, accuracy_reward, n_samples=8,  # doctest: +SKIP
        ...                   temperature=1.0, ks=(1, 4, 8), extract_fn=extract_answer)
        >>> result.summary()  # doctest: +SKIP
        {'n': 100, 'n_samples': 8, 'accuracy': 0.3, 'pass@1': 0.3, 'pass@4': 0.6, ...}
    """
    check_sampling(temperature, n_samples)
    _check_ks(ks, n_samples)
    gens = generate(
        model, tokenizer, list(dataset["prompt"]), max_new_tokens=max_new_tokens, batch_size=batch_size,
        temperature=temperature, top_p=top_p, num_samples=n_samples, seed=seed, desc=desc, progress=progress,
    )  # fmt: skip
    rewards = score_completions(dataset, gens.texts, reward_fn, n_samples)
    correct = [[r == 1.0 for r in row] for row in rewards]
    majority = _majority_rate(gens.texts, correct, extract_fn) if extract_fn and n_samples > 1 else None
    return EvalResult(
        accuracy=_mean([sum(ok) / n_samples for ok in correct]),
        pass_at_k={k: _mean([pass_at_k(n_samples, sum(ok), k) for ok in correct]) for k in ks},
        maj_at_k=majority,
        mean_reward=_mean([r for row in rewards for r in row]),
        truncation_rate=gens.truncation_rate,
        n=len(rewards),
        n_samples=n_samples,
        completions=gens.texts,
        rewards=rewards,
        truncated=gens.truncated,
    )


def measure(model: Any, tokenizer: Any, dataset: Any, reward_fn: RewardFn, cfg: Any, tag: str,
            k: int = 0) -> tuple[EvalResult, EvalResult | None]:
    """The held-out measure a lesson takes before and after training, the same way both times.

    Greedy answers scored by ``reward_fn`` and, when ``k`` > 0, ``k`` samples per prompt at the run's
    temperature (pass@1..k, seeded by the run's seed), with ``cfg``'s token budget and batch size (a
    :class:`~rlkit.config.RunConfig`). Prints one line; returns ``(greedy, sampled or None)``.
    """
    greedy = evaluate(model, tokenizer, dataset, reward_fn, max_new_tokens=cfg.max_completion_length,
                      batch_size=cfg.eval_batch_size, desc=f"{tag}: greedy")
    sampled = None
    if k:
        sampled = evaluate(model, tokenizer, dataset, reward_fn, max_new_tokens=cfg.max_completion_length,
                           batch_size=max(1, cfg.eval_batch_size // k), n_samples=k, temperature=cfg.temperature,
                           ks=tuple(range(1, k + 1)), seed=cfg.seed, desc=f"{tag}: sampled")
    print(f"{tag}: greedy accuracy {greedy.accuracy:.3f}" + (f" | sampled {sampled.summary()}" if sampled else ""))
    return greedy, sampled
