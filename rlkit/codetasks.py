"""Offline code tasks: small Python functions described step by step and judged by MBPP-style asserts.

``code_tasks(seed, steps=(1, 3))`` yields endless seeded items. Each asks for a function ``solve`` of one
argument (an integer ``n``, a list of integers ``xs`` or a string ``s``) that applies one to three
numbered operations in order, for example::

    Write a Python function solve(xs) for a list of integers xs:
    1. keep the even numbers
    2. add 3 to each number
    3. return their sum
    Your code should pass this test:
    assert solve([4, 1, 6]) == 16

The gold answer writes each step as a comment, then its line of code, in the order of the steps::

    def solve(xs):
        # 1. keep the even numbers
        xs = [x for x in xs if x % 2 == 0]
        # 2. add 3 to each number
        xs = [x + 3 for x in xs]
        # 3. return their sum
        return sum(xs)

``test_list`` holds the shown assert and three hidden ones (MBPP's schema), computed by plain Python
functions of the kit's own (never by running generated text), so every gold answer passes its tests
(``tests/test_codetasks.py`` runs them in the sandbox). An operation whose result would be empty, or
that fails on a test input (``max`` of an empty list), is redrawn, and so is a function whose tests all expect
the same value. ``level`` is the number of steps.

Why step lists and comments: the tiny offline model cannot look up "step 2" in a list it has read (the
testbed's log, docs/testbed.md, measures this), but it can continue a span it has seen ("# 2." then the step's
words) and turn the comment just above into a line of code. Free-form descriptions need a real model
(the gpu profile trains and evaluates on MBPP and HumanEval).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

__all__ = ["CODE_TEST_HEADER", "CODE_THINK", "OPS", "Op", "code_tasks", "operations", "render_code"]

CODE_THINK = "Translate each step into one line of code."
CODE_TEST_HEADER = "Your code should pass this test:"
STEP_SUPPORT = (1, 4)  # levels the generator supports
N_TESTS = 4  # the first is shown in the question
_VARIABLE = {"int": "n", "list": "xs", "str": "s"}
_DESCRIPTION = {"int": "an integer n", "list": "a list of integers xs", "str": "a string s"}
_LETTERS = "aeinorst"
WORDS = (  # string inputs here, and the words of rlkit.data's instruction rows
    "apple river stone cloud garden pencil window rocket silver forest candle bridge planet tiger "
    "orange music summer yellow number castle dragon winter letter button circle market island "
    "puzzle mirror jacket pocket basket rabbit turtle violin hammer ladder needle bottle camera "
    "dinner helmet kitten lemon magnet napkin parrot pepper saddle shadow spider ticket wallet "
    "anchor blanket canvas desert engine falcon galaxy harbor lantern meadow nectar oyster pillow "
    "quartz ribbon sunset thunder velvet walnut zipper honey piano cookie"
).split()


@dataclass(frozen=True)
class Op:
    """One step: what it takes and gives (``int``/``list``/``str``), its wording, its line of code and its meaning.

    ``phrase`` and ``code`` are format strings over ``k`` (a number) and ``c``/``d`` (letters); ``apply(value, k,
    c, d)`` is the same operation in Python. Reductions (``final``) end a function: their line is a ``return``.
    """

    name: str
    takes: str
    gives: str
    phrase: str
    code: str
    apply: Callable
    k_range: tuple[int, int] = (0, 0)
    final: bool = False


def _ops() -> dict[str, Op]:
    ops = [
        Op("add", "int", "int", "add {k}", "n = n + {k}", lambda n, k, c, d: n + k, (1, 9)),
        Op("sub", "int", "int", "subtract {k}", "n = n - {k}", lambda n, k, c, d: n - k, (1, 9)),
        Op("mul", "int", "int", "multiply by {k}", "n = n * {k}", lambda n, k, c, d: n * k, (2, 5)),
        Op("mod", "int", "int", "take the remainder after dividing by {k}", "n = n % {k}",
           lambda n, k, c, d: n % k, (2, 9)),
        Op("div", "int", "int", "divide by {k}, rounding down", "n = n // {k}", lambda n, k, c, d: n // k, (2, 5)),
        Op("square", "int", "int", "square it", "n = n * n", lambda n, k, c, d: n * n),
        Op("even", "list", "list", "keep the even numbers", "xs = [x for x in xs if x % 2 == 0]",
           lambda xs, k, c, d: [x for x in xs if x % 2 == 0]),
        Op("odd", "list", "list", "keep the odd numbers", "xs = [x for x in xs if x % 2 == 1]",
           lambda xs, k, c, d: [x for x in xs if x % 2 == 1]),
        Op("greater", "list", "list", "keep the numbers greater than {k}", "xs = [x for x in xs if x > {k}]",
           lambda xs, k, c, d: [x for x in xs if x > k], (1, 9)),
        Op("add_each", "list", "list", "add {k} to each number", "xs = [x + {k} for x in xs]",
           lambda xs, k, c, d: [x + k for x in xs], (1, 9)),
        Op("mul_each", "list", "list", "multiply each number by {k}", "xs = [x * {k} for x in xs]",
           lambda xs, k, c, d: [x * k for x in xs], (2, 5)),
        Op("sort", "list", "list", "sort them from smallest to largest", "xs = sorted(xs)",
           lambda xs, k, c, d: sorted(xs)),
        Op("reverse", "list", "list", "reverse their order", "xs = xs[::-1]", lambda xs, k, c, d: xs[::-1]),
        Op("first", "list", "list", "keep the first {k} numbers", "xs = xs[:{k}]", lambda xs, k, c, d: xs[:k], (1, 4)),
        Op("sum", "list", "int", "return their sum", "return sum(xs)", lambda xs, k, c, d: sum(xs), final=True),
        Op("len", "list", "int", "return how many there are", "return len(xs)", lambda xs, k, c, d: len(xs),
           final=True),
        Op("max", "list", "int", "return the largest", "return max(xs)", lambda xs, k, c, d: max(xs), final=True),
        Op("min", "list", "int", "return the smallest", "return min(xs)", lambda xs, k, c, d: min(xs), final=True),
        Op("upper", "str", "str", "make it upper case", "s = s.upper()", lambda s, k, c, d: s.upper()),
        Op("reverse_s", "str", "str", "reverse it", "s = s[::-1]", lambda s, k, c, d: s[::-1]),
        Op("remove", "str", "str", "remove every letter {c}", 's = s.replace("{c}", "")',
           lambda s, k, c, d: s.replace(c, "")),
        Op("replace", "str", "str", "replace every letter {c} with {d}", 's = s.replace("{c}", "{d}")',
           lambda s, k, c, d: s.replace(c, d)),
        Op("prefix", "str", "str", "keep the first {k} letters", "s = s[:{k}]", lambda s, k, c, d: s[:k], (1, 5)),
        Op("repeat", "str", "str", "repeat it {k} times", "s = s * {k}", lambda s, k, c, d: s * k, (2, 3)),
        Op("length", "str", "int", "return its length", "return len(s)", lambda s, k, c, d: len(s), final=True),
        Op("count", "str", "int", "return how many times the letter {c} appears", 'return s.count("{c}")',
           lambda s, k, c, d: s.count(c), final=True),
    ]
    return {op.name: op for op in ops}


OPS: dict[str, Op] = _ops()

Step = tuple[Op, int, str, str]  # an operation with its constants k, c, d


def _phrase_pattern(op: Op) -> re.Pattern:
    """The op's wording with its constants as wildcards: ``add {k}`` matches ``add 7``."""
    wild = {"k": r"-?\d+", "c": "[a-z]", "d": "[a-z]"}
    return re.compile(re.sub(r"\\\{([kcd])\\\}", lambda m: wild[m.group(1)], re.escape(op.phrase)))


