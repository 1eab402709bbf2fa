"""The ``format`` reward: reasoning, then exactly one non-empty ``<answer>``, then nothing."""

from __future__ import annotations

import re
from typing import Any

from rlkit.rewards.common import ANSWER_CLOSE, ANSWER_OPEN, THINK_CLOSE, THINK_OPEN, text_rows

_THINK_PREFIX = re.compile(r"\s*(?:<think>)?(.*?)</think>\s*", re.DOTALL)


def _reasoning_ok(prefix: str) -> bool:
    """Whether the text before ``<answer>`` is free text or exactly one think block.

    A lone ``</think>`` is fine (the chat template may have opened the block);
    text around a think block is not.

    >>> _reasoning_ok("<think>2+2=4</think>\\n"), _reasoning_ok("I add them.")
    (True, True)
    >>> _reasoning_ok("<think>unclosed"), _reasoning_ok("hi <think>x</think>")
    (False, False)
    """
    if THINK_OPEN not in prefix and THINK_CLOSE not in prefix:
        return True
    match = _THINK_PREFIX.fullmatch(prefix)
    if match is None:
        return False
    return THINK_OPEN not in match.group(1) and THINK_CLOSE not in match.group(1)


def _format_score(text: str) -> float:
    """1.0 for ``reasoning <answer>non-empty</answer>`` with nothing after, else 0.0.

    >>> _format_score("<think>hmm</think> <answer>4</answer>\\n")
    1.0
    >>> _format_score("<answer>4</answer> extra")
    0.0
    """
    if text.count(ANSWER_OPEN) != 1 or text.count(ANSWER_CLOSE) != 1:
        return 0.0
    prefix, rest = text.split(ANSWER_OPEN)
    if ANSWER_CLOSE not in rest:
        return 0.0
    content, suffix = rest.split(ANSWER_CLOSE)
    if not content.strip() or suffix.strip():
        return 0.0
    return 1.0 if _reasoning_ok(prefix) else 0.0


def format_reward(completions: list, **kwargs: Any) -> list[float | None]:
    """1.0 when the completion follows the answer format (see module docstring), else 0.0.

    >>> format_reward(["<think>2+2</think><answer>4</answer>", "<answer>4</answer><answer>5</answer>"])
    [1.0, 0.0]
    """
    return [_format_score(text) for (text,) in text_rows(completions)]
