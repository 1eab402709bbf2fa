"""The ``exact`` reward of the offline instruction task: the last ``<answer>`` equals the gold text."""

from __future__ import annotations

from typing import Any

from rlkit.rewards.common import extract_answer, text_rows


def _normalize_text(text: str) -> str:
    return " ".join(text.split()).rstrip(".").lower()


def exact_reward(completions: list, answer: list, **kwargs: Any) -> list[float | None]:
    """1.0 when the last ``<answer>`` equals the gold text (case, spacing and a final period ignored).

    Used by the offline ``instruct`` task, whose answers are exact strings ("elppa", "2, 5, 9").

    >>> exact_reward(["<answer>ELPPA</answer>", "<answer>elpa</answer>", "elppa"], answer=["elppa"] * 3)
    [1.0, 0.0, 0.0]
    """
    scores: list[float | None] = []
    for text, gold in text_rows(completions, answer):
        if gold is None:
            scores.append(None)
            continue
        found = extract_answer(text)
        ok = found is not None and found.strip() != "" and _normalize_text(found) == _normalize_text(str(gold))
        scores.append(1.0 if ok else 0.0)
    return scores
