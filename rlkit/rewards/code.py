"""The code reward: model-written Python, judged by ``assert`` tests inside ``rlkit.sandbox``.

Format gate (paper P3's, with the kit's answer convention): a reasoning block closed by ``</think>``
(the opening ``<think>`` may come from the chat template), then the last ``<answer>...</answer>``, which
must hold at least one fenced code block (```` ```python ... ``` ````; several blocks are joined). The code
runs in the sandbox, then each test of the row's ``test_list`` (MBPP's schema: a list of ``assert``
statements); the reward is 1.0 only when every test passed, judged outside the untrusted process (see
``rlkit.sandbox``), else 0.0.

HumanEval rows (``prompt``, ``test``, ``entry_point``) are mapped to the same ``test_list`` by
:func:`humaneval_tests`.
"""

from __future__ import annotations

import ast
import re
from collections import OrderedDict
from typing import Any

from rlkit import sandbox
from rlkit.rewards.common import completion_text, extract_answer

MAX_CODE_CHARS = 20_000  # longer answers score 0 without running
MAX_TESTS = 64
VERDICT_CACHE_SIZE = 50_000  # (code, tests) verdicts remembered: RL groups and evaluations repeat answers
_verdicts: OrderedDict[tuple[str, tuple[str, ...]], bool] = OrderedDict()
_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_GATE = re.compile(r"\s*(?:<think>)?.*?</think>.*<answer>.*</answer>", re.DOTALL)


def extract_code(text: str) -> str | None:
    """The code of a completion that passes the format gate, else ``None``.

    >>> extract_code("<think>add</think>\\n<answer>\\n```python\\ndef f(x):\\n    return x + 1\\n```\\n</answer>")
    'def f(x):\\n    return x + 1\\n'
    >>> extract_code("<answer>```python\\nx = 1\\n```</answer>") is None  # no reasoning block
    True
    """
    # The gate puts a </think> before some <answer>, hence before the last one, which extract_answer reads.
    if not isinstance(text, str) or _GATE.match(text) is None:
        return None
    blocks = _FENCE.findall(extract_answer(text) or "")
    code = "\n".join(blocks)
    if not code.strip() or len(code) > MAX_CODE_CHARS:
        return None
    return code


def _tests(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    tests = [t for t in value if isinstance(t, str) and t.strip()] if isinstance(value, (list, tuple)) else []
    return tests[:MAX_TESTS]


def code_reward(completions: list, test_list: list, test_setup_code: list | None = None,
                **kwargs: Any) -> list[float | None]:
    """1.0 when the answer's code passes every test of ``test_list`` in the sandbox, else 0.0.

    ``None`` for a row whose ``test_list`` is ``None`` (not a code row). Rows run in parallel, as many as the
    machine has cores. Raises :class:`rlkit.errors.RlkitError` only when the sandbox cannot be set up here
    (it then says what to change), never because of what a completion contains.
    """
    setups = test_setup_code if test_setup_code is not None else [None] * len(completions)
    scores: list[float | None] = []
    keys: dict[int, tuple[str, tuple[str, ...]]] = {}  # score slot -> the job that decides it
    for completion, tests, setup in zip(completions, test_list, setups, strict=True):
        tests = _tests(tests)
        if tests is None:
            scores.append(None)
            continue
        code = extract_code(completion_text(completion))
        scores.append(0.0)
        if code is not None and tests:
            setup_lines = [setup] if isinstance(setup, str) and setup.strip() else []
            keys[len(scores) - 1] = (code, tuple(setup_lines + tests))
    verdicts = _judge(set(keys.values()))
    for slot, key in keys.items():
        scores[slot] = 1.0 if verdicts[key] else 0.0
    return scores


def _judge(jobs: set[tuple[str, tuple[str, ...]]]) -> dict[tuple[str, tuple[str, ...]], bool]:
    """Whether each distinct ``(code, tests)`` passes: remembered verdicts, the rest run in the sandbox at once.

    A verdict is remembered only when the run ended on its own (every test judged, or the code raised): a
    timeout or a kill can depend on the machine's load, so such a program runs again when it comes back.
    """
    known = {job: _verdicts[job] for job in jobs if job in _verdicts}
    fresh = [job for job in jobs if job not in known]
    for job, run in zip(fresh, sandbox.run_many(fresh), strict=True):
        known[job] = run.passed
        if run.status in ("ok", "program_error"):
            _verdicts[job] = run.passed
            while len(_verdicts) > VERDICT_CACHE_SIZE:
                _verdicts.popitem(last=False)
    for job in known.keys() & _verdicts.keys():
        _verdicts.move_to_end(job)
    return known


# --------------------------------------------------------------------------- HumanEval


def humaneval_tests(test: str, entry_point: str) -> list[str]:
    """HumanEval's ``check(candidate)`` body as a ``test_list``: its statements, ``candidate`` renamed.

    Statements that are not asserts (imports, helper values) are kept in order as set-up code; a ``for``
    loop of asserts stays one statement, which the harness runs as set-up (an assert inside it that fails
    raises, so the row fails).

    >>> humaneval_tests("def check(candidate):\\n    assert candidate(2) == 4\\n", "double")
    ['assert double(2) == 4']
    """
    tree = ast.parse(test)
    check = next((node for node in tree.body if isinstance(node, ast.FunctionDef) and node.name == "check"), None)
    if check is None:
        raise ValueError("HumanEval test has no check(candidate) function")
    argument = check.args.args[0].arg if check.args.args else "candidate"
    prelude = [ast.unparse(node) for node in tree.body if node is not check and not _is_metadata(node)]
    renamed = _Rename(argument, entry_point)
    body = [ast.unparse(renamed.visit(node)) for node in check.body if not _is_docstring(node)]
    return prelude + body


def _is_metadata(node: ast.stmt) -> bool:
    return isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "METADATA" for t in node.targets)


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


class _Rename(ast.NodeTransformer):
    def __init__(self, old: str, new: str) -> None:
        self.old, self.new = old, new

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.Name(self.new, node.ctx) if node.id == self.old else node
