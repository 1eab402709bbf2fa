"""Reward functions for RL fine-tuning, with TRL's reward signature.

Every reward is ``f(completions, **kwargs) -> list[float | None]``:

* ``completions`` is a list of strings, or a list of conversational completions
  (lists of ``{"role": ..., "content": ...}`` dicts; the last message is scored);
* extra dataset columns arrive as keyword lists aligned with ``completions``
  (``answer=[...]``, ``numbers=[...]``, ...). Anything else TRL passes
  (``prompts``, ``completion_ids``, ``trainer_state``, ``log_extra``,
  ``log_metric``, ...) is accepted and ignored;
* a row whose gold column is ``None`` gets ``None`` ("not applicable"), which
  TRL ignores when several rewards are mixed over a multi-task dataset.

Answer convention: optional reasoning, then ``<answer>...</answer>``. Only the
content of the LAST complete ``<answer>...</answer>`` pair is checked; tags are
case-sensitive.

Rewards (``REWARDS`` / ``get_reward``):

``math``
    1.0 when the answer equals the gold answer according to ``math_verify``,
    else 0.0. The answer must be a final value: when the gold answer is a plain
    number the prediction must be a plain number too, so unevaluated arithmetic
    (``2+12``), equations (``7*2 = 14``), several candidates (``14 or 15``)
    and juxtaposed numbers (``7 7``, which math_verify reads as 7 + 7) score 0.
    An assignment ``x = 14`` is accepted.
``countdown``
    TinyZero's rule: 0.0 without an answer tag, 0.1 for a present but wrong or
    invalid answer, 1.0 when the expression uses the given numbers exactly once
    each and equals the target. Only non-negative integer literals, ``+ - * /``
    and parentheses are allowed: no unary minus or plus (every number is used
    as given), no ``**``. An optional trailing ``= <target>`` is stripped; any
    other ``=`` makes the answer invalid. Evaluated exactly (fractions) by a
    small AST walker, never ``eval``.
``knights_knaves``
    P3's all-or-nothing rule: 1.0 when every person of the gold answer gets the
    right role word and the answer names nobody else, gives nobody two roles,
    has exactly as many role words as there are people, and contains nothing
    but ``<Name> is a/an <role>`` clauses joined by commas, semicolons, ``and``,
    full stops or new lines, each optionally numbered (``(1)``, ``1.``, ``1)``).
    Gold and answer may be reasoning-gym sentences (``A is a hero, and B is a
    villain.``) or P3's numbered list (``(1) A is a knight\\n(2) B is a knave``);
    order and case do not matter.
``zebra``
    P3's cell accuracy for logic grid puzzles: the answer is JSON
    ``{"House 1": {"Name": "Alice", ...}, ...}`` (or P3's ``{"reasoning": ...,
    "solution": {...}}``, optionally in a code fence) and scores correct cells /
    gold cells. Houses are matched one to one by key (``House 1`` with ``House 1``
    only; case and spaces ignored), category keys and values compared after
    stripping, ignoring case. Unknown keys are ignored; missing, non-string and
    duplicated (after normalising) cells count wrong; non-JSON or answers over
    ``ZEBRA_MAX_ANSWER_CHARS`` score 0.0.
``format``
    1.0 when the completion is reasoning (free text, or one ``<think>...</think>``
    block, possibly opened by the chat template so only ``</think>`` appears)
    followed by exactly one non-empty ``<answer>...</answer>`` and nothing but
    whitespace after it.
``code``
    P3's rule for model-written Python: ``</think>``, then a fenced code block
    inside the last ``<answer>``; 1.0 only when every ``assert`` of the row's
    ``test_list`` passes, run in ``rlkit.sandbox`` and judged outside the
    untrusted process (``rlkit.code_reward``), else 0.0.

math_verify notes: its own timeouts use ``signal.alarm``, which raises in any
thread other than the main one and only counts whole seconds. This module turns
them off and applies its own time budget (``MATH_TIME_LIMIT_S`` per completion,
``signal.setitimer``) in the main thread (TRL and Jupyter run rewards there).
In other threads there is no timer and only the cheap input screens protect
against slow inputs: a hostile symbolic answer such as ``\\binom{10^9}{10^8}``
against a symbolic gold can then run for a long time. The warning math_verify
logs once when its timeouts are off is filtered out. The whole answer is parsed
as if it were ``\\boxed{answer}``; floats are compared to about 6 decimals
(``0.1000001`` counts as ``0.1``), integers and fractions exactly.
"""

from __future__ import annotations

import ast
import json
import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from functools import lru_cache
from typing import Any

import sympy
from math_verify import LatexExtractionConfig, parse, verify

from rlkit.code_reward import code_reward

