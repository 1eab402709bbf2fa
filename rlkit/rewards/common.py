"""What every reward shares: the answer tags, a completion's text and its last ``<answer>``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def completion_text(completion: Any) -> str:
    """Return the text of one completion, in string or conversational form.

    For a list of messages the last message's ``content`` is used; content
    given as a list of parts (``{"type": "text", "text": ...}``) is joined.

    >>> completion_text("<answer>4</answer>")
    '<answer>4</answer>'
    >>> completion_text([{"role": "assistant", "content": "<answer>4</answer>"}])
    '<answer>4</answer>'
    """
    if isinstance(completion, list):
        completion = completion[-1] if completion else ""
    if isinstance(completion, dict):
        completion = completion.get("content", "")
    if isinstance(completion, list):
        parts = [p.get("text", "") if isinstance(p, dict) else str(p) for p in completion]
        completion = "".join(parts)
    return "" if completion is None else str(completion)


def extract_answer(text: str) -> str | None:
    """Return the stripped content of the last complete ``<answer>...</answer>`` pair.

    The last ``</answer>`` closes the nearest ``<answer>`` before it; ``None``
    when there is no complete pair.

    >>> extract_answer("<answer>3</answer> then <answer> 4 </answer>")
    '4'
    >>> extract_answer("<answer>4") is None
    True
    >>> extract_answer("<answer></answer>")
    ''
    """
    close = text.rfind(ANSWER_CLOSE)
    if close < 0:
        return None
    start = text.rfind(ANSWER_OPEN, 0, close)
    if start < 0:
        return None
    return text[start + len(ANSWER_OPEN) : close].strip()


def text_rows(completions: list, *columns: list | None) -> Iterator[tuple]:
    """Yield ``(text, *column_values)`` per completion; missing columns give ``None``.

    >>> list(text_rows(["a", [{"role": "assistant", "content": "b"}]], [1, 2]))
    [('a', 1), ('b', 2)]
    """
    filled = [col if col is not None else [None] * len(completions) for col in columns]
    for completion, *values in zip(completions, *filled, strict=True):
        yield (completion_text(completion), *values)
