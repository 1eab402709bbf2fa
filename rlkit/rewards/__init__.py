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
    untrusted process (``rlkit.rewards.code``), else 0.0.

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

from collections.abc import Callable
from typing import Any

from rlkit.rewards.code import code_reward
from rlkit.rewards.common import completion_text, extract_answer
from rlkit.rewards.countdown import countdown_reward, countdown_value
from rlkit.rewards.exact import exact_reward
from rlkit.rewards.format import format_reward
from rlkit.rewards.logic import KNIGHTS_KNAVES_ROLES, knights_knaves_reward, parse_identities, zebra_reward
from rlkit.rewards.math import math_reward

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
