"""Hub tasks: real datasets from the Hugging Face Hub, mapped to the kit's row format.

``load_hub_task(task, split, n, seed)`` loads the dataset behind a hub task of
:data:`rlkit.data.TASKS` and maps every row with a pure, unit-testable row mapper
(``map_gsm8k``, ``map_math500``, ``map_countdown``, ``map_mbpp``, ``map_humaneval``,
``map_smoltalk``, ``map_ultrafeedback``). The kit's splits are ``"train"`` and ``"test"`` (held out).
What each dataset is assumed to hold (checked with ``require_columns`` after loading):

================  ======================================  ===========================  ============================
task              dataset (config)                        kit "train" / "test"         raw columns used
================  ======================================  ===========================  ============================
gsm8k             openai/gsm8k ("main")                   train (7473) / test (1319)   question, answer
math500           HuggingFaceH4/MATH-500                  -- / test (500)              problem, solution, answer
countdown_hub     Jiayi-Pan/Countdown-Tasks-3to4          train, carved by hash        nums, target
mbpp              google-research-datasets/mbpp ("full")  train (374) / test (500)     text, code, test_list,
                                                                                       test_setup_code
humaneval         openai/openai_humaneval                 -- / test (164)              prompt, canonical_solution,
                                                                                       test, entry_point
smoltalk          HuggingFaceTB/smol-smoltalk             train / test                 messages
ultrafeedback     HuggingFaceH4/ultrafeedback_binarized   train_prefs / test_prefs     prompt, chosen, rejected,
                                                                                       score_chosen, score_rejected
================  ======================================  ===========================  ============================

- MATH-500 has only its 500-problem ``test`` split: it is for held-out evaluation; asking for
  ``"train"`` raises (train on gsm8k, evaluate on math500).
- Countdown-Tasks-3to4 has only a ``train`` split and no gold expression. The kit carves its own
  held-out side by a hash of the problem (sorted numbers + target, ``data.is_held_out``), so the
  two sides never share a problem whatever the seed. Its rows are for RL and evaluation: the
  ``completion`` is an empty placeholder (``COUNTDOWN_PLACEHOLDER``), not a solution to train on.
- MBPP ("full" config) keeps the split of its paper by task id: test = 11-510, train = 601-974 (the
  90 ``validation`` problems and the 10 few-shot ``prompt`` ones are not used). The question has the
  shape of the paper's prompt: the description, then "Your code should pass these tests:" and its three
  asserts (then the kit's line asking for a code block); the reward runs ``test_setup_code`` and the same
  asserts. The ``completion`` is MBPP's gold code, fenced after a fixed reasoning sentence
  (``CODE_THINK_PLACEHOLDER``), so SFT can use it.
- HumanEval has only its 164-problem ``test`` split: held-out evaluation only, like MATH-500 (train on
  mbpp). The question shows the function stub; the answer must be the whole function (imports and
  signature included), as the reward runs nothing but the answer's code. ``test_list`` is the body of
  its ``check(candidate)`` (``rlkit.rewards.code.humaneval_tests``); the ``completion`` is stub + canonical solution.
- Both code tasks give the same reward columns: ``test_list`` (list[str]) and ``test_setup_code`` (str).
  P3's code training set, CodeR1-12k (``ganler/code-r1-12k``), is not mapped: most of its rows are
  judged by feeding stdin and comparing stdout, which ``REWARDS["code"]`` does not do.
- smoltalk rows carry TRL's conversational language-modeling column ``messages`` and also
  ``prompt``/``completion`` (everything before the last assistant turn / that turn). TRL's
  SFTTrainer prefers ``prompt``/``completion`` (loss on the last turn only); drop those two
  columns to train on whole conversations. Rows not ending with an assistant turn are skipped.
- ultrafeedback rows are in TRL's conversational preference format with an explicit prompt:
  ``prompt`` = [user message], ``chosen``/``rejected`` = [assistant message].

With ``RLKIT_HUB_MIRROR`` set, every dataset is read from that local mirror instead (the same splits,
columns and mappers; layout in :mod:`rlkit.mirror`). Without network (or with ``HF_DATASETS_OFFLINE=1``
and no cached copy) and without a mirror, loading raises an :class:`~rlkit.errors.RlkitError` that says
how to run offline; the kit never silently swaps in offline data.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rlkit.data import (
    TASKS,
    code_answer,
    countdown_question,
    get_task,
    is_held_out,
    make_row,
    offline_tasks,
    require_columns,
    tagged,
)
from rlkit.errors import RlkitError
from rlkit.rewards.code import humaneval_tests

if TYPE_CHECKING:
    import datasets

__all__ = [
    "CODE_THINK_PLACEHOLDER",
    "COUNTDOWN_PLACEHOLDER",
    "HUB_SOURCES",
    "SPLITS",
    "countdown_question",
    "hub_tasks",
    "humaneval_question",
    "load_hub_task",
    "map_countdown",
    "map_gsm8k",
    "map_hub_rows",
    "map_humaneval",
    "map_math500",
    "map_mbpp",
    "map_smoltalk",
    "map_ultrafeedback",
    "mbpp_question",
    "parse_gsm8k_answer",
    "smoltalk_usable",
]

SPLITS = ("train", "test")
COUNTDOWN_PLACEHOLDER = tagged("", "")  # hub countdown has no gold expression: RL/eval only
CODE_THINK_PLACEHOLDER = "Write the function the task asks for, so that it passes the tests."  # hub code has none
MBPP_TESTS_HEADER = "Your code should pass these tests:"  # the prompt of MBPP's paper (Austin et al. 2021)
CODE_ANSWER_FORMAT = "Give the complete Python code in one ```python code block."
_GSM8K_ANNOTATION = re.compile(r"<<[^<>]*>>")


# ---------------------------------------------------------------- row mappers (pure, one raw row each)
def _message(message: dict) -> dict[str, str]:
    """One chat message reduced to ``{"role", "content"}`` (a consistent schema for ``datasets``)."""
    return {"role": str(message["role"]), "content": str(message["content"])}


def parse_gsm8k_answer(answer: str) -> tuple[str, str]:
    """Split a GSM8K answer into (rationale without calculator annotations, final number).

    >>> parse_gsm8k_answer("48/2 = <<48/2=24>>24 clips.\\n#### 1,234")
    ('48/2 = 24 clips.', '1234')
    """
    rationale, sep, final = answer.rpartition("####")
    if not sep:
        raise RlkitError(f"A GSM8K answer has no '#### <number>' line: {answer[-200:]!r}")
    final = final.strip().replace(",", "")
    if not final:
        raise RlkitError(f"A GSM8K answer has nothing after '####': {answer[-200:]!r}")
    return _GSM8K_ANNOTATION.sub("", rationale).strip(), final


def map_gsm8k(row: dict) -> dict:
    """``question``/``answer`` -> kit row; ``answer`` = the final number, completion = tagged rationale.

    >>> map_gsm8k({"question": "2+2?", "answer": "2+2=<<2+2=4>>4\\n#### 4"})["answer"]
    '4'
    """
    rationale, final = parse_gsm8k_answer(row["answer"])
    return make_row("gsm8k", row["question"], tagged(rationale, final), answer=final)


def map_math500(row: dict) -> dict:
    """``problem``/``solution``/``answer`` -> kit row; the answer stays a LaTeX string.

    >>> map_math500({"problem": "1/2+1/4?", "solution": "It is $\\\\frac34$.", "answer": "\\\\frac{3}{4}"})["answer"]
    '\\\\frac{3}{4}'
    """
    answer = str(row["answer"]).strip()
    return make_row("math500", row["problem"], tagged(row["solution"].strip(), answer), answer=answer)


def map_countdown(row: dict) -> dict:
    """``nums``/``target`` -> kit row with ``numbers``/``target``; completion is a placeholder.

    >>> map_countdown({"nums": [3, 5, 2], "target": 16})["numbers"]
    [3, 5, 2]
    """
    numbers, target = [int(n) for n in row["nums"]], int(row["target"])
    return make_row("countdown_hub", countdown_question(numbers, target), COUNTDOWN_PLACEHOLDER,
                    numbers=numbers, target=target)


def _countdown_key(row: dict) -> str:
    """The identity of a countdown problem for the held-out hash: order of numbers ignored."""
    return f"countdown {sorted(int(n) for n in row['nums'])} -> {int(row['target'])}"


def mbpp_question(text: str, tests: list[str]) -> str:
    """MBPP's task as its paper prompts it: the description, then its asserts shown as examples.

    >>> print(mbpp_question("Write a function to add one.", ["assert add_one(1) == 2"]))
    Write a function to add one. Your code should pass these tests:
    <BLANKLINE>
    assert add_one(1) == 2
    <BLANKLINE>
    Give the complete Python code in one ```python code block.
    """
    return f"{text.strip()} {MBPP_TESTS_HEADER}\n\n" + "\n".join(tests) + f"\n\n{CODE_ANSWER_FORMAT}"


def map_mbpp(row: dict) -> dict:
    """``text``/``code``/``test_list``/``test_setup_code`` -> kit row; completion = the gold code, fenced.

    >>> row = map_mbpp({"text": "Write a function to add one.", "code": "def add_one(x):\\r\\n  return x + 1",
    ...                 "test_list": ["assert add_one(1) == 2"], "test_setup_code": ""})
    >>> print(row["completion"][0]["content"])
    <think>Write the function the task asks for, so that it passes the tests.</think>
    <answer>```python
    def add_one(x):
      return x + 1
    ```</answer>
    """
    tests = [str(t) for t in row["test_list"]]
    gold = tagged(CODE_THINK_PLACEHOLDER, code_answer(row["code"]))
    return make_row("mbpp", mbpp_question(row["text"], tests), gold, test_list=tests,
                    test_setup_code=str(row.get("test_setup_code") or ""))


def humaneval_question(prompt: str) -> str:
    """A HumanEval stub with the instruction to complete it (the reward runs only the answer's code)."""
    return (f"Complete the following Python function.\n\n{code_answer(prompt)}\n\n"
            f"Answer with the whole function, its imports and signature included. {CODE_ANSWER_FORMAT}")


def map_humaneval(row: dict) -> dict:
    """``prompt``/``canonical_solution``/``test``/``entry_point`` -> kit row; ``test_list`` from ``check``.

    >>> row = map_humaneval({"task_id": "HumanEval/0", "prompt": "def double(x):\\n", "entry_point": "double",
    ...                      "canonical_solution": "    return 2 * x\\n",
    ...                      "test": "def check(candidate):\\n    assert candidate(2) == 4\\n"})
    >>> row["test_list"], row["test_setup_code"]
    (['assert double(2) == 4'], '')
    """
    try:
        tests = humaneval_tests(row["test"], row["entry_point"])
    except (SyntaxError, ValueError) as error:
        raise RlkitError(f"HumanEval row {row.get('task_id', '?')}: its test has no usable check(candidate) "
                         f"function ({error}).") from error
    gold = code_answer(row["prompt"] + row["canonical_solution"])
    return make_row("humaneval", humaneval_question(row["prompt"]), tagged(CODE_THINK_PLACEHOLDER, gold),
                    test_list=tests, test_setup_code="")


def smoltalk_usable(row: dict) -> bool:
    """Whether a chat has at least one prompt message and ends with an assistant turn."""
    messages = row["messages"] or []
    return len(messages) >= 2 and messages[-1]["role"] == "assistant"


def map_smoltalk(row: dict) -> dict:
    """``messages`` -> ``messages`` plus ``prompt`` (all but the last turn) and ``completion`` (it)."""
    if not smoltalk_usable(row):
        raise RlkitError("A smoltalk row must end with an assistant message after at least one other message.")
    messages = [_message(m) for m in row["messages"]]
    return {"messages": messages, "prompt": messages[:-1], "completion": messages[-1:], "task": "smoltalk"}


def _last_assistant(messages: list[dict], column: str) -> dict[str, str]:
    """The final message of a preference column, which must be an assistant turn."""
    if not messages or messages[-1]["role"] != "assistant":
        raise RlkitError(f"The {column!r} conversation of an ultrafeedback row must end with an assistant turn.")
    return _message(messages[-1])


def map_ultrafeedback(row: dict) -> dict:
    """A preference row in TRL's conversational format: prompt = [user], chosen/rejected = [assistant]."""
    return {
        "prompt": [{"role": "user", "content": str(row["prompt"])}],
        "chosen": [_last_assistant(row["chosen"], "chosen")],
        "rejected": [_last_assistant(row["rejected"], "rejected")],
        "score_chosen": float(row["score_chosen"]),
        "score_rejected": float(row["score_rejected"]),
        "task": "ultrafeedback",
    }


# ---------------------------------------------------------------- where each task's rows come from
@dataclass(frozen=True)
class HubSource:
    """How a hub task's dataset is loaded and mapped.

    ``splits`` maps the kit's split ("train"/"test") to the dataset's split; a kit split that is
    missing raises ``missing_split`` instead. With ``held_out_key`` the dataset has one split and
    the kit carves its held-out side by hashing that key (``data.is_held_out``).
    """

    config: str | None
    splits: dict[str, str]
    columns: tuple[str, ...]
    mapper: Callable[[dict], dict]
    keep: Callable[[dict], bool] | None = None
    held_out_key: Callable[[dict], str] | None = None
    missing_split: str = ""


HUB_SOURCES: dict[str, HubSource] = {
    "gsm8k": HubSource("main", {"train": "train", "test": "test"}, ("question", "answer"), map_gsm8k),
    "math500": HubSource(
        None, {"test": "test"}, ("problem", "solution", "answer"), map_math500,
        missing_split="MATH-500 has only a 'test' split (500 problems), kept for held-out evaluation. "
                      "Train on gsm8k (TASK='gsm8k') or another set, and evaluate on math500 with split='test'.",
    ),
    "countdown_hub": HubSource(None, {"train": "train", "test": "train"}, ("nums", "target"), map_countdown,
                               held_out_key=_countdown_key),
    "mbpp": HubSource("full", {"train": "train", "test": "test"}, ("text", "code", "test_list"), map_mbpp),
    "humaneval": HubSource(
        None, {"test": "test"}, ("prompt", "canonical_solution", "test", "entry_point"), map_humaneval,
        missing_split="HumanEval has only a 'test' split (164 problems), kept for held-out evaluation. "
                      "Train on mbpp (TASK='mbpp'), and evaluate on humaneval with split='test'.",
    ),
    "smoltalk": HubSource(None, {"train": "train", "test": "test"}, ("messages",), map_smoltalk,
                          keep=smoltalk_usable),
    "ultrafeedback": HubSource(
        None, {"train": "train_prefs", "test": "test_prefs"},
        ("prompt", "chosen", "rejected", "score_chosen", "score_rejected"), map_ultrafeedback,
    ),
}


def hub_tasks() -> list[str]:
    """Names of the registered tasks that load a hub dataset."""
    return [name for name, task in TASKS.items() if not task.offline]


def _source(task: str) -> HubSource:
    """The ``HubSource`` of a hub task; a clear error for offline or unknown names."""
    spec = get_task(task)  # raises for unknown names, listing every task
    if spec.offline:
        raise RlkitError(f"Task {task!r} is an offline task: use data.task_splits({task!r}, ...). "
                         f"Hub tasks: {hub_tasks()}.")
    if task not in HUB_SOURCES:
        raise RlkitError(f"Hub task {task!r} ({spec.hub_id}) has no row mapper in rlkit.hub.HUB_SOURCES. "
                         f"Mapped hub tasks: {sorted(HUB_SOURCES)}.")
    return HUB_SOURCES[task]


def _hub_split(task: str, split: str) -> str:
    """The dataset split that serves the kit's ``split`` of ``task``."""
    if split not in SPLITS:
        raise RlkitError(f"Unknown split {split!r}; use 'train' or 'test' (held out).")
    source = _source(task)
    if split not in source.splits:
        raise RlkitError(f"Task {task!r} has no {split!r} split. {source.missing_split}")
    return source.splits[split]


# ---------------------------------------------------------------- selecting and mapping rows
def _row_filter(source: HubSource, split: str) -> Callable[[dict], bool] | None:
    """The predicate a raw row must pass: usable, and on the right side of a carved split."""
    if source.held_out_key is None:
        return source.keep
    key, keep, held_out = source.held_out_key, source.keep, split == "test"

    def on_side(row: dict) -> bool:
        return is_held_out(key(row)) == held_out and (keep is None or keep(row))

    return on_side


def _take(raw: datasets.Dataset, n: int | None, seed: int,
          keep: Callable[[dict], bool] | None) -> datasets.Dataset:
    """The first ``n`` rows (all when ``None``) passing ``keep`` after a seeded shuffle.

    Filters growing windows of the shuffled rows so a small ``n`` never scans a huge dataset;
    the result does not depend on the window size.
    """
    shuffled = raw.shuffle(seed=seed)
    total = len(shuffled)
    window = total if n is None else min(total, 4 * n)
    while True:
        head = shuffled.select(range(window))
        kept = head if keep is None else head.filter(keep)
        if n is not None and len(kept) >= n:
            return kept.select(range(n))
        if window == total:
            return kept
        window = min(total, window * 8)


def map_hub_rows(task: str, raw: datasets.Dataset, split: str = "train", n: int | None = None,
                 seed: int = 0) -> datasets.Dataset:
    """Check, select (seeded shuffle, at most ``n`` rows) and map raw rows of a hub task's dataset.

    ``load_hub_task`` without the download: ``raw`` is the dataset split already loaded.
    """
    source, hub_id = _source(task), get_task(task).hub_id
    _hub_split(task, split)  # validates the split name
    require_columns(raw, source.columns, f"the {task!r} row mapper (dataset {hub_id})")
    rows = _take(raw, n, seed, _row_filter(source, split))
    if n is not None and len(rows) < n:
        warnings.warn(f"{hub_id} gives only {len(rows)} usable {split!r} rows for task {task!r} "
                      f"(asked for {n}).", stacklevel=2)
    return rows.map(source.mapper, remove_columns=rows.column_names, desc=f"Mapping {task}")


# ---------------------------------------------------------------- loading
def _hub_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the hub dataset could not be reached or found" (not programming errors).

    ``datasets`` reports no network / offline mode / not cached as ``ConnectionError`` and an
    unknown or gated repo as ``DatasetNotFoundError`` (a ``FileNotFoundError``); both are
    ``OSError``, like ``huggingface_hub``'s HTTP errors. Raw HTTP client errors are added too.
    """
    import importlib

    from datasets.exceptions import DatasetsError

    errors: list[type[BaseException]] = [OSError, DatasetsError]
    for module in ("httpx", "httpx2", "requests"):
        try:
            http = importlib.import_module(module)
        except ImportError:
            continue
        errors.extend(getattr(http, name) for name in ("HTTPError", "RequestException") if hasattr(http, name))
    return tuple(errors)


def _offline_message(task: str, hub_id: str, split: str, error: BaseException) -> str:
    """What to do when a hub dataset cannot be loaded."""
    return (
        f"Could not load the hub dataset {hub_id!r} (task {task!r}, split {split!r}): "
        f"{type(error).__name__}: {error}. Hub tasks need network access or a cached copy. "
        f"Run offline with PROFILE='cpu' (or 'smoke'), which uses the kit's procedurally generated "
        f"tasks, or pass TASK=<an offline task> (one of {offline_tasks()}), or set RLKIT_HUB_MIRROR to a local "
        f"mirror that holds the dataset (rlkit/mirror.py)."
    )


def load_hub_task(task: str, split: str, n: int | None = None, seed: int = 0) -> datasets.Dataset:
    """Load a hub task's dataset split and map it to the kit's row format.

    ``split`` is ``"train"`` or ``"test"`` (held out, see the module docstring for each dataset);
    rows are shuffled with ``seed`` and at most ``n`` are kept when ``n`` is given. Raises
    ``RlkitError`` for offline/unknown tasks, a split the dataset lacks, missing columns, and
    when the hub cannot be reached (never falling back to offline data).
    """
    import datasets

    from rlkit import mirror

    hub_split, source, hub_id = _hub_split(task, split), _source(task), get_task(task).hub_id
    if mirror.mirror_root() is not None:  # RLKIT_HUB_MIRROR: the same rows, read from a local folder
        return map_hub_rows(task, mirror.load_dataset(hub_id, source.config, hub_split), split, n=n, seed=seed)
    try:
        raw = datasets.load_dataset(hub_id, source.config, split=hub_split)
    except _hub_errors() as error:
        raise RlkitError(_offline_message(task, hub_id, split, error)) from error
    return map_hub_rows(task, raw, split, n=n, seed=seed)


def load_splits(task: str, n_train: int, n_eval: int, seed: int = 0, levels: tuple[int, int] | None = None):
    """``(train, held_out)`` for any registered task: generated offline (``levels``: its difficulty range), or
    loaded from the hub (``train`` is None for an evaluation-only dataset: math500, humaneval)."""
    from rlkit.data import task_splits

    if get_task(task).offline:
        return task_splits(task, n_train, n_eval, seed, levels)
    held_out = load_hub_task(task, "test", n_eval, seed) if n_eval else None
    train = load_hub_task(task, "train", n_train, seed) if "train" in _source(task).splits else None
    return train, held_out
