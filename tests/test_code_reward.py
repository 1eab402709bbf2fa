"""The code reward: P3's format gate, hacks that must score 0, HumanEval's tests as a test_list."""

from __future__ import annotations

import sys

import pytest

from rlkit.rewards import REQUIRED_COLUMNS, get_reward, make_verifier
from rlkit.rewards.code import extract_code, humaneval_tests

needs_linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the strict sandbox needs Linux")
TESTS = ["assert add(2, 3) == 5", "assert add(-1, 1) == 0"]


def wrap(code: str, think: str = "<think>add the two numbers</think>\n") -> str:
    return f"{think}<answer>\n```python\n{code}```\n</answer>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (wrap("x = 1\n"), "x = 1\n"),
        (wrap("x = 1\n", think="add them</think>\n"), "x = 1\n"),  # <think> opened by the chat template
        (wrap("x = 1\n", think=""), None),  # no reasoning block
        ("<think>a</think><answer>x = 1</answer>", None),  # no fenced block
        ("<think>a</think>```python\nx = 1\n```<answer>done</answer>", None),  # fence outside the answer
        (wrap("x = 1\n") + "<answer>\n```\ny = 2\n```\n</answer>", "y = 2\n"),  # the last answer counts
        ("<think>a</think><answer>```py\nx = 1\n``` and ```python\ny = 2\n```</answer>", "x = 1\n\ny = 2\n"),
    ],
)
def test_format_gate(text, expected):
    assert extract_code(text) == expected


@needs_linux
@pytest.mark.parametrize(
    ("code", "reward"),
    [
        ("def add(a, b):\n    return a + b\n", 1.0),
        ("def add(a, b):\n    return a - b\n", 0.0),
        ("def add(a, b):\n    return a - b\nimport sys\nsys.exit(0)\n", 0.0),
        ("def add(a, b):\n    return a - b\nimport atexit, os\natexit.register(lambda: os._exit(0))\n", 0.0),
        ("def add(a, b):\n    return a - b\nprint('All tests passed')\n", 0.0),
        ("class Yes:\n    def __eq__(self, other):\n        return True\ndef add(a, b):\n    return Yes()\n", 0.0),
    ],
)
def test_code_reward_scores_only_honest_passes(code, reward):
    assert get_reward("code")([wrap(code)], test_list=[TESTS]) == [reward]


@needs_linux
def test_code_reward_batch_trl_kwargs_and_none_rows():
    good, bad = wrap("def add(a, b):\n    return a + b\n"), wrap("def add(a, b):\n    return 0\n")
    completions = [good, bad] * 8 + [[{"role": "assistant", "content": good}], "no code", good]
    tests = [TESTS] * 18 + [None]
    scores = get_reward("code")(completions=completions, test_list=tests, prompts=["p"] * 19, other=["x"] * 19)
    assert scores == [1.0, 0.0] * 8 + [1.0, 0.0, None]
    assert REQUIRED_COLUMNS["code"] == ("test_list",)
    assert make_verifier("code")([good], test_list=[TESTS]) == [True]


HUMANEVAL_TEST = '''
METADATA = {"author": "jt", "dataset": "test"}


def check(candidate):
    """Checks the function."""
    assert candidate(2) == 4
    assert abs(candidate(0.5) - 1.0) < 1e-6
    for x in range(3):
        assert candidate(x) == 2 * x
'''


@needs_linux
def test_humaneval_tests_rename_candidate_and_run():
    tests = humaneval_tests(HUMANEVAL_TEST, "double")
    assert tests[:2] == ["assert double(2) == 4", "assert abs(double(0.5) - 1.0) < 1e-06"]
    assert len(tests) == 3 and "METADATA" not in "".join(tests)
    reward = get_reward("code")
    assert reward([wrap("def double(x):\n    return 2 * x\n")], test_list=[tests]) == [1.0]
    cheat = "class Yes(float):\n    def __eq__(self, other):\n        return True\ndef double(x):\n    return Yes(0)\n"
    assert reward([wrap(cheat)], test_list=[tests]) == [0.0]
    with pytest.raises(ValueError, match="check"):
        humaneval_tests("assert True\n", "double")
