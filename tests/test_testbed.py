"""rlkit.testbed: the headroom rule and the worked/terse styles report."""

import json

from rlkit import data, testbed
from rlkit.errors import RlkitError
from rlkit.evaluation import EvalResult


def _result(rewards: list[list[float]], completions: list[list[str]] | None = None) -> EvalResult:
    n, k = len(rewards), len(rewards[0])
    correct = [[r == 1.0 for r in row] for row in rewards]
    from rlkit.evaluation import pass_at_k

    return EvalResult(accuracy=sum(sum(c) / k for c in correct) / n,
                      pass_at_k={j: sum(pass_at_k(k, sum(c), j) for c in correct) / n for j in (1, k)},
                      maj_at_k=None, mean_reward=0.0, truncation_rate=0.0, n=n, n_samples=k,
                      completions=completions or [["x"] * k for _ in range(n)], rewards=rewards,
                      truncated=[[False] * k for _ in range(n)])


def test_headroom_rule_needs_both_the_gap_and_the_greedy_range():
    greedy = _result([[1.0], [0.0], [0.0], [0.0]])  # 0.25
    sampled = _result([[1.0] + [0.0] * 7, [1.0] + [0.0] * 7, [0.0] * 8, [0.0] * 8])  # pass@1 0.0625, pass@8 0.5
    h = testbed.Headroom("arithmetic", greedy, sampled)
    assert h.ok and round(h.gap, 4) == 0.4375
    assert h.row() == {"greedy": 0.25, "pass@1": 0.0625, "pass@8": 0.5, "n": 4}
    solved = testbed.Headroom("arithmetic", _result([[1.0]] * 4), sampled)
    assert not solved.ok  # greedy 1.0 is above the range
    flat = testbed.Headroom("arithmetic", greedy, _result([[1.0] * 8, [0.0] * 8, [0.0] * 8, [0.0] * 8]))
    assert not flat.ok  # every sample agrees: pass@8 == pass@1
    table = testbed.table([h, solved])
    assert list(table["rule holds"]) == [True, False]


def test_styles_count_worked_and_terse_answers_and_skip_two_term_problems():
    rows = [{"level": 3}, {"level": 4}, {"level": 2}]
    texts = [["<think>1 + 2 = 3\n3 + 4 = 7</think>\n<answer>7</answer>"], ["<think>1 + 2 + 3 + 4 = 9</think>"],
             ["<think>1 + 2 = 3</think>"]]
    found = testbed.styles("arithmetic", rows, _result([[1.0], [0.0], [1.0]], texts))
    assert found == {"terse": {"n": 1, "right": 0}, "worked": {"n": 1, "right": 1}}
    assert testbed.styles("zebra", rows, _result([[1.0], [0.0], [1.0]], texts)) == {}
    assert "worked 50% (right 1/1)" in testbed.styles_line("before", found)


def test_by_operation_shows_a_trade_that_the_mean_hides():
    def row(step):
        return {"prompt": [{"role": "user", "content": f"Write a Python function solve(xs):\n1. {step}\nassert x"}]}

    rows = [row("return the smallest"), row("return the smallest"), row("return the largest"), row("sort them from "
            "smallest to largest")]
    before, after = _result([[0.0], [0.0], [1.0], [1.0]]), _result([[1.0], [1.0], [0.0], [1.0]])
    table = testbed.by_operation(rows, before, after)
    assert table.to_dict("records") == [{"operation": "min", "n": 2, "before": 0.0, "after": 1.0},
                                        {"operation": "max", "n": 1, "before": 1.0, "after": 0.0},
                                        {"operation": "sort", "n": 1, "before": 1.0, "after": 1.0}]


def test_terse_rows_keep_the_gold_answer():
    row = data.generate_rows("arithmetic", 1, seed=0, held_out=False, levels=(4, 4))[0]
    terse = data.get_task("arithmetic").terse(row)
    text = terse["completion"][0]["content"]
    assert text.count("\n") == 1 and text.endswith(f"<answer>{row['answer']}</answer>")
    assert data.get_task("arithmetic").style(row, text) == "terse"
    assert data.get_task("arithmetic").style(row, row["completion"][0]["content"]) == "worked"


def test_headroom_families_are_chosen_in_the_run_order_and_a_wrong_name_says_which_exist():
    import pytest

    tasks = ["arithmetic", "countdown", "code"]
    assert testbed.chosen(tasks) == tasks
    assert testbed.chosen(tasks, ["code", "arithmetic"]) == ["arithmetic", "code"]
    assert testbed.chosen(tasks, "code") == ["code"]
    assert testbed.chosen(tasks, "code, arithmetic") == ["arithmetic", "code"]  # as papermill's -p gives it
    for wrong in (["zebra"], [], ""):
        with pytest.raises(RlkitError, match=r"one or more of the families.*'countdown'"):
            testbed.chosen(tasks, wrong)


def test_chance_is_what_a_uniform_guess_among_well_formed_answers_scores():
    kk, grid = data.generate_rows("knights_knaves", 40, seed=0, held_out=True), data.generate_rows("zebra", 40, 0, True)
    assert {testbed.chance(r) for r in kk} == {0.5 ** r["level"] for r in kk}  # two roles per inhabitant
    for row in grid:  # 2 houses x 3 categories: 2**3 grids; 3 houses x 2: 6**2
        houses, categories = row["level"], len(next(iter(json.loads(row["solution"]).values())))
        assert testbed.chance(row) == 1 / {2: 2, 3: 6, 4: 24}[houses] ** categories
    assert testbed.chance(data.generate_rows("arithmetic", 1, 0, True)[0]) is None
    greedy, sampled = _result([[0.0], [0.0]]), _result([[0.0] * 8, [1.0] + [0.0] * 7])
    h = testbed.Headroom("knights_knaves", greedy, sampled, chance=[0.25, 0.125])
    row = h.row()
    assert row["chance@1"] == 0.1875 and round(row["chance@8"], 4) == round((1 - 0.75**8 + 1 - 0.875**8) / 2, 4)
    assert "chance@1" not in testbed.Headroom("arithmetic", greedy, sampled).row()