_PATTERNS = {name: _phrase_pattern(op) for name, op in OPS.items()}


def operations(question: str) -> list[str]:
    """The operation each numbered step of a code task's question names (:data:`OPS` keys), in order; the
    closing ``return n`` that ends a function without a reduction is not an operation.

    >>> operations("Write a Python function solve(xs) for a list of integers xs:\\n1. keep the numbers greater "
    ...            "than 4\\n2. return the smallest\\nYour code should pass this test:\\nassert solve([5, 9]) == 5")
    ['greater', 'min']
    """
    found = []
    for line in question.splitlines():
        step = re.fullmatch(r"\d+\. (.+)", line.strip())
        name = step and next((n for n, pattern in _PATTERNS.items() if pattern.fullmatch(step.group(1))), None)
        if name:
            found.append(name)
    return found


def _random_input(kind: str, rng: random.Random):
    if kind == "int":
        return rng.randint(0, 30)
    if kind == "list":
        return [rng.randint(0, 20) for _ in range(rng.randint(3, 6))]
    return rng.choice(WORDS)


def _run_steps(steps: list[Step], value):
    for op, k, c, d in steps:
        value = op.apply(value, k, c, d)
    return value


def _random_step(kind: str, rng: random.Random, last: bool, previous: Op | None) -> Step:
    """One operation taking ``kind``, never ``previous`` again; reductions only as the last step, one time in two."""
    options = [op for op in OPS.values() if op.takes == kind and (not op.final or last) and op is not previous]
    if last and rng.random() < 0.5:
        options = [op for op in options if op.final] or options
    op = rng.choice(options)
    c, d = rng.sample(_LETTERS, 2)
    return op, rng.randint(*op.k_range), c, d


