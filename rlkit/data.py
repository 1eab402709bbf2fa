"""One task registry, every task in TRL's dataset formats.

Offline tasks are generated from a seed by ``reasoning-gym`` (and a small instruction generator of
the kit's own); hub tasks (the ``gpu`` profile) load real datasets. Every row carries:

- ``prompt``: conversational messages (system + user), TRL's "prompt-only"/"prompt-completion" format
- ``completion``: one gold assistant message (used by SFT; RL ignores it)
- the columns the task's reward needs: ``answer`` (str), or ``numbers`` (list[int]) + ``target`` (int), or
  ``test_list`` (list[str] of asserts) for code
- ``task``: the task name

Held-out rows are chosen by a hash of the question text, never by seed, so no training split, no
other seed and no pretraining corpus can contain a held-out question.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rlkit.codetasks import WORDS
from rlkit.errors import RlkitError

SYSTEM_PROMPT = (
    "You are a helpful assistant. Think step by step inside <think> </think>, "
    "then give the final answer inside <answer> </answer>."
)
HELD_OUT_BUCKETS = 10  # 1 question in 10 belongs to the held-out side


def is_held_out(question: str) -> bool:
    """Whether a question belongs to the held-out side of every split (a fixed 10% by hash)."""
    digest = hashlib.sha256(question.encode("utf-8")).digest()
    return digest[0] % HELD_OUT_BUCKETS == 0


def make_row(task: str, question: str, gold: str, **columns) -> dict:
    """A row in TRL's conversational prompt/completion format (``gold``: the assistant's text) plus reward columns."""
    prompt = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}]
    completion = [{"role": "assistant", "content": gold}]
    return {"prompt": prompt, "completion": completion, "task": task, **columns}


def tagged(think: str, answer: str) -> str:
    """The R1 template every offline solution uses."""
    return f"<think>{think}</think>\n<answer>{answer}</answer>"


# ---------------------------------------------------------------- offline task families
# Each generator takes (seed, levels): ``levels`` is an inclusive (low, high) range of the task's
# difficulty knob, and every row records its own ``level`` (curricula pick rows by it).
def _rg_items(name: str, seed: int, **kwargs) -> Iterator[dict]:
    """Endless reasoning-gym items of one dataset.

    reasoning-gym seeds item ``i`` with ``seed + i`` and generates lazily, so one huge dataset is an
    endless stream, and spreading user seeds far apart keeps two seeds from giving shifted copies.
    """
    import reasoning_gym

    yield from reasoning_gym.create_dataset(name, seed=seed * 1_000_003, size=10**9, **kwargs)


def _chain_steps(expression: str) -> tuple[list[str], int]:
    """Left-to-right steps of ``"4 - 1 - 7"``: (["4 - 1 = 3", "3 - 7 = -4"], -4)."""
    tokens = expression.split()
    value, steps = int(tokens[0]), []
    for op, num in zip(tokens[1::2], tokens[2::2]):
        new = value + int(num) if op == "+" else value - int(num)
        steps.append(f"{value} {op} {num} = {new}")
        value = new
    return steps, value


def _arithmetic(seed: int, levels: tuple[int, int]) -> Iterator[dict]:
    """Chain sums of one-digit numbers (reasoning-gym ``chain_sum``); level = the number of terms."""
    low, high = levels
    for item in _rg_items("chain_sum", seed, min_terms=low, max_terms=high, min_digits=1, max_digits=1):
        steps, value = _chain_steps(item["metadata"]["expression"])
        assert str(value) == item["answer"], (item, value)
        yield make_row("arithmetic", item["question"], tagged("\n".join(steps), item["answer"]),
                       answer=item["answer"], level=item["metadata"]["num_terms"])


def _terse_arithmetic(row: dict) -> dict:
    """The same arithmetic row answered in one line, the working skipped: ``<think>4 - 1 - 7 = -4</think>``."""
    expression = question_of(row).rsplit(":", 1)[-1].strip().rstrip("=").strip()
    return {**row, "completion": [{"role": "assistant", "content": tagged(f"{expression} = {row['answer']}",
                                                                          row["answer"])}]}


def _arithmetic_style(row: dict, text: str) -> str | None:
    """``"worked"`` when the reasoning has more than one line, else ``"terse"``; None for a two-term problem,
    where both kinds are the same single line."""
    if row.get("level", 3) < 3:
        return None
    think = text.split("<think>")[-1].split("</think>")[0].strip()
    return "worked" if "\n" in think else "terse"


def countdown_question(numbers: list[int], target: int) -> str:
    """The Countdown question in P3's wording, one wording for the offline and the hub task."""
    return (f"Using the numbers {list(numbers)}, create an equation that equals {target}. You can use basic "
            "arithmetic operations (+, -, *, /) and each number can only be used once.")


