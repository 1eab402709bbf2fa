"""One task registry, every task in TRL's dataset formats.

Offline tasks are generated from a seed by ``reasoning-gym`` (and a small instruction generator of
the kit's own); hub tasks (the ``gpu`` profile) load real datasets. Every row carries:

- ``prompt``: conversational messages (system + user), TRL's "prompt-only"/"prompt-completion" format
- ``completion``: one gold assistant message (used by SFT; RL ignores it)
- the columns the task's reward needs: ``answer`` (str), or ``numbers`` (list[int]) + ``target`` (int)
- ``task``: the task name

Held-out rows are chosen by a hash of the question text, never by seed, so no training split, no
other seed and no pretraining corpus can contain a held-out question.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

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


def make_row(task: str, question: str, solution: str, **columns) -> dict:
    """A row in TRL's conversational prompt/completion format plus reward columns."""
    prompt = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}]
    completion = [{"role": "assistant", "content": solution}]
    return {"prompt": prompt, "completion": completion, "task": task, **columns}


def tagged(think: str, answer: str) -> str:
    """The R1 template every offline solution uses."""
    return f"<think>{think}</think>\n<answer>{answer}</answer>"


# ---------------------------------------------------------------- offline generators (reasoning-gym)
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


def _arithmetic(seed: int) -> Iterator[dict]:
    for item in _rg_items("chain_sum", seed, min_terms=2, max_terms=4, min_digits=1, max_digits=1):
        steps, value = _chain_steps(item["metadata"]["expression"])
        assert str(value) == item["answer"], (item, value)
        yield make_row("arithmetic", item["question"], tagged("\n".join(steps), item["answer"]),
                       answer=item["answer"])


def _basic_arithmetic(seed: int) -> Iterator[dict]:
    items = _rg_items("basic_arithmetic", seed, min_terms=2, max_terms=3, min_digits=1, max_digits=2,
                      operators=("+", "-", "*"), allow_parentheses=False, allow_negation=False)
    for item in items:
        expr = item["metadata"]["expression"]
        yield make_row("basic_arithmetic", item["question"], tagged(f"{expr} = {item['answer']}", item["answer"]),
                       answer=item["answer"])


def countdown_question(numbers: list[int], target: int) -> str:
    """The Countdown question, one wording for the offline and the hub task."""
    return (f"Using the numbers {numbers}, create an equation that equals {target}. "
            "Use each number exactly once with + - * / and parentheses.")


def _countdown(seed: int) -> Iterator[dict]:
    items = _rg_items("countdown", seed, min_numbers=3, max_numbers=4, min_value=1, max_value=20,
                      min_target=10, max_target=100)
    for item in items:
        meta = item["metadata"]
        numbers, target = [int(n) for n in meta["numbers"]], int(meta["target"])
        question = countdown_question(numbers, target)
        think = f"{meta['expression']} = {target}"
        yield make_row("countdown", question, tagged(think, meta["expression"]), numbers=numbers, target=target,
                       answer=meta["expression"])


def _knights_knaves(seed: int) -> Iterator[dict]:
    for item in _rg_items("knights_knaves", seed, n_people=2, depth_constraint=2, width_constraint=2):
        yield make_row("knights_knaves", item["question"], tagged("Check each case.", item["answer"]),
                       answer=item["answer"])


def _gsm_symbolic(seed: int) -> Iterator[dict]:
    for item in _rg_items("gsm_symbolic", seed):
        cot = item["metadata"]["answer_cot"].split("####")[0].strip()
        yield make_row("gsm_symbolic", item["question"], tagged(cot, item["answer"]), answer=item["answer"])


# ---------------------------------------------------------------- offline instruction data (the kit's own)
WORDS = (
    "apple river stone cloud garden pencil window rocket silver forest candle bridge planet tiger "
    "orange music summer yellow number castle dragon winter letter button circle market island "
    "puzzle mirror jacket pocket basket rabbit turtle violin hammer ladder needle bottle camera "
    "dinner helmet kitten lemon magnet napkin parrot pepper saddle shadow spider ticket wallet "
    "anchor blanket canvas desert engine falcon galaxy harbor lantern meadow nectar oyster pillow "
    "quartz ribbon sunset thunder velvet walnut zipper honey piano cookie"
).split()


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