__all__ = [
    "KNIGHTS_KNAVES_ROLES",
    "REQUIRED_COLUMNS",
    "REWARDS",
    "code_reward",
    "completion_text",
    "countdown_reward",
    "countdown_value",
    "exact_reward",
    "extract_answer",
    "format_reward",
    "get_reward",
    "knights_knaves_reward",
    "make_verifier",
    "math_reward",
    "parse_identities",
    "zebra_reward",
]

ANSWER_OPEN, ANSWER_CLOSE = "<answer>", "</answer>"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"

MATH_TIME_LIMIT_S = 1.0  # budget for parsing and comparing one completion
MATH_MAX_ANSWER_CHARS = 256  # longer "final answers" score 0 without parsing
MATH_MAX_NESTING = 12  # deeper bracket nesting scores 0 without parsing
COUNTDOWN_MAX_CHARS = 200
COUNTDOWN_MAX_NODES = 64
ZEBRA_MAX_ANSWER_CHARS = 5000  # longer zebra answers score 0 without parsing


# --------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------


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


def _rows(completions: list, *columns: list | None) -> Iterator[tuple]:
    """Yield ``(text, *column_values)`` per completion; missing columns give ``None``.

    >>> list(_rows(["a", [{"role": "assistant", "content": "b"}]], [1, 2]))
    [('a', 1), ('b', 2)]
    """
    filled = [col if col is not None else [None] * len(completions) for col in columns]
    for completion, *values in zip(completions, *filled, strict=True):
        yield (completion_text(completion), *values)


# --------------------------------------------------------------------------
# math
# --------------------------------------------------------------------------


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
    return [_math_score(text, gold) for text, gold in _rows(completions, answer)]


# --------------------------------------------------------------------------
# countdown
# --------------------------------------------------------------------------


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
    rows = _rows(completions, numbers, target)
    return [_countdown_score(text, nums, goal) for text, nums, goal in rows]


# --------------------------------------------------------------------------
# knights and knaves
# --------------------------------------------------------------------------

# The (truth-teller, liar) role pairs of reasoning_gym/logic/knights_knaves.py.
KNIGHTS_KNAVES_ROLES: tuple[tuple[str, str], ...] = (
    ("knight", "knave"),
    ("pioneer", "laggard"),
    ("saint", "sinner"),
    ("hero", "villain"),
    ("angel", "devil"),
    ("altruist", "egoist"),
    ("sage", "fool"),
)
_ROLE_WORDS = frozenset(word for pair in KNIGHTS_KNAVES_ROLES for word in pair)
_CLAUSE_SPLIT = re.compile(r"[,;.\n]|\band\b", re.IGNORECASE)
_CLAUSE = re.compile(r"([^\W\d_][\w'-]*)\s+is\s+(?:an?\s+)?([a-z]+)", re.IGNORECASE)
# A list number "(1)", "1." or "1)" at the start of a line or after a comma, semicolon or "and".
_ENUMERATOR = re.compile(r"(^|[,;]|\band\b)[ \t]*(?:\(\d{1,2}\)|\d{1,2}[.)])", re.MULTILINE | re.IGNORECASE)


def parse_identities(text: str) -> dict[str, str] | None:
    """Parse ``"A is a knight, and B is a knave."`` into ``{"a": "knight", "b": "knave"}``.

    Clauses may be numbered as in P3's answers (``"(1) A is a knight\\n(2) B is a knave"``).
    Returns ``None`` when any clause is not ``<Name> is a/an <role>``, a role
    word is unknown, someone gets two roles, or nobody is named.

    >>> parse_identities("Amelia is a hero, and Elizabeth is a villain.")
    {'amelia': 'hero', 'elizabeth': 'villain'}
    >>> parse_identities("(1) Aurora is a knight\\n(2) Logan is a knave")
    {'aurora': 'knight', 'logan': 'knave'}
    >>> parse_identities("Amelia is a hero or a villain") is None
    True
    """
    identities: dict[str, str] = {}
    for clause in _CLAUSE_SPLIT.split(_ENUMERATOR.sub(r"\1", text)):
        clause = clause.strip().strip("\"'*` ")
        if not clause:
            continue
        match = _CLAUSE.fullmatch(clause)
        if match is None or match.group(2).lower() not in _ROLE_WORDS:
            return None
        name, role = match.group(1).lower(), match.group(2).lower()
        if identities.setdefault(name, role) != role:
            return None
    return identities or None