def render_code(kind: str, steps: list[Step]) -> str:
    """The gold function: each numbered step as a comment above its line of code, as in the question.

    >>> print(render_code("int", [(OPS["add"], 3, "a", "e"), (OPS["square"], 0, "a", "e")]))
    def solve(n):
        # 1. add 3
        n = n + 3
        # 2. square it
        n = n * n
        # 3. return n
        return n
    """
    lines = [f"def solve({_VARIABLE[kind]}):"]
    for number, (step, line) in enumerate(zip(_step_texts(kind, steps), _code_lines(kind, steps), strict=True), 1):
        lines += [f"    # {number}. {step}", f"    {line}"]
    return "\n".join(lines)


def _step_texts(kind: str, steps: list[Step]) -> list[str]:
    """The wording of each step, and ``return <variable>`` when no step returns."""
    texts = [op.phrase.format(k=k, c=c, d=d) for op, k, c, d in steps]
    return texts if steps[-1][0].final else [*texts, f"return {_VARIABLE[kind]}"]


def _code_lines(kind: str, steps: list[Step]) -> list[str]:
    """The line of code of each step, and ``return <variable>`` when no step returns."""
    lines = [op.code.format(k=k, c=c, d=d) for op, k, c, d in steps]
    return lines if steps[-1][0].final else [*lines, f"return {_VARIABLE[kind]}"]


def _question(kind: str, steps: list[Step], shown_test: str) -> str:
    var = _VARIABLE[kind]
    numbered = [f"{i}. {text}" for i, text in enumerate(_step_texts(kind, steps), 1)]
    return "\n".join([f"Write a Python function solve({var}) for {_DESCRIPTION[kind]}:", *numbered,
                      CODE_TEST_HEADER, shown_test])


def _tests(kind: str, steps: list[Step], rng: random.Random) -> list[str] | None:
    """``N_TESTS`` distinct asserts, or None when an input breaks a step, empties the value, or every test expects
    the same result (a constant answer such as ``return 0`` must not pass)."""
    tests, results = [], set()
    for _ in range(4 * N_TESTS):
        value = _random_input(kind, rng)
        try:
            result = _run_steps(steps, value)
        except ValueError:  # max()/min() of an empty list
            return None
        if result in ("", []):
            continue
        test = f"assert solve({value!r}) == {result!r}"
        if test not in tests:
            tests.append(test)
            results.add(repr(result))
        if len(tests) == N_TESTS:
            return tests if len(results) > 1 else None
    return None


def code_tasks(seed: int, steps: tuple[int, int] = (1, 3)) -> Iterator[dict]:
    """Endless items ``{"question", "code", "test_list", "level"}``; ``level`` = the number of steps (in ``steps``)."""
    low, high = steps
    if not STEP_SUPPORT[0] <= low <= high <= STEP_SUPPORT[1]:
        raise ValueError(f"steps={steps} must lie within {STEP_SUPPORT}")
    rng = random.Random(seed)
    while True:
        kind, n_steps = rng.choice(tuple(_VARIABLE)), rng.randint(low, high)
        chosen: list[Step] = []
        for i in range(n_steps):
            current = chosen[-1][0].gives if chosen else kind
            chosen.append(_random_step(current, rng, i == n_steps - 1, chosen[-1][0] if chosen else None))
        tests = _tests(kind, chosen, rng)
        if tests is None:
            continue
        yield {"question": _question(kind, chosen, tests[0]), "code": render_code(kind, chosen),
               "test_list": tests, "level": n_steps}
