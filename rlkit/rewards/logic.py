"""The logic-puzzle rewards: ``knights_knaves`` (P3's all-or-nothing rule) and ``zebra`` (P3's cell accuracy,
houses matched one to one)."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from rlkit.rewards.common import extract_answer, text_rows

ZEBRA_MAX_ANSWER_CHARS = 5000  # longer zebra answers score 0 without parsing


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
    return [_knights_knaves_score(text, gold) for text, gold in text_rows(completions, answer)]


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
    return [_zebra_score(text, gold) for text, gold in text_rows(completions, solution)]