@lru_cache(maxsize=64)
def _role_word_pattern(roles: frozenset[str]) -> re.Pattern:
    """Whole role words (singular or plural) of every role pair that ``roles`` come from.

    >>> len(_role_word_pattern(frozenset({"knight"})).findall("Knights: Bob is a knave, Sage is a knight"))
    3
    """
    words = sorted(word for pair in KNIGHTS_KNAVES_ROLES if roles & set(pair) for word in pair)
    return re.compile(r"\b(?:" + "|".join(words) + r")s?\b", re.IGNORECASE)


def _knights_knaves_score(text: str, gold: str | None) -> float | None:
    """1.0 when the answer assigns exactly the gold roles, else 0.0.

    As in P3, the answer must also contain exactly one role word (of the gold's role pair) per person.

    >>> _knights_knaves_score("<answer>elizabeth is a villain; Amelia is hero</answer>",
    ...                       "Amelia is a hero, and Elizabeth is a villain.")
    1.0
    """
    if gold is None:
        return None
    answer = extract_answer(text)
    gold_roles = parse_identities(str(gold))
    if answer is None or gold_roles is None:
        return 0.0
    if len(_role_word_pattern(frozenset(gold_roles.values())).findall(answer)) != len(gold_roles):
        return 0.0
    return 1.0 if parse_identities(answer) == gold_roles else 0.0


def knights_knaves_reward(completions: list, answer: list, **kwargs: Any) -> list[float | None]:
    """1.0 when every person gets the right identity (reasoning-gym sentences or P3's numbered list), else 0.0.

    >>> gold = ["Amelia is a hero, and Elizabeth is a villain."] * 2
    >>> knights_knaves_reward(["<answer>Elizabeth is a villain and Amelia is a hero</answer>",
    ...                        "<answer>Amelia is a hero</answer>"], answer=gold)
    [1.0, 0.0]
    >>> knights_knaves_reward(["<answer>(1) Zoey is a knave\\n(2) Luke is a knight</answer>"],
    ...                       answer=["(1) Zoey is a knave\\n(2) Luke is a knight"])
    [1.0]
    """
    return [_knights_knaves_score(text, gold) for text, gold in _rows(completions, answer)]


# --------------------------------------------------------------------------
# zebra (logic grid puzzles)
# --------------------------------------------------------------------------

_CODE_FENCE = re.compile(r"```(?:json)?\s*(.*?)\s*```", re.DOTALL | re.IGNORECASE)


def _zebra_json(answer: str) -> Any:
    """Parse a zebra answer as JSON (inside an optional code fence); ``None`` when too long or invalid.

    >>> _zebra_json('```json\\n{"House 1": {"Name": "Bob"}}\\n```')
    {'House 1': {'Name': 'Bob'}}
    >>> _zebra_json("[" * 3000 + "]" * 3000) is None  # too long
    True
    """
    if len(answer) > ZEBRA_MAX_ANSWER_CHARS:
        return None
    fenced = _CODE_FENCE.fullmatch(answer.strip())
    try:
        return json.loads(fenced.group(1) if fenced else answer)
    except (ValueError, RecursionError):  # JSONDecodeError, oversized integers, deep nesting
        return None


def _zebra_cells(grid: Any) -> dict[tuple[str, str], str | None]:
    """Flatten ``{"House 1": {"Name": "Bob"}}`` into ``{("house1", "name"): "bob"}``.

    House keys lose all spaces and case, category keys and values their outer spaces and case.
    Non-string values become ``None``; a cell given twice (``"House 1"`` and ``"house1"``) is dropped.

    >>> _zebra_cells({"HOUSE 1": {" Name ": " BOB", "Pet": 3}, "x": []})
    {('house1', 'name'): 'bob', ('house1', 'pet'): None}
    """
    cells: dict[tuple[str, str], str | None] = {}
    repeated: set[tuple[str, str]] = set()
    for house, row in grid.items() if isinstance(grid, dict) else ():
        if not isinstance(row, dict):
            continue
        for category, value in row.items():
            key = ("".join(str(house).split()).lower(), str(category).strip().lower())
            if key in cells or key in repeated:
                repeated.add(key)
                cells.pop(key, None)
                continue
            cells[key] = value.strip().lower() if isinstance(value, str) else None
    return cells


@lru_cache(maxsize=4096)
def _zebra_gold_cells(gold: str) -> tuple[tuple[tuple[str, str], str | None], ...]:
    """The gold grid's cells (cached per gold string); empty when the gold is not a JSON grid.

    >>> _zebra_gold_cells('{"House 1": {"Name": "Bob"}}')
    ((('house1', 'name'), 'bob'),)
    """
    return tuple(_zebra_cells(_zebra_json(gold)).items())


