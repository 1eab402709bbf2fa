"""The offline testbed's headroom: does a warm start leave RL something to do on every task family?

RL after SFT mostly turns what a model can do *sometimes* into what it does *every time*: it raises
pass@1 towards pass@k. So a task only makes a useful RL testbed when, after SFT, sampled answers
(T = 1) are right often enough for groups to carry signal, wrong often enough to leave room, and
eight samples succeed clearly more often than one. The kit's rule, checked by 01_sft on held-out
prompts of every offline family:

- ``pass@8 - pass@1 >= 0.25`` (room for RL to turn pass@k into pass@1), and
- ``0.10 <= greedy accuracy <= 0.70`` (neither hopeless nor solved).

Where the well-formed answers can be counted (knights and knaves: two roles per person; zebra: one arrangement of
each category over the houses), the table also gives what a uniform guess among them scores (``chance@1``,
``chance@8``). The rule alone can be met by guessing: on small puzzles a guesser's pass@8 is far above its pass@1,
and RL can then only move the guess, not teach the puzzle (README, "The offline testbed").
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from rlkit.config import name_list
from rlkit.errors import RlkitError
from rlkit.evaluation import EvalResult, evaluate

MIN_GAP = 0.25  # pass@8 - pass@1
GREEDY_RANGE = (0.10, 0.70)
K = 8


@dataclass
class Headroom:
    """One task's headroom measurement; ``greedy``/``sampled`` keep every completion for later reading."""

    task: str
    greedy: EvalResult
    sampled: EvalResult
    k: int = K
    chance: list[float] | None = None  # per prompt, a uniform guess's chance (see :func:`chance`); None: not countable

    def row(self) -> dict:
        """``{"greedy", "pass@1", "pass@k", "n"}``, the shape 01_sft writes to ``metrics.json``, plus
        ``chance@1``/``chance@k`` (a uniform guesser's pass@1 and pass@k) where the answers can be counted."""
        row = {"greedy": self.greedy.accuracy, "pass@1": self.sampled.pass_at_k[1],
               f"pass@{self.k}": self.sampled.pass_at_k[self.k], "n": self.greedy.n}
        if self.chance:
            row["chance@1"] = sum(self.chance) / len(self.chance)
            row[f"chance@{self.k}"] = sum(1 - (1 - p) ** self.k for p in self.chance) / len(self.chance)
        return row

    @property
    def gap(self) -> float:
        return self.sampled.pass_at_k[self.k] - self.sampled.pass_at_k[1]

    @property
    def ok(self) -> bool:
        low, high = GREEDY_RANGE
        return self.gap >= MIN_GAP and low <= self.greedy.accuracy <= high


def chance(row: dict) -> float | None:
    """The chance that a uniform guess among the well-formed answers to ``row`` is right, from its family's
    ``Task.chance``: ``2**-people`` for knights and knaves, ``(houses!)**-categories`` for a zebra grid (each
    category's values once, in any order); None for families whose answers cannot be counted (arithmetic,
    Countdown, code).

    >>> chance({"task": "knights_knaves", "answer": "(1) Anna is a knave\\n(2) Jacob is a knight"})
    0.25
    >>> chance({"task": "zebra", "solution": '{"House 1": {"Name": "Eve", "Pet": "cat"}, "House 2": {"Name": "Bob", "Pet": "dog"}}'})
    0.25
    """
    from rlkit.data import TASKS

    spec = TASKS.get(row.get("task"))
    return spec.chance(row) if spec and spec.chance else None


def chosen(tasks: list[str], wanted=None) -> list[str]:
    """The families of ``tasks`` named in ``wanted`` (a list or a comma-separated string, as 01's
    ``HEADROOM_TASKS``; ``None``: all), in ``tasks``' order.

    >>> chosen(["arithmetic", "countdown", "code"], "code, arithmetic")
    ['arithmetic', 'code']
    """
    if wanted is None:
        return list(tasks)
    names = name_list(wanted)
    unknown = [t for t in names if t not in tasks]
    if unknown or not names:
        raise RlkitError(f"HEADROOM_TASKS={wanted!r}: name one or more of the families this run trains on, "
                         f"{list(tasks)} (a list, or comma-separated), or None for all of them")
    return [t for t in tasks if t in names]