def _instruct(seed: int) -> Iterator[dict]:
    rng = random.Random(seed)
    while True:
        question, response = _instruction(rng)
        yield make_row("instruct", question, tagged("Follow the instruction.", response), answer=response)


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


def _instruct_pairs(seed: int) -> Iterator[dict]:
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
    """A task: where its rows come from and which reward checks them."""

    name: str
    reward: str  # a name in rlkit.rewards.REWARDS
    offline: bool
    description: str
    generate: Callable[[int], Iterator[dict]] | None = None  # offline: seed -> endless rows
    hub_id: str | None = None


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task("arithmetic", "math", True, "chain sums of 2-4 one-digit numbers (reasoning-gym chain_sum)", _arithmetic),
        Task("basic_arithmetic", "math", True, "+ - * of 2-3 numbers (reasoning-gym basic_arithmetic)",
             _basic_arithmetic),
        Task("countdown", "countdown", True, "reach a target with 3-4 numbers (reasoning-gym countdown)", _countdown),
        Task("knights_knaves", "knights_knaves", True, "2-person truth-teller puzzles (reasoning-gym)",
             _knights_knaves),
        Task("gsm_symbolic", "math", True, "templated grade-school word problems (reasoning-gym)", _gsm_symbolic),
        Task("instruct", "exact", True, "small verifiable instructions (reverse, sort, upper...)", _instruct),
        Task("instruct_pairs", "exact", True, "instruction preference pairs: exact response vs a plausible mistake",
             _instruct_pairs),
        Task("gsm8k", "math", False, "grade-school math word problems", hub_id="openai/gsm8k"),
        Task("math500", "math", False, "competition math, 500 problems", hub_id="HuggingFaceH4/MATH-500"),
        Task("countdown_hub", "countdown", False, "Countdown with 3-4 numbers",
             hub_id="Jiayi-Pan/Countdown-Tasks-3to4"),
        Task("smoltalk", "none", False, "instruction-following chats", hub_id="HuggingFaceTB/smol-smoltalk"),
        Task("ultrafeedback", "none", False, "preference pairs", hub_id="HuggingFaceH4/ultrafeedback_binarized"),
    )
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise RlkitError(f"Unknown task {name!r}. Offline tasks: {offline_tasks()}; hub tasks: "
                         f"{[n for n, t in TASKS.items() if not t.offline]}.")
    return TASKS[name]


def offline_tasks() -> list[str]:
    return [n for n, t in TASKS.items() if t.offline]


def question_of(row: dict) -> str:
    return row["prompt"][-1]["content"]


def arithmetic_expression(row: dict) -> str:
    """The expression of an ``arithmetic`` row's question: ``"... problem: 4 - 1 - 7 ="`` -> ``"4 - 1 - 7"``."""
    return question_of(row).rsplit(":", 1)[-1].strip().rstrip("=").strip()


def generate_rows(task: str, n: int, seed: int, held_out: bool) -> list[dict]:
    """``n`` distinct rows of an offline task from one side of the held-out split."""
    spec = get_task(task)
    if not spec.offline:
        raise RlkitError(f"Task {task!r} comes from the hub ({spec.hub_id}); use load_hub_task().")
    rows, seen = [], set()
    if n <= 0:
        return rows
    for row in spec.generate(seed):
        q = question_of(row)
        if q in seen or is_held_out(q) != held_out:
            continue
        seen.add(q)
        rows.append(row)
        if len(rows) == n:
            return rows
    raise AssertionError("unreachable: generators are endless")


def task_splits(task: str, n_train: int, n_eval: int, seed: int = 0):
    """``(train, held_out)`` as ``datasets.Dataset`` with no question in both.

    >>> train, test = task_splits("arithmetic", 20, 5)
    >>> set(map(question_of, train)).isdisjoint(map(question_of, test))
    True
    """
    from datasets import Dataset

    train = generate_rows(task, n_train, seed, held_out=False)
    test = generate_rows(task, n_eval, seed + 1, held_out=True)
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
