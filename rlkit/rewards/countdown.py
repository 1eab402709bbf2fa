"""The ``countdown`` reward (TinyZero's rule), evaluated exactly by a small AST walker, never ``eval``."""

from __future__ import annotations

import ast
import re
from fractions import Fraction
from typing import Any

from rlkit.rewards.common import extract_answer, text_rows

COUNTDOWN_MAX_CHARS = 200
COUNTDOWN_MAX_NODES = 64


class _InvalidExpression(ValueError):
    """The countdown answer is not an allowed arithmetic expression."""


_COUNTDOWN_CHARS = re.compile(r"[0-9+\-*/()\s]+")
_TRAILING_EQUALS = re.compile(r"(.*?)\s*=\s*(-?\d+)\s*")
_BINARY_OPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


def _strip_target(expr: str, target: int) -> str:
    """Drop a trailing ``= target``; any other ``=`` is invalid.

    >>> _strip_target("(1 + 2) * 3 = 9", 9)
    '(1 + 2) * 3'
    """
    match = _TRAILING_EQUALS.fullmatch(expr)
    if match and int(match.group(2)) == target and "=" not in match.group(1):
        return match.group(1)
    if "=" in expr:
        raise _InvalidExpression("'=' is only allowed as a trailing '= target'")
    return expr


def _eval_node(node: ast.AST, used: list[int]) -> Fraction:
    """Evaluate an allowed AST node exactly, appending every integer literal to ``used``.

    >>> used = []
    >>> _eval_node(ast.parse("(3 + 5) / 2", mode="eval").body, used), used
    (Fraction(4, 1), [3, 5, 2])
    """
    if isinstance(node, ast.Constant) and type(node.value) is int:
        used.append(node.value)
        return Fraction(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY_OPS:
        left, right = _eval_node(node.left, used), _eval_node(node.right, used)
        if isinstance(node.op, ast.Div) and right == 0:
            raise _InvalidExpression("division by zero")
        return _BINARY_OPS[type(node.op)](left, right)
    raise _InvalidExpression(f"{type(node).__name__} is not allowed")


def countdown_value(expr: str, numbers: list[int], target: int) -> Fraction | None:
    """Value of a countdown expression that uses exactly ``numbers``; ``None`` if invalid.

    >>> countdown_value("5*(65 + 35)", [65, 5, 35], 500)
    Fraction(500, 1)
    >>> countdown_value("5*65", [65, 5, 35], 500) is None  # 35 unused
    True
    """
    try:
        expr = _strip_target(expr.strip(), target)
        if len(expr) > COUNTDOWN_MAX_CHARS or not _COUNTDOWN_CHARS.fullmatch(expr):
            return None
        tree = ast.parse(expr, mode="eval")
        if sum(1 for _ in ast.walk(tree)) > COUNTDOWN_MAX_NODES:
            return None
        used: list[int] = []
        value = _eval_node(tree.body, used)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return value if sorted(used) == sorted(int(n) for n in numbers) else None


def _countdown_score(text: str, numbers: list[int] | None, target: int | None) -> float | None:
    """0.0 without an answer tag, 0.1 when wrong or invalid, 1.0 when correct.

    >>> _countdown_score("<answer>81 + 75 - 9</answer>", [9, 81, 75], 147)
    1.0
    """
    if numbers is None or target is None:
        return None
    answer = extract_answer(text)
    if answer is None:
        return 0.0
    value = countdown_value(answer, numbers, int(target))
    return 1.0 if value is not None and abs(value - int(target)) < 1e-5 else 0.1


def countdown_reward(
    completions: list, numbers: list, target: list, **kwargs: Any
) -> list[float | None]:
    """TinyZero countdown reward: 0.0 no answer tag, 0.1 wrong/invalid, 1.0 correct.

    >>> countdown_reward(["<answer>4*83 - 34</answer>", "<answer>4*83</answer>", "298"],
    ...                  numbers=[[34, 83, 4]] * 3, target=[298] * 3)
    [1.0, 0.1, 0.0]
    """
    rows = text_rows(completions, numbers, target)
    return [_countdown_score(text, nums, goal) for text, nums, goal in rows]
