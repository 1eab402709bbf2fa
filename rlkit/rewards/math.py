"""The ``math`` reward: the last ``<answer>`` equals the gold value according to math_verify, under a time budget.

The rules and the time budget are described in :mod:`rlkit.rewards`.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import sympy
from math_verify import LatexExtractionConfig, parse, verify

from rlkit.rewards.common import extract_answer, text_rows

MATH_TIME_LIMIT_S = 1.0  # budget for parsing and comparing one completion
MATH_MAX_ANSWER_CHARS = 256  # longer "final answers" score 0 without parsing
MATH_MAX_NESTING = 12  # deeper bracket nesting scores 0 without parsing


class _MathTimeout(BaseException):
    """Raised by the SIGALRM handler; a BaseException so math_verify cannot swallow it."""


class _DropTimeoutDisabledWarning(logging.Filter):
    """Drop math_verify's "Timeout is disabled" warning: this module keeps its own timer."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Timeout is disabled")


for _logger_name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_logger_name).addFilter(_DropTimeoutDisabledWarning())


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise ``_MathTimeout`` if the block runs longer than ``seconds``.

    Only in the main thread (signals cannot be used elsewhere); a no-op
    otherwise and on platforms without ``setitimer``. A timer that was already
    running (e.g. pytest-timeout's) is resumed afterwards.

    >>> with _time_limit(1.0):
    ...     pass
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def _on_alarm(signum: int, frame: Any) -> None:
        raise _MathTimeout()

    previous = signal.signal(signal.SIGALRM, _on_alarm)
    started = time.monotonic()
    outer_timer = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous if previous is not None else signal.SIG_DFL)
        _resume_timer(outer_timer, time.monotonic() - started)


def _resume_timer(timer: tuple[float, float], elapsed: float) -> None:
    """Restart a ``(delay, interval)`` real-time timer that was paused ``elapsed`` seconds ago.

    >>> _resume_timer((0.0, 0.0), 1.0)  # no timer was running: nothing to do
    """
    delay, interval = timer
    if delay > 0:
        signal.setitimer(signal.ITIMER_REAL, max(delay - elapsed, 1e-3), interval)


_LATEX_ONLY = [LatexExtractionConfig(boxed_match_priority=0)]
_THOUSANDS_GAP = re.compile(r"(?<=\d)(?:\\,|\\ |\s)(?=\d{3}(?!\d))")
_SPACE = r"(?:\s|\\[,;:! ]|\\q?quad(?![a-zA-Z])|~)"
_MATH_RED_FLAGS = re.compile(
    rf"\d{_SPACE}+\.?\d"  # juxtaposed numbers: math_verify adds them ("7 7" -> 14)
    r"|[\d)]\s*(?:\\left\s*)?\(\s*[-\d.]+\s*(?:\\right\s*)?\)"  # "2(7)" is read as 2 + 7 too
    r"|\^\s*\{[^{}]*\^|\^\s*(?:\{[^{}]*\}|\w+)\s*\^"  # power towers
    r"|\^\s*\{?\s*-?\d{5,}"  # huge exponents
    r"|(?:\d{4,}|[)}\]])\s*!"  # factorials of big numbers or of expressions
    r"|\*\*"  # Python power syntax is not LaTeX
)


def _max_nesting(text: str) -> int:
    """Return the deepest bracket nesting of ``text`` (any of ``([{``).

    >>> _max_nesting("\\\\frac{(1+2)}{3}")
    2
    """
    depth = deepest = 0
    for char in text:
        if char in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in ")]}":
            depth -= 1
    return deepest


def _normalize_math_answer(answer: str) -> str | None:
    """Clean a predicted math answer, or return ``None`` when it must score 0 unparsed.

    Drops a trailing full stop and thousands separators (``1\\,000``, ``1 000``);
    rejects empty, overlong, deeply nested or suspicious text (see ``_MATH_RED_FLAGS``).

    >>> _normalize_math_answer("1 000.")
    '1000'
    >>> _normalize_math_answer("14 15") is None
    True
    """
    answer = _THOUSANDS_GAP.sub("", answer.strip().rstrip(".").strip())
    if not answer or len(answer) > MATH_MAX_ANSWER_CHARS or "\x00" in answer:
        return None
    if _max_nesting(answer) > MATH_MAX_NESTING or _MATH_RED_FLAGS.search(answer):
        return None
    return answer