def expression_steps(expression: str) -> list[str]:
    """The binary operations of an arithmetic expression in evaluation order, one line each.

    >>> expression_steps("19 + 3 * (9 - 7)")
    ['9 - 7 = 2', '3 * 2 = 6', '19 + 6 = 25']
    """
    import ast
    from fractions import Fraction

    symbols = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}
    steps: list[str] = []

    def value(node) -> Fraction:
        if isinstance(node, ast.Constant):
            return Fraction(node.value)
        left, right, symbol = value(node.left), value(node.right), symbols[type(node.op)]
        result = left + right if symbol == "+" else left - right if symbol == "-" else (
            left * right if symbol == "*" else left / right)
        steps.append(f"{_number(left)} {symbol} {_number(right)} = {_number(result)}")
        return result

    value(ast.parse(expression, mode="eval").body)
    return steps


def _number(value) -> str:
    return str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def pair_results(p: tuple[int, str], q: tuple[int, str], ops: str = "+-*/") -> list[tuple[str, int, str]]:
    """What two numbers make in one operation of ``ops``, in the order +, -, *, / (the larger first for - and /, a
    quotient only when it divides): (the step as written, its value, its expression)."""
    (a, a_text), (b, b_text) = p, q
    (hi, hi_text), (lo, lo_text) = (p, q) if a >= b else (q, p)
    results = {"+": (f"{a} + {b}", a + b, f"{a_text} + {b_text}"),
               "-": (f"{hi} - {lo}", hi - lo, f"{hi_text} - {lo_text}"),
               "*": (f"{a} * {b}", a * b, f"{_bracketed(a_text)} * {_bracketed(b_text)}")}
    if lo > 1 and hi % lo == 0:
        results["/"] = (f"{hi} / {lo}", hi // lo, f"{_bracketed(hi_text)} / {_bracketed(lo_text)}")
    return [results[op] for op in "+-*/" if op in ops and op in results]


def _bracketed(text: str) -> str:
    return f"({text})" if " " in text else text


def _search_three(items: list[tuple[int, str]], target: int, regular: bool = False) -> tuple[list[str], str | None]:
    """Countdown with three numbers searched backwards: for each number x in turn and each last operation, the value
    the other two must make (target - x for a last +, target + x for -, target / x for *, target * x for /), then the
    pair's results in order up to that value. Returns the lines and the expression found (None if none is).

    ``regular``: the last operation is + or - only and a pair's results are +, - and * only, so that every line
    that finds nothing ends after the same three results, whatever divides what (:func:`countdown_search`)."""
    last_ops, pair_ops = ("+-", "+-*") if regular else ("+-*/", "+-*/")
    lines = []
    for i, (x, x_text) in enumerate(items):
        p, q = [item for j, item in enumerate(items) if j != i]
        for need, how, op in ((target - x, f"{target} - {x}", "+"), (target + x, f"{target} + {x}", "-"),
                              (target // x, f"{target} / {x}", "*"), (target * x, f"{target} * {x}", "/")):
            if op not in last_ops or need <= 0 or (op in "*/" and x < 2) or (op == "*" and target % x):
                continue
            steps, found = [], None
            for step, value, expression in pair_results(p, q, pair_ops):
                steps.append(f"{step} = {value}")
                if value == need:
                    found = f"({expression}) {op} {_bracketed(x_text)}"
                    break
            lines.append(f"{how} = {need} from {p[0]} and {q[0]}: {', '.join(steps)} {'yes' if found else 'no'}")
            if found:
                return lines, found
    return lines, None


def countdown_search(numbers: list[int], target: int, rng: random.Random, form: str = "search"
                     ) -> tuple[str, str] | None:
    """A worked Countdown solution by search, for the tiny model's recipe 15 (``"countdown_think": "search"``):
    (reasoning, answer), or None where the search finds nothing.

    The first line restates the question in its own words (``Using the numbers [9, 7, 20] to make 22``; the first
    three words are one token of the tiny tokenizer): to copy a list's first number the model needs something to
    match, and after ``Need 22 from [`` the tiny model got it right about half the time, after the question's own
    phrase every time (docs/testbed.md, recipe 15). Three numbers are then searched backwards, every step written out
    (:func:`_search_three`), up to the first expression that works. Four numbers first join two into one
    (``Join 9 and 7: 9 + 7 = 16``, then ``Need 22 from [...]`` with what is left), a join drawn among those that
    leave a three-number problem the search solves within four tries (or the fewest), then search that. The search
    itself is the same for every row, so what a sampled solution can vary is the join: the first move that RL can
    learn to choose.

    ``form`` is the recipe's ``"countdown_think"``. ``"search"`` (recipe 15) is the above. ``"regular"`` (recipe 16)
    drops division: the last operation is + or -, a pair gives +, - and *, a join + or -. Each line then either stops at
    "yes" or says "no" after exactly three results, and a line never depends on whether one number divides another:
    after recipe 15's SFT the tiny model chose between "yes", "no" and the next result right only 61% of the time,
    teacher-forced (docs/testbed.md). It solves about 4 problems in 5 of P3's distribution, which is what the tiny model
    can learn, not what RL is scored on. ``"first_pair"`` (recipe 17) is the regular search whose join always takes the
    first two numbers listed, by +, - or * (drawn among those that work): recipe 16's model named pairs the list does
    not hold and chose joins nothing in the question decides (docs/testbed.md), so here the pair is copied from a fixed
    place and the operation is the one choice. It solves about 5 four-number problems in 8.

    >>> print(*countdown_search([9, 7, 20], 22, random.Random(0)), sep="\\n")
    Using the numbers [9, 7, 20] to make 22
    22 - 9 = 13 from 7 and 20: 7 + 20 = 27, 20 - 7 = 13 yes
    (20 - 7) + 9
    """
    if form not in COUNTDOWN_FORMS:
        raise ValueError(f"countdown_search: form={form!r}; use one of {tuple(COUNTDOWN_FORMS)}")
    regular = form != "search"  # every form but recipe 15's drops division
    items = [(n, str(n)) for n in numbers]
    restated = f"Using the numbers {list(numbers)} to make {target}"  # the question's own words: see the docstring
    if len(items) == 3:
        lines, found = _search_three(items, target, regular)
        return (f"{restated}\n" + "\n".join(lines), found) if found else None
    if len(items) != 4:
        return None
    solved = []
    joins = [(0, 1)] if form == "first_pair" else itertools.combinations(range(4), 2)
    for i, j in joins:
        rest = [item for k, item in enumerate(items) if k not in (i, j)]
        for step, value, expression in pair_results(items[i], items[j], COUNTDOWN_FORMS[form]):
            if value == 0:  # a zero helps no target: never a join worth teaching
                continue
            lines, found = _search_three(rest + [(value, f"({expression})")], target, regular)
            if found:
                head = (f"{restated}\nJoin {numbers[i]} and {numbers[j]}: {step} = {value}\n"
                        f"Need {target} from {[n for n, _ in rest] + [value]}")
                solved.append((len(lines), head + "\n" + "\n".join(lines), found))
    if not solved:
        return None
    shortest = min(n for n, _, _ in solved)
    _, think, found = rng.choice([s for s in solved if s[0] <= max(shortest, 4)])  # short searches fit the budget
    return think, found


# The recipe setting that makes a task's demonstrations worked out rather than direct, and its values
# (:func:`worked_form`)
COUNTDOWN_FORMS = {"search": "+-*/", "regular": "+-", "first_pair": "+-*"}  # each form and its join's operations
WORKED_FORMS = {"knights_knaves": ("puzzle_think", ("cases",)),
                "countdown": ("countdown_think", tuple(COUNTDOWN_FORMS)),
                "zebra": ("zebra_think", ("deduce", "quote"))}
ZEBRA_QUOTE_LINES = 8  # the longest quoted zebra worksheet trained on: with its answer it fits the 288-token budget


def worked_form(task: str) -> str | None:
    """How the tiny model's recipe (the one being built, :func:`building`, else the active one) works ``task`` out:
    ``"cases"`` for knights and knaves (:func:`worked_puzzles`), a key of ``COUNTDOWN_FORMS`` for Countdown
    (:func:`countdown_search`), ``"deduce"`` or ``"quote"`` for zebra (``puzzles.zebra_deduction``), or None where it
    answers directly."""
    from rlkit.recipes import active_recipe

    recipe = _BUILDING[-1] if _BUILDING else active_recipe()
    key, forms = WORKED_FORMS.get(task, (None, ()))
    form = recipe.get(key)
    return form if form in forms else None


def searched(task: str) -> bool:
    """Whether the tiny model's recipe teaches ``task`` worked by search or by cases rather than directly."""
    return worked_form(task) is not None


def _countdown(seed: int, levels: tuple[int, int]) -> Iterator[dict]:
    """reasoning-gym's Countdown numbers and targets (3-4 numbers, targets 10-100 as in P3's test data) in
    P3's wording; level = how many numbers. The solution works the gold expression out step by step, or, where the
    recipe says so (:func:`worked_form`), searches for one (:func:`countdown_search`; the gold steps where it finds
    none, about 1 item in 500). The regular search finds none for about 1 training item in 5, the first-pair
    search for about 3 in 10: those are left out, so that every demonstration has one form; held-out items are kept
    whatever the search finds, so the held-out set is the same under every recipe."""
    low, high = levels
    items = _rg_items("countdown", seed, min_numbers=low, max_numbers=high, min_value=1, max_value=COUNTDOWN_MAX_VALUE,
                      min_target=10, max_target=100)
    form = worked_form("countdown")
    rng = random.Random(seed * 7919 + 17)
    for item in items:
        meta = item["metadata"]
        numbers, target = [int(n) for n in meta["numbers"]], int(meta["target"])
        expression = _plain_expression(meta["expression"])
        if expression is None:  # reasoning-gym sometimes negates a number ("-10 + ..."): not allowed here
            continue
        question = countdown_question(numbers, target)
        worked = countdown_search(numbers, target, rng, form) if form else None
        if form not in (None, "search") and not worked and not is_held_out(question):  # the forms without division
            continue
        if worked:
            think, expression = worked
        else:
            think = "\n".join(expression_steps(expression))
        yield make_row("countdown", question, tagged(think, expression),
                       numbers=numbers, target=target, answer=expression, level=len(numbers))


def _plain_expression(expression: str) -> str | None:
    """The expression re-spaced (``15*(2 - 1)`` -> ``15 * (2 - 1)``), or None if it negates a number.

    >>> _plain_expression("15*(2 - 1)"), _plain_expression("-1 + (2 + 3)/1")
    ('15 * (2 - 1)', None)
    """
    import ast

    tree = ast.parse(expression, mode="eval")
    if any(isinstance(node, ast.UnaryOp) for node in ast.walk(tree)):
        return None
    return ast.unparse(tree)


PUZZLE_THINK = "Check each clue against the answer."  # puzzles are answered directly (see 01_sft, section 1)


_BUILDING: list[dict] = []  # the recipe whose corpus rlkit.tiny.build_corpus is generating, if any


def worked_puzzles() -> bool:
    """Whether the tiny model's recipe teaches knights and knaves solved by cases (``puzzles.kk_cases``) instead of
    answered directly: a recipe's ``"puzzle_think": "cases"``. The demonstrations belong to the recipe, since its
    pretraining corpus and 01's SFT rows are the same task rows: the recipe being built (:func:`building`), else the
    active one."""
    return searched("knights_knaves")


@contextmanager
def building(recipe: dict):
    """Generate rows for ``recipe``'s pretraining corpus (whatever ``RLKIT_TINY_RECIPE`` says)."""
    _BUILDING.append(recipe)
    try:
        yield
    finally:
        _BUILDING.pop()


def _knights_knaves(seed: int, levels: tuple[int, int]) -> Iterator[dict]:
    """Knights and knaves in P3's wording (the kit's generator, rlkit.puzzles); level = the number of people."""
    from rlkit.puzzles import knights_knaves

    key = "cases" if worked_puzzles() else None
    for item in knights_knaves(seed, people=levels):
        yield make_row("knights_knaves", item["question"], tagged(item[key] if key else PUZZLE_THINK, item["answer"]),
                       answer=item["answer"], level=item["level"])


def _zebra(seed: int, levels: tuple[int, int]) -> Iterator[dict]:
    """Logic grid puzzles answered as the full JSON grid (rlkit.puzzles); level = the number of houses. Where the
    recipe says so (:func:`worked_form`), the solution deduces the grid clue by clue (``puzzles.zebra_deduction``);
    training puzzles those steps do not solve (about 1 in 5 with three houses) are left out, so that every
    demonstration has one form, and held-out ones keep the direct answer, so the held-out set is the same under
    every recipe. The quoted form also leaves out training puzzles that take more than ``ZEBRA_QUOTE_LINES`` lines
    (about 2 in 5 of the three-house ones it solves)."""
    from rlkit.puzzles import zebra

    form = worked_form("zebra")
    for item in zebra(seed, houses=levels, attributes=ZEBRA_ATTRIBUTES):
        think = item[{"deduce": "deduction", "quote": "quoted"}[form]] if form else None
        too_long = form == "quote" and think is not None and think.count("\n") >= ZEBRA_QUOTE_LINES
        if form and (think is None or too_long) and not is_held_out(item["question"]):
            continue
        yield make_row("zebra", item["question"], tagged(think or PUZZLE_THINK, item["solution"]),
                       solution=item["solution"], level=item["level"])


def _knights_knaves_chance(row: dict) -> float:
    """A uniform guess is right with odds ``2**-people``: two roles per inhabitant, one answer line each."""
    return 0.5 ** len(str(row["answer"]).strip().splitlines())


def _zebra_chance(row: dict) -> float:
    """A uniform guess among well-formed grids (each category's values once) is right with odds
    ``(houses!)**-categories``."""
    import json
    import math

    grid = json.loads(row["solution"])
    return 1 / math.factorial(len(grid)) ** len(next(iter(grid.values())))


def code_answer(code: str) -> str:
    """Code as the answer of a code task: one fenced block (the format REWARDS["code"] reads), Windows line
    ends made Unix (MBPP's gold code has them)."""
    code = code.replace("\r\n", "\n").strip("\n")
    return f"```python\n{code}\n```"


def _code(seed: int, levels: tuple[int, int]) -> Iterator[dict]:
    """Small Python functions described as numbered steps, judged by asserts (rlkit.codetasks); level = steps."""
    from rlkit.codetasks import CODE_THINK, code_tasks

    for item in code_tasks(seed, steps=levels):
        yield make_row("code", item["question"], tagged(CODE_THINK, code_answer(item["code"])),
                       test_list=item["test_list"], level=item["level"])


# ---------------------------------------------------------------- offline instruction data (the kit's own)
def _instruction(rng: random.Random) -> tuple[str, str]:
    """One generated instruction and its exact correct response."""
    word, nums = rng.choice(WORDS), rng.sample(range(1, 50), rng.randint(3, 5))
    kind = rng.randrange(6)
    if kind == 0:
        return f"Reverse the letters of the word {word}.", word[::-1]
    if kind == 1:
        return f"Sort from smallest to largest: {', '.join(map(str, nums))}", ", ".join(map(str, sorted(nums)))
    if kind == 2:
        return f"Write the word {word} in capital letters.", word.upper()
    if kind == 3:
        return f"What is the largest number in: {', '.join(map(str, nums))}?", str(max(nums))
    if kind == 4:
        n = rng.randint(2, 4)
        return f"Repeat the word {word} {n} times.", " ".join([word] * n)
    return f"Spell the word {word} with dashes between the letters.", "-".join(word)


def _instruct(seed: int, levels: tuple[int, int] = (1, 1)) -> Iterator[dict]:
    rng = random.Random(seed)
    while True:
        question, response = _instruction(rng)
        yield make_row("instruct", question, tagged("Follow the instruction.", response), answer=response, level=1)


def plausible_mistake(question: str, response: str, rng: random.Random) -> str:
    """A wrong response of the kind a small model makes on this instruction (never equal to ``response``)."""
    items = response.split(", ")
    if question.startswith("Reverse"):
        word = question.rstrip(".").split()[-1]
        options = [word, response[:-1], response[1:] + response[0], "".join(rng.sample(response, len(response)))]
    elif question.startswith("Sort"):
        i = rng.randrange(len(items) - 1)
        swapped = items[:i] + [items[i + 1], items[i]] + items[i + 2:]
        options = [", ".join(swapped), ", ".join(items[:-1]), ", ".join(reversed(items)),
                   question.split(": ", 1)[1]]
    elif question.startswith("Write"):
        options = [response.lower(), response.capitalize(), response[:-1]]
    elif question.startswith("What is the largest"):
        nums = [int(n) for n in question.split(": ", 1)[1].rstrip("?").split(", ")]
        options = [str(min(nums)), str(sorted(nums)[-2]), str(max(nums) + 1), str(nums[0])]
    elif question.startswith("Repeat"):
        word, n = response.split()[0], len(response.split())
        options = [" ".join([word] * (n + 1)), " ".join([word] * (n - 1)), word]
    else:  # spell with dashes
        letters = response.split("-")
        options = ["".join(letters), "-".join(letters[:-1]), "-".join(letters[::-1])]
    options = [o for o in options if o and o != response]
    return rng.choice(options) if options else response + "s"


def _instruct_pairs(seed: int, levels: tuple[int, int] = (1, 1)) -> Iterator[dict]:
    """Offline instruction preference pairs: the exact response vs a plausible mistake, or (one pair in
    four) vs the response to another instruction, so a reward model learns that the answer must fit
    the question, not only look like an answer."""
    mistakes = random.Random(seed + 7919)
    for row in _instruct(seed):
        gold = row["answer"]
        if mistakes.random() < 0.25:
            wrong = _instruction(mistakes)[1]
            wrong = wrong if wrong != gold else plausible_mistake(question_of(row), gold, mistakes)
        else:
            wrong = plausible_mistake(question_of(row), gold, mistakes)
        row = {**row, "chosen": row.pop("completion"),
               "rejected": [{"role": "assistant", "content": tagged("Follow the instruction.", wrong)}]}
        yield row


# ---------------------------------------------------------------- the registry
@dataclass(frozen=True)
class Task:
    """A task: where its rows come from, which reward checks them, and its difficulty knob.

    Offline tasks are generated: ``generate(seed, levels)`` yields endless rows whose ``level`` lies
    in the inclusive range ``levels``; ``default_levels`` is the testbed's choice (calibrated so that
    01's SFT model leaves RL room, 01_sft section 8) and ``level_limits`` what the generator supports.
    """

    name: str
    reward: str  # a name in rlkit.rewards.REWARDS
    offline: bool
    description: str
    family: str = ""  # a key of FAMILIES for the testbed's task families; "" for support data
    generate: Callable[[int, tuple[int, int]], Iterator[dict]] | None = None
    hub_id: str | None = None
    level: str = ""  # what the difficulty level counts
    default_levels: tuple[int, int] = (1, 1)
    level_limits: tuple[int, int] = (1, 1)
    completion_tokens: int = 64  # offline: new-token budget a solution needs (the tiny model's tokenizer)
    worked_tokens: int | None = None  # the budget instead, where the recipe teaches worked puzzles (worked_puzzles)
    # Offline SFT data mixes two kinds of demonstrations, as scraped data does (01_sft, section 1): worked
    # solutions and terse ones that skip the working. ``terse`` rewrites a row into the terse kind;
    # ``style`` tells which kind a completion is (02-04 report how training moved the model between them).
    terse: Callable[[dict], dict] | None = None
    style: Callable[[dict, str], str | None] | None = None
    # Where the well-formed answers can be counted: a uniform guess's odds of being right on a row (rlkit.testbed)
    chance: Callable[[dict], float] | None = None


COUNTDOWN_MAX_VALUE = 20  # numbers 1..20 (P3's data draws them up to 99; small ones suit the tiny model)
ZEBRA_ATTRIBUTES = (2, 3)  # categories per zebra puzzle

TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("arithmetic", "math", True, "chain sums of one-digit numbers, worked step by step (reasoning-gym "
             "chain_sum)", "math", _arithmetic, level="terms", default_levels=(2, 5), level_limits=(2, 8),
             completion_tokens=64, terse=_terse_arithmetic, style=_arithmetic_style),
        Task("countdown", "countdown", True, "reach a target of 10-100 with 3-4 numbers, P3's wording "
             "(reasoning-gym countdown)", "math", _countdown, level="numbers", default_levels=(3, 4),
             level_limits=(2, 6), completion_tokens=72, worked_tokens=320),
        Task("knights_knaves", "knights_knaves", True, "knights and knaves in P3's wording, all-or-nothing "
             "(the kit's generator)", "puzzles", _knights_knaves, level="people", default_levels=(2, 3),
             level_limits=(2, 8), completion_tokens=64, worked_tokens=400, chance=_knights_knaves_chance),
        Task("zebra", "zebra", True, "logic grid puzzles answered as a JSON grid, scored by cell accuracy "
             "(the kit's generator)", "puzzles", _zebra, level="houses", default_levels=(2, 3), level_limits=(2, 5),
             completion_tokens=96, worked_tokens=288, chance=_zebra_chance),
        Task("code", "code", True, "small Python functions given as numbered steps, judged by asserts in the "
             "kit's sandbox (the kit's generator)", "code", _code, level="steps", default_levels=(1, 1),
             level_limits=(1, 4), completion_tokens=112),
        Task("instruct", "exact", True, "small verifiable instructions (reverse, sort, upper...): SFT data",
             generate=_instruct),
        Task("instruct_pairs", "exact", True, "instruction preference pairs: exact response vs a plausible mistake",
             generate=_instruct_pairs),
        Task("gsm8k", "math", False, "grade-school math word problems", "math", hub_id="openai/gsm8k"),
        Task("math500", "math", False, "competition math, 500 problems", "math", hub_id="HuggingFaceH4/MATH-500"),
        Task("countdown_hub", "countdown", False, "Countdown with 3-4 numbers", "math",
             hub_id="Jiayi-Pan/Countdown-Tasks-3to4"),
        Task("mbpp", "code", False, "Mostly Basic Python Problems: short functions, 3 asserts each", "code",
             hub_id="google-research-datasets/mbpp"),
        Task("humaneval", "code", False, "HumanEval: 164 function stubs to complete, evaluation only", "code",
             hub_id="openai/openai_humaneval"),
        Task("smoltalk", "none", False, "instruction-following chats", hub_id="HuggingFaceTB/smol-smoltalk"),
        Task("ultrafeedback", "none", False, "preference pairs", hub_id="HuggingFaceH4/ultrafeedback_binarized"),
    )
}

# The testbed's task families (paper P3's domains).
FAMILIES: dict[str, str] = {
    "math": "verifiable math: arithmetic chains and Countdown",
    "puzzles": "logic puzzles: knights and knaves, logic grids",
    "code": "small Python functions judged by asserts in the kit's sandbox",
}


def family_tasks(family: str | None = None, offline: bool = True) -> list[str]:
    """The testbed's tasks, of one family or of all (offline ones by default).

    >>> family_tasks("puzzles")
    ['knights_knaves', 'zebra']
    """
    if family is not None and family not in FAMILIES:
        raise RlkitError(f"Unknown family {family!r}; families: {sorted(FAMILIES)}.")
    return [n for n, t in TASKS.items() if t.family and (family in (None, t.family)) and t.offline == offline]


def completion_budget(task: str) -> int:
    """An offline task's new-token budget: ``Task.completion_tokens``, or its ``worked_tokens`` where the tiny model's
    recipe teaches the task worked by cases or by search (:func:`searched`; 2-3 people fit, more may not)."""
    spec = get_task(task)
    return spec.worked_tokens if spec.worked_tokens and searched(task) else spec.completion_tokens


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise RlkitError(f"Unknown task {name!r}. Offline tasks: {offline_tasks()}; hub tasks: "
                         f"{[n for n, t in TASKS.items() if not t.offline]}.")
    return TASKS[name]


# The SFT warm start (rlkit.sft): which tasks' rows it mixes, and in what shares.
# Offline, the share of each family's rows among the SFT task rows (a family left out is not in the warm start):
# the tiny model's arithmetic copies its operands by position, and a chat prompt moves them, so arithmetic needs
# the most rows to adapt.
SFT_SHARES = {"arithmetic": 0.75, "countdown": 0.05, "knights_knaves": 0.05, "zebra": 0.05, "code": 0.10}


def warm_start_tasks(task: str) -> list[str]:
    """The tasks SFT trains on: offline, every task of the testbed's families that ``SFT_SHARES`` gives rows (one
    warm start serves every lesson and every family, as one base model would); on the hub, ``task`` itself.

    >>> warm_start_tasks("arithmetic")
    ['arithmetic', 'countdown', 'knights_knaves', 'zebra', 'code']
    """
    return [t for t in family_tasks() if SFT_SHARES.get(t, 0) > 0] if get_task(task).offline else [task]


def offline_tasks() -> list[str]:
    return [n for n, t in TASKS.items() if t.offline]


def question_of(row: dict) -> str:
    return row["prompt"][-1]["content"]


def check_levels(task: str, levels: tuple[int, int] | None) -> tuple[int, int]:
    """The task's default level range, or ``levels`` checked against what its generator supports."""
    spec = get_task(task)
    if levels is None:
        return spec.default_levels
    try:
        low, high = (int(x) for x in levels)
    except (TypeError, ValueError):
        raise RlkitError(f"LEVELS={levels!r} must be an inclusive range (low, high), e.g. {spec.default_levels}.") from None
    lo, hi = spec.level_limits
    if not lo <= low <= high <= hi:
        raise RlkitError(f"LEVELS={tuple(levels)} for {task}: its level counts {spec.level or 'nothing'} and must be "
                         f"a range within {lo}..{hi} with low <= high, e.g. {spec.default_levels}.")
    return low, high


def generate_rows(task: str, n: int, seed: int, held_out: bool, levels: tuple[int, int] | None = None) -> list[dict]:
    """``n`` distinct rows of an offline task from one side of the held-out split, with levels in ``levels``."""
    spec = get_task(task)
    if not spec.offline:
        raise RlkitError(f"Task {task!r} comes from the hub ({spec.hub_id}); use load_hub_task().")
    rows, seen = [], set()
    if n <= 0:
        return rows
    for row in spec.generate(seed, check_levels(task, levels)):
        q = question_of(row)
        if q in seen or is_held_out(q) != held_out:
            continue
        seen.add(q)
        rows.append(row)
        if len(rows) == n:
            return rows
    raise AssertionError("unreachable: generators are endless")


def task_splits(task: str, n_train: int, n_eval: int, seed: int = 0, levels: tuple[int, int] | None = None):
    """``(train, held_out)`` as ``datasets.Dataset`` with no question in both.

    >>> train, test = task_splits("arithmetic", 20, 5)
    >>> set(map(question_of, train)).isdisjoint(map(question_of, test))
    True
    """
    from datasets import Dataset

    train = generate_rows(task, n_train, seed, held_out=False, levels=levels)
    test = generate_rows(task, n_eval, seed + 1, held_out=True, levels=levels)
    return Dataset.from_list(train), Dataset.from_list(test)


def require_columns(dataset, columns, purpose: str) -> None:
    """Raise a clear error when ``dataset`` lacks columns that ``purpose`` needs."""
    names = set(dataset.column_names if hasattr(dataset, "column_names") else dataset[0].keys())
    missing = [c for c in columns if c not in names]
    if missing:
        raise RlkitError(
            f"The dataset is missing column(s) {missing} needed by {purpose}. It has {sorted(names)}. "
            f"Add them (e.g. dataset = dataset.map(lambda row: {{'{missing[0]}': ...}})) or rename "
            f"an existing column with dataset.rename_column(old, '{missing[0]}')."
        )
