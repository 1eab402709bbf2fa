"""The offline code family: seeded items, gold answers that pass their asserts in the sandbox, levels, wording."""

import itertools

import pytest

from rlkit import codetasks, data
from rlkit.codetasks import OPS, code_tasks
from rlkit.rewards import get_reward


def test_items_are_seeded_and_levels_are_step_counts():
    first = [item for item, _ in zip(code_tasks(3), range(30))]
    again = [item for item, _ in zip(code_tasks(3), range(30))]
    assert first == again and first != [item for item, _ in zip(code_tasks(4), range(30))]
    for item in first:
        steps = [line for line in item["question"].splitlines() if line[:1].isdigit()]
        returns_variable = steps[-1].split(". ", 1)[1] in ("return n", "return xs", "return s")
        assert len(steps) - returns_variable == item["level"], item
        assert item["code"].count("\n") == 2 * len(steps), item  # a comment and a line per step after the def
    hard = [item for item, _ in zip(code_tasks(3, steps=(4, 4)), range(10))]
    assert {item["level"] for item in hard} == {4}
    with pytest.raises(ValueError, match="steps"):
        next(code_tasks(0, steps=(0, 2)))


def test_every_operation_appears_and_no_step_repeats_the_previous_one():
    items = [item for item, _ in zip(code_tasks(0), range(3000))]
    used = " ".join(item["code"] for item in items)
    for op in OPS.values():
        fixed = op.code.split("{")[0]
        assert fixed in used, op.name
    for item in items:
        lines = item["code"].splitlines()[2::2]  # the code lines
        assert all(a != b for a, b in itertools.pairwise(lines)), item["code"]


def test_operations_reads_back_the_steps_of_every_generated_question():
    for item, _ in zip(code_tasks(3, steps=(1, 4)), range(2000)):
        names = codetasks.operations(item["question"])
        assert len(names) == item["level"], item["question"]
        # each operation's line of code, constants aside, is the gold function's line for that step
        lines = item["code"].splitlines()[2::2]
        assert all(line.strip().startswith(OPS[name].code.split("{")[0]) for name, line in zip(names, lines)), item
    assert codetasks.operations("1. reverse it\n2. return s") == ["reverse_s"]
    assert codetasks.operations("1. reverse their order\n2. keep the first 3 letters") == ["reverse", "prefix"]
    assert codetasks.operations("1. do something else\nassert solve(1) == 2") == []


def test_gold_answers_pass_and_broken_ones_fail_in_the_sandbox():
    rows = data.generate_rows("code", 40, seed=5, held_out=True, levels=(1, 3))
    reward = get_reward("code")
    gold = [r["completion"] for r in rows]
    tests = [r["test_list"] for r in rows]
    assert reward(gold, test_list=tests) == [1.0] * len(rows)
    # the same answers checked against the next row's tests: right code for the wrong problem
    shifted = tests[1:] + tests[:1]
    assert sum(reward(gold, test_list=shifted)) <= 2


def test_no_constant_answer_passes():
    rows = data.generate_rows("code", 200, seed=6, held_out=False)
    for row in rows:
        expected = {test.rsplit(" == ", 1)[1] for test in row["test_list"]}
        assert len(expected) > 1, row["test_list"]


def test_rows_show_one_test_and_keep_all_for_the_reward():
    row = data.generate_rows("code", 1, seed=0, held_out=False)[0]
    question = data.question_of(row)
    assert question.startswith("Write a Python function solve(")
    assert question.endswith(row["test_list"][0]) and len(row["test_list"]) == codetasks.N_TESTS
    assert all(t not in question for t in row["test_list"][1:])


@pytest.mark.slow
def test_03_runs_on_the_code_family(tmp_path):
    """03 with TASK="code" end to end in the smoke profile (code is not in the warm start yet: no gain asserted)."""
    import json
    from pathlib import Path

    import papermill

    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    papermill.execute_notebook(str(notebooks / "03_grpo.ipynb"), str(tmp_path / "03.out.ipynb"),
                               parameters={"PROFILE": "smoke", "TASK": "code", "OUTPUT_DIR": str(tmp_path / "03")},
                               cwd=str(notebooks), progress_bar=False, kernel_name="python3")
    metrics = json.loads((tmp_path / "03" / "metrics.json").read_text())
    assert metrics["task"] == "code" and metrics["n_eval"] > 0 and metrics["steps"] > 0