def _parse_math(text: str) -> list:
    """Parse a whole answer with math_verify as if it were ``\\boxed{text}``.

    Boxing makes math_verify read the entire string as LaTeX instead of
    fishing the last number out of it. Timeouts are handled by the caller.

    >>> _parse_math("\\\\frac{3}{4}")[0]
    3/4
    """
    return parse(f"\\boxed{{{text}}}", extraction_config=_LATEX_ONLY, parsing_timeout=None)


@lru_cache(maxsize=4096)
def _parse_gold(gold: str) -> tuple:
    """Parse (and cache) a gold answer; falls back to math_verify's default extraction.

    >>> _parse_gold("-4")[0]
    -4
    """
    parsed = _parse_math(gold)
    if not parsed:
        parsed = parse(gold, parsing_timeout=None)
    return tuple(parsed)


def _unwrap_assignment(pred: Any, gold: Any) -> Any:
    """Return the value of ``x = value``; any other relation (unless gold is one) -> ``None``.

    >>> x = sympy.Symbol("x")
    >>> _unwrap_assignment(sympy.Eq(x, 14), sympy.Integer(14))
    14
    >>> _unwrap_assignment(sympy.Eq(x + 3, 17, evaluate=False), sympy.Integer(14)) is None
    True
    """
    is_relation = isinstance(pred, (sympy.core.relational.Relational, sympy.And))
    if not is_relation or isinstance(gold, (sympy.core.relational.Relational, sympy.And)):
        return pred
    if isinstance(pred, sympy.Eq) and isinstance(pred.lhs, sympy.Symbol):
        return pred.rhs
    return None


def _math_match(gold: tuple, pred: list) -> bool:
    """Compare the first parse of gold and prediction, insisting on a final value.

    A plain-number gold needs a plain-number prediction; two rationals are
    compared exactly (math_verify compares numbers to ~6 decimals).

    >>> _math_match(_parse_gold("14"), _parse_math("14.0"))
    True
    >>> _math_match(_parse_gold("14"), _parse_math("2+12"))
    False
    """
    if not gold or not pred:
        return False
    gold_value, pred_value = gold[0], _unwrap_assignment(pred[0], gold[0])
    if pred_value is None:
        return False
    if isinstance(gold_value, sympy.Number):
        if not isinstance(pred_value, sympy.Number):
            return False
        if isinstance(gold_value, sympy.Rational) and isinstance(pred_value, sympy.Rational):
            return bool(gold_value == pred_value)
    return verify(gold_value, pred_value, timeout_seconds=None)


def _math_score(text: str, gold: Any) -> float | None:
    """Score one completion against one gold answer (0.0 or 1.0; ``None`` without gold).

    >>> _math_score("so <answer>\\\\frac{3}{4}</answer>", "0.75")
    1.0
    >>> _math_score("<answer>14 or 15</answer>", "14")
    0.0
    """
    if gold is None:
        return None
    answer = extract_answer(text)
    answer = _normalize_math_answer(answer) if answer is not None else None
    if answer is None:
        return 0.0
    try:
        with _time_limit(MATH_TIME_LIMIT_S):
            return float(_math_match(_parse_gold(str(gold)), _parse_math(answer)))
    except (Exception, _MathTimeout):
        return 0.0


def math_reward(completions: list, answer: list, **kwargs: Any) -> list[float | None]:
    """1.0 when the last ``<answer>`` is mathematically equal to the gold ``answer``, else 0.0.

    >>> math_reward(["<answer>14</answer>", "<answer>14 or 15</answer>", "14"], answer=["14"] * 3)
    [1.0, 0.0, 0.0]
    """
    return [_math_score(text, gold) for text, gold in text_rows(completions, answer)]