def _zebra_score(text: str, gold: Any) -> float | None:
    """Share of gold cells the last ``<answer>`` gets right (0.0 to 1.0; ``None`` without gold).

    >>> gold = '{"House 1": {"Name": "Bob", "Pet": "cat"}, "House 2": {"Name": "Eve", "Pet": "dog"}}'
    >>> _zebra_score('<answer>{"House 1": {"Name": "Bob", "Pet": "dog"}}</answer>', gold)
    0.25
    """
    if gold is None:
        return None
    gold_cells = _zebra_cells(gold) if isinstance(gold, dict) else dict(_zebra_gold_cells(str(gold)))
    answer = extract_answer(text)
    if answer is None or not gold_cells:
        return 0.0
    grid = _zebra_json(answer)
    if isinstance(grid, dict) and isinstance(grid.get("solution"), dict):
        grid = grid["solution"]  # P3's {"reasoning": ..., "solution": {...}}
    predicted = _zebra_cells(grid)
    right = sum(1 for key, value in gold_cells.items() if value is not None and predicted.get(key) == value)
    return right / len(gold_cells)


def zebra_reward(completions: list, solution: list, **kwargs: Any) -> list[float | None]:
    """P3's cell accuracy: correct cells of the JSON grid in the last ``<answer>`` / gold cells.

    Houses are compared one to one by key, so repeating one right house under every key earns only
    that house's cells.

    >>> gold = ['{"House 1": {"Name": "Bob"}, "House 2": {"Name": "Eve"}}'] * 3
    >>> zebra_reward(['<answer>{"house 1": {"name": "bob"}, "House 2": {"Name": "Eve"}}</answer>',
    ...               '<answer>{"House 1": {"Name": "Bob"}, "House 2": {"Name": "Bob"}}</answer>',
    ...               '<answer>Bob, Eve</answer>'], solution=gold)
    [1.0, 0.5, 0.0]
    """
    return [_zebra_score(text, gold) for text, gold in _rows(completions, solution)]


# --------------------------------------------------------------------------
# format
# --------------------------------------------------------------------------

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
    return [_format_score(text) for (text,) in _rows(completions)]


# --------------------------------------------------------------------------
# exact (the offline instruction task)
# --------------------------------------------------------------------------


def _normalize_text(text: str) -> str:
    return " ".join(text.split()).rstrip(".").lower()


def exact_reward(completions: list, answer: list, **kwargs: Any) -> list[float | None]:
    """1.0 when the last ``<answer>`` equals the gold text (case, spacing and a final period ignored).

    Used by the offline ``instruct`` task, whose answers are exact strings ("elppa", "2, 5, 9").

    >>> exact_reward(["<answer>ELPPA</answer>", "<answer>elpa</answer>", "elppa"], answer=["elppa"] * 3)
    [1.0, 0.0, 0.0]
    """
    scores: list[float | None] = []
    for text, gold in _rows(completions, answer):
        if gold is None:
            scores.append(None)
            continue
        found = extract_answer(text)
        ok = found is not None and found.strip() != "" and _normalize_text(found) == _normalize_text(str(gold))
        scores.append(1.0 if ok else 0.0)
    return scores


# --------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------

REWARDS: dict[str, Callable[..., list[float | None]]] = {
    "math": math_reward,
    "countdown": countdown_reward,
    "knights_knaves": knights_knaves_reward,
    "zebra": zebra_reward,
    "format": format_reward,
    "exact": exact_reward,
    "code": code_reward,
}

REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "math": ("answer",),
    "countdown": ("numbers", "target"),
    "knights_knaves": ("answer",),
    "zebra": ("solution",),
    "format": (),
    "exact": ("answer",),
    "code": ("test_list",),
}


def get_reward(name: str) -> Callable[..., list[float | None]]:
    """Return the reward function registered under ``name``.

    >>> get_reward("format").__name__
    'format_reward'
    >>> get_reward("speed")
    Traceback (most recent call last):
    ...
    ValueError: Unknown reward 'speed'; valid names: code, countdown, exact, format, knights_knaves, math, zebra
    """
    if name not in REWARDS:
        valid = ", ".join(sorted(REWARDS))
        raise ValueError(f"Unknown reward {name!r}; valid names: {valid}")
    return REWARDS[name]


def make_verifier(name: str) -> Callable[..., list[bool]]:
    """Return ``check(completions, **columns) -> list[bool]``: correct means reward == 1.0.

    >>> check = make_verifier("countdown")
    >>> check(["<answer>1 + 2</answer>", "<answer>1 - 2</answer>"], numbers=[[1, 2]] * 2, target=[3] * 2)
    [True, False]
    """
    reward = get_reward(name)

    def check(completions: list, **columns: Any) -> list[bool]:
        return [score == 1.0 for score in reward(completions, **columns)]

    check.__name__ = f"{name}_correct"
    return check