def measure(model, tokenizer, task: str, held_out, *, max_new_tokens: int, k: int = K, batch_size: int = 256,
            seed: int = 0) -> Headroom:
    """Greedy accuracy and pass@1/pass@k from ``k`` samples at T = 1 on ``held_out``, scored by the task's verifier."""
    from rlkit.data import get_task
    from rlkit.rewards import get_reward

    verifier = get_reward(get_task(task).reward)
    greedy = evaluate(model, tokenizer, held_out, verifier, max_new_tokens=max_new_tokens, batch_size=batch_size,
                      desc=f"{task}: greedy")
    sampled = evaluate(model, tokenizer, held_out, verifier, max_new_tokens=max_new_tokens, n_samples=k,
                       temperature=1.0, ks=(1, k), batch_size=max(1, batch_size // k), seed=seed,
                       desc=f"{task}: {k} samples")
    odds = [chance(row) for row in held_out]
    return Headroom(task, greedy, sampled, k, None if None in odds else odds)


def table(measured: list[Headroom]):
    """A pandas table: one row per task with greedy, pass@1, pass@k, their gap and whether the rule holds."""
    import pandas as pd

    rows = [{"task": h.task, **{key: round(v, 3) if isinstance(v, float) else v for key, v in h.row().items()},
             "gap": round(h.gap, 3), "rule holds": h.ok} for h in measured]
    return pd.DataFrame(rows)


def styles(task: str, rows, result: EvalResult) -> dict[str, dict[str, int]]:
    """How the first answer to each prompt was written (``worked``/``terse``, data.Task.style) and how often
    each kind was right: ``{"worked": {"n": 120, "right": 80}, "terse": {...}}``. Empty for tasks without styles.

    01's SFT mixes worked and terse demonstrations; 02-04 report how training moved the model between them.
    """
    from rlkit.data import get_task

    style = get_task(task).style
    if style is None:
        return {}
    counts: dict[str, Counter] = {}
    for row, texts, scores in zip(rows, result.completions, result.rewards):
        kind = style(row, texts[0])
        if kind is not None:
            counts.setdefault(kind, Counter())["n"] += 1
            counts[kind]["right"] += scores[0] == 1.0
    return {kind: dict(c) for kind, c in sorted(counts.items())}


def by_operation(rows, before: EvalResult, after: EvalResult):
    """Code tasks: greedy accuracy per operation the question asks for, before and after training (a pandas table,
    one row per operation sequence such as ``min`` or ``even+sum``, most frequent first).

    A mean gain can hide a trade: on the tiny model, GRPO on code took ``min`` from 0 to 1 and ``max`` from 1 to 0
    (03_grpo, section 8), because the model picks one of the two whatever the step says.
    """
    import pandas as pd

    from rlkit.codetasks import operations

    counts: dict[str, Counter] = {}
    for row, old, new in zip(rows, before.rewards, after.rewards, strict=True):
        name = "+".join(operations(row["prompt"][-1]["content"])) or "?"
        c = counts.setdefault(name, Counter())
        c["n"] += 1
        c["before"] += old[0] == 1.0
        c["after"] += new[0] == 1.0
    table = pd.DataFrame([{"operation": name, "n": c["n"], "before": round(c["before"] / c["n"], 2),
                           "after": round(c["after"] / c["n"], 2)} for name, c in counts.items()])
    return table.sort_values(["n", "operation"], ascending=[False, True], ignore_index=True)


def styles_line(tag: str, found: dict[str, dict[str, int]]) -> str:
    """One printable line of :func:`styles`."""
    total = sum(c["n"] for c in found.values()) or 1
    parts = [f"{kind} {c['n'] / total:.0%} (right {c.get('right', 0)}/{c['n']})" for kind, c in found.items()]
    return f"{tag}: " + ", ".join(parts)
