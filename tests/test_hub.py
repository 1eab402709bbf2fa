"""Hub tasks: row mappers on hand-written raw rows, split handling, and the offline error path.

No test downloads anything: ``datasets.load_dataset`` either runs in offline mode against an empty
cache (and must fail with the kit's message) or is replaced by a stub returning hand-made rows.
"""

import ast

import datasets
import pytest
from datasets import Dataset
from trl.data_utils import is_conversational

from rlkit import hub, mirror, rehearsal
from rlkit.data import SYSTEM_PROMPT, TASKS, generate_rows, is_held_out, question_of, require_columns, tagged
from rlkit.errors import RlkitError
from rlkit.rewards import REQUIRED_COLUMNS, get_reward
from rlkit.rewards.code import extract_code, humaneval_tests

NATALIA = {
    "question": "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips to her "
                "friends in May. How many clips did Natalia sell altogether in April and May?",
    "answer": "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
              "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72",
}
THOUSANDS = {
    "question": "A bike costs $1,000 and a helmet $234. How much do both cost?",
    "answer": "Both cost 1,000 + 234 = $<<1000+234=1234>>1,234.\n#### 1,234",
}
MATH500 = [
    {"problem": "Compute $\\frac{1}{2} + \\frac{1}{4}$.", "solution": "The sum is $\\boxed{\\frac{3}{4}}$.",
     "answer": "\\frac{3}{4}"},
    {"problem": "Convert $(0,3)$ to polar coordinates.", "solution": "We get $\\boxed{(3,\\frac{\\pi}{2})}$.",
     "answer": "\\left( 3, \\frac{\\pi}{2} \\right)"},
    {"problem": "What is $2^{10}$?", "solution": "$2^{10} = \\boxed{1024}$.", "answer": "1024"},
]
CHAT = [{"role": "user", "content": "Hi!"}, {"role": "assistant", "content": "Hello! How can I help?"}]
LONG_CHAT = [{"role": "system", "content": "Be brief."}, *CHAT, {"role": "user", "content": "Name a color."},
             {"role": "assistant", "content": "Blue."}]
UNANSWERED = [*CHAT, {"role": "user", "content": "Are you there?"}]
PREFERENCE = {
    "prompt": "Name a prime number.", "prompt_id": "abc",
    "chosen": [{"role": "user", "content": "Name a prime number."}, {"role": "assistant", "content": "7"}],
    "rejected": [{"role": "user", "content": "Name a prime number."}, {"role": "assistant", "content": "9"}],
    "messages": [{"role": "user", "content": "Name a prime number."}, {"role": "assistant", "content": "7"}],
    "score_chosen": 9.0, "score_rejected": 2.5,
}


MBPP = {  # the "full" config's columns
    "task_id": 601, "text": "Write a function to find the larger of two numbers.",
    "code": "def larger(a, b):\r\n  if a >= b:\r\n    return a\r\n  return b",
    "test_list": ["assert larger(5, 10) == 10", "assert larger(-1, -2) == -1", "assert larger(9, 7) == 9"],
    "test_setup_code": "", "challenge_test_list": [],
}
HUMANEVAL = {
    "task_id": "HumanEval/0", "entry_point": "triple",
    "prompt": "from typing import List\n\n\ndef triple(xs: List[int]) -> List[int]:\n"
              "    \"\"\" Each number times three.\n    >>> triple([1])\n    [3]\n    \"\"\"\n",
    "canonical_solution": "    return [3 * x for x in xs]\n",
    "test": "\n\nMETADATA = {}\n\n\ndef check(candidate):\n    assert candidate([]) == []\n"
            "    assert candidate([1, -2]) == [3, -6]\n",
}


def _countdown_raw(count: int) -> list[dict]:
    """``count`` distinct countdown problems in the dataset's raw columns."""
    return [{"nums": [a, b, 1 + (a * b) % 30], "target": a + b} for a in range(1, 60) for b in range(a, a + 3)][:count]


def _reward_columns(row: dict, task: str) -> dict:
    """The reward keyword columns of one mapped row, as one-element lists."""
    return {column: [row[column]] for column in REQUIRED_COLUMNS[TASKS[task].reward]}


# ---------------------------------------------------------------- gsm8k
@pytest.mark.parametrize(
    "raw, final, rationale",
    [
        (NATALIA, "72",
         "Natalia sold 48/2 = 24 clips in May.\nNatalia sold 48+24 = 72 clips altogether in April and May."),
        (THOUSANDS, "1234", "Both cost 1,000 + 234 = $1,234."),
        ({"question": "Q", "answer": "It drops 5 - 8 = <<5-8=-3>>-3 degrees.\n####  -3 "}, "-3",
         "It drops 5 - 8 = -3 degrees."),
    ],
)
def test_map_gsm8k(raw, final, rationale):
    row = hub.map_gsm8k(raw)
    assert row["answer"] == final and row["task"] == "gsm8k"
    assert row["prompt"] == [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": raw["question"]}]
    gold = f"<think>{rationale}</think>\n<answer>{final}</answer>"
    assert row["completion"] == [{"role": "assistant", "content": gold}]
    assert "<<" not in row["completion"][0]["content"]
    assert get_reward("math")([row["completion"]], **_reward_columns(row, "gsm8k")) == [1.0]


@pytest.mark.parametrize("answer", ["The answer is 72.", "Total: 72\n####   "])
def test_gsm8k_answer_without_final_number_is_an_error(answer):
    with pytest.raises(RlkitError, match="####"):
        hub.map_gsm8k({"question": "Q", "answer": answer})


# ---------------------------------------------------------------- math500
@pytest.mark.parametrize("raw", MATH500, ids=["fraction", "tuple", "integer"])
def test_map_math500_gold_completion_scores_one(raw):
    row = hub.map_math500(raw)
    assert row["answer"] == raw["answer"] and row["task"] == "math500"
    assert question_of(row) == raw["problem"]
    assert row["completion"][0]["content"] == f"<think>{raw['solution']}</think>\n<answer>{raw['answer']}</answer>"
    assert get_reward("math")([row["completion"]], **_reward_columns(row, "math500")) == [1.0]


# ---------------------------------------------------------------- countdown
@pytest.mark.parametrize("nums, target, solution", [([44, 19, 35], 98, "44 + 19 + 35"),
                                                     ([3, 7, 2, 5], 41, "7 * 5 + 3 * 2")])
def test_map_countdown(nums, target, solution):
    row = hub.map_countdown({"nums": nums, "target": target})
    assert row["numbers"] == nums and row["target"] == target and row["task"] == "countdown_hub"
    assert question_of(row) == hub.countdown_question(nums, target)
    reward, columns = get_reward("countdown"), _reward_columns(row, "countdown_hub")
    assert reward([row["completion"]], **columns) == [0.1]  # a placeholder, not a gold solution
    assert reward([f"<answer>{solution}</answer>"], **columns) == [1.0]


def test_countdown_question_matches_the_offline_task():
    offline = generate_rows("countdown", 1, seed=0, held_out=False)[0]
    assert question_of(offline) == hub.countdown_question(offline["numbers"], offline["target"])


def test_countdown_held_out_is_carved_by_problem_hash():
    raw = _countdown_raw(150)
    swapped = [{"nums": row["nums"][::-1], "target": row["target"]} for row in raw]  # same problems, reordered
    dataset = Dataset.from_list(raw + swapped)
    train = hub.map_hub_rows("countdown_hub", dataset, "train")
    test = hub.map_hub_rows("countdown_hub", dataset, "test")
    problems = {side: {(tuple(sorted(r["numbers"])), r["target"]) for r in rows}
                for side, rows in (("train", train), ("test", test))}
    assert problems["train"].isdisjoint(problems["test"]) and problems["test"]
    assert len(train) + len(test) == len(dataset)
    expected_test = sum(is_held_out(f"countdown {sorted(r['nums'])} -> {r['target']}") for r in raw + swapped)
    assert len(test) == expected_test
    some = hub.map_hub_rows("countdown_hub", dataset, "test", n=3, seed=5)
    assert len(some) == 3 and all(row in test.to_list() for row in some.to_list())


# ---------------------------------------------------------------- mbpp and humaneval
def _wrong_completion(row: dict) -> str:
    """The row's gold code with every function it defines redefined to return None: the right names, wrong values."""
    code = extract_code(row["completion"][0]["content"])
    names = [node.name for node in ast.parse(code).body if isinstance(node, ast.FunctionDef)]
    stubs = "".join(f"\n\ndef {name}(*args, **kwargs):\n    return None\n" for name in names)
    return tagged(hub.CODE_THINK_PLACEHOLDER, f"```python\n{code}{stubs}```")


def _code_rows(rows: int = 6) -> list[dict]:
    """Every MBPP and HumanEval fixture row of the rehearsal mirror (each problem kind at least once), mapped."""
    fixtures = rehearsal.dataset_fixtures(rows)
    mbpp = [r for split in fixtures["google-research-datasets/mbpp"][1].values() for r in split]
    humaneval = fixtures["openai/openai_humaneval"][1]["test"]
    return [hub.map_mbpp(r) for r in mbpp] + [hub.map_humaneval(r) for r in humaneval]


def test_map_mbpp():
    row = hub.map_mbpp(MBPP)
    assert row["task"] == "mbpp" and row["test_list"] == MBPP["test_list"] and row["test_setup_code"] == ""
    question = question_of(row)
    assert question.startswith(MBPP["text"] + " Your code should pass these tests:\n\nassert larger(5, 10) == 10\n")
    assert all(test in question for test in MBPP["test_list"]) and "```python" in question
    assert extract_code(row["completion"][0]["content"]) == MBPP["code"].replace("\r\n", "\n") + "\n"
    require_columns(Dataset.from_list([row]), REQUIRED_COLUMNS["code"], "the code reward")
    assert hub.map_mbpp({**MBPP, "test_setup_code": None})["test_setup_code"] == ""


def test_map_humaneval():
    row = hub.map_humaneval(HUMANEVAL)
    assert row["task"] == "humaneval" and row["test_setup_code"] == ""
    assert row["test_list"] == humaneval_tests(HUMANEVAL["test"], "triple") == [
        "assert triple([]) == []", "assert triple([1, -2]) == [3, -6]"]
    assert HUMANEVAL["prompt"] in question_of(row)
    assert extract_code(row["completion"][0]["content"]) == HUMANEVAL["prompt"] + HUMANEVAL["canonical_solution"]
    with pytest.raises(RlkitError, match="HumanEval/0.*check"):
        hub.map_humaneval({**HUMANEVAL, "test": "def test():\n    assert True\n"})


def test_code_fixtures_gold_scores_one_and_a_wrong_answer_zero():
    """Every MBPP/HumanEval fixture's gold completion passes its tests in the sandbox; a wrong one fails."""
    rows = _code_rows()
    completions = [row["completion"] for row in rows] + [_wrong_completion(row) for row in rows]
    columns = {c: [row[c] for row in rows] * 2 for c in ("test_list", "test_setup_code")}
    scores = get_reward("code")(completions, **columns)
    assert scores == [1.0] * len(rows) + [0.0] * len(rows), scores


# ---------------------------------------------------------------- smoltalk
@pytest.mark.parametrize("messages", [CHAT, LONG_CHAT], ids=["one-turn", "system-and-two-turns"])
def test_map_smoltalk(messages):
    row = hub.map_smoltalk({"messages": messages, "source": "x"})
    assert row == {"messages": messages, "prompt": messages[:-1], "completion": messages[-1:], "task": "smoltalk"}
    assert is_conversational(row)


def test_smoltalk_skips_chats_not_ending_with_the_assistant():
    dataset = Dataset.from_list([{"messages": m, "source": "s"} for m in (CHAT, UNANSWERED, LONG_CHAT)])
    rows = hub.map_hub_rows("smoltalk", dataset, "train")
    assert sorted(len(r["messages"]) for r in rows) == [2, 5]
    assert set(rows.column_names) == {"messages", "prompt", "completion", "task"}
    assert not hub.smoltalk_usable({"messages": UNANSWERED})
    with pytest.raises(RlkitError, match="assistant"):
        hub.map_smoltalk({"messages": UNANSWERED})


# ---------------------------------------------------------------- ultrafeedback
def test_map_ultrafeedback():
    row = hub.map_ultrafeedback(PREFERENCE)
    assert row == {
        "prompt": [{"role": "user", "content": "Name a prime number."}],
        "chosen": [{"role": "assistant", "content": "7"}],
        "rejected": [{"role": "assistant", "content": "9"}],
        "score_chosen": 9.0, "score_rejected": 2.5, "task": "ultrafeedback",
    }
    assert is_conversational(row)
    with pytest.raises(RlkitError, match="rejected"):
        hub.map_ultrafeedback({**PREFERENCE, "rejected": PREFERENCE["rejected"][:1]})


# ---------------------------------------------------------------- selection and column checks
def test_map_hub_rows_shuffles_with_the_seed_and_takes_n():
    dataset = Dataset.from_list([{"question": f"Q{i}", "answer": f"#### {i}"} for i in range(40)])
    first = hub.map_hub_rows("gsm8k", dataset, "train", n=5, seed=1)
    assert len(first) == 5 and first.to_list() == hub.map_hub_rows("gsm8k", dataset, "train", n=5, seed=1).to_list()
    assert first["answer"] != hub.map_hub_rows("gsm8k", dataset, "train", n=5, seed=2)["answer"]
    assert len(hub.map_hub_rows("gsm8k", dataset, "test")) == 40
    with pytest.warns(UserWarning, match="only 40"):
        assert len(hub.map_hub_rows("gsm8k", dataset, "test", n=100)) == 40


def test_a_dataset_without_the_mapper_columns_gets_a_clear_error():
    dataset = Dataset.from_list([{"question": "Q", "solution": "#### 1"}])
    with pytest.raises(RlkitError, match=r"missing column\(s\) \['answer'\].*gsm8k.*openai/gsm8k"):
        hub.map_hub_rows("gsm8k", dataset, "train")


# ---------------------------------------------------------------- load_hub_task: names, splits, errors
EXPECTED_LOADS = [
    ("gsm8k", "train", ("openai/gsm8k", "main", "train"), [NATALIA]),
    ("gsm8k", "test", ("openai/gsm8k", "main", "test"), [THOUSANDS]),
    ("math500", "test", ("HuggingFaceH4/MATH-500", None, "test"), MATH500),
    ("countdown_hub", "train", ("Jiayi-Pan/Countdown-Tasks-3to4", None, "train"), _countdown_raw(60)),
    ("countdown_hub", "test", ("Jiayi-Pan/Countdown-Tasks-3to4", None, "train"), _countdown_raw(60)),
    ("mbpp", "train", ("google-research-datasets/mbpp", "full", "train"), [MBPP]),
    ("mbpp", "test", ("google-research-datasets/mbpp", "full", "test"), [MBPP]),
    ("humaneval", "test", ("openai/openai_humaneval", None, "test"), [HUMANEVAL]),
    ("smoltalk", "train", ("HuggingFaceTB/smol-smoltalk", None, "train"), [{"messages": CHAT}]),
    ("smoltalk", "test", ("HuggingFaceTB/smol-smoltalk", None, "test"), [{"messages": LONG_CHAT}]),
    ("ultrafeedback", "train", ("HuggingFaceH4/ultrafeedback_binarized", None, "train_prefs"), [PREFERENCE]),
    ("ultrafeedback", "test", ("HuggingFaceH4/ultrafeedback_binarized", None, "test_prefs"), [PREFERENCE]),
]


@pytest.mark.parametrize("task, split, call, raw", EXPECTED_LOADS, ids=[f"{t}-{s}" for t, s, _, _ in EXPECTED_LOADS])
def test_load_hub_task_asks_for_the_right_split_and_maps(monkeypatch, task, split, call, raw):
    calls = []

    def fake_load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        return Dataset.from_list(raw * 2)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    rows = hub.load_hub_task(task, split, n=2, seed=3)
    assert calls == [call] and 0 < len(rows) <= 2 and set(rows["task"]) == {task}


@pytest.mark.parametrize("task, split, message", [
    ("math500", "train", "only a 'test' split.*gsm8k"),
    ("humaneval", "train", "only a 'test' split.*mbpp"),
    ("gsm8k", "validation", "use 'train' or 'test'"),
    ("arithmetic", "train", r"offline task.*Hub tasks: \['gsm8k'"),
    ("no_such_task", "train", "Unknown task 'no_such_task'"),
])
def test_bad_task_or_split_fails_before_loading(monkeypatch, task, split, message):
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: pytest.fail("must not load"))
    with pytest.raises(RlkitError, match=message):
        hub.load_hub_task(task, split)


@pytest.mark.parametrize("task", hub.hub_tasks())
def test_offline_load_says_how_to_run_offline(offline_empty_cache, task):
    split = "train" if "train" in hub.HUB_SOURCES[task].splits else "test"
    with pytest.raises(RlkitError) as caught:
        hub.load_hub_task(task, split, n=4)
    message = str(caught.value)
    assert TASKS[task].hub_id in message and "PROFILE='cpu'" in message and "'smoke'" in message
    assert "TASK=<an offline task>" in message and "arithmetic" in message
    assert isinstance(caught.value.__cause__, OSError)  # datasets reports offline as ConnectionError


@pytest.mark.parametrize("error", [ConnectionError("no route"), TimeoutError("slow"),
                                   datasets.exceptions.DatasetNotFoundError("gone")])
def test_hub_failures_become_rlkit_errors(monkeypatch, error):
    def failing_load(*args, **kwargs):
        raise error

    monkeypatch.setattr(datasets, "load_dataset", failing_load)
    with pytest.raises(RlkitError, match=f"openai/gsm8k.*{type(error).__name__}.*PROFILE='cpu'"):
        hub.load_hub_task("gsm8k", "train")


def test_programming_errors_are_not_disguised_as_offline(monkeypatch):
    def broken_load(*args, **kwargs):
        raise TypeError("load_dataset() got an unexpected keyword argument")

    monkeypatch.setattr(datasets, "load_dataset", broken_load)
    with pytest.raises(TypeError):
        hub.load_hub_task("gsm8k", "train")


def test_every_registered_hub_task_has_a_mapper():
    assert sorted(hub.hub_tasks()) == sorted(hub.HUB_SOURCES)



# ---------------------------------------------------------------- the rehearsal mirror's dataset fixtures
@pytest.fixture
def fixture_mirror(monkeypatch, tmp_path, offline_empty_cache):
    """RLKIT_HUB_MIRROR set to a mirror holding the rehearsal's dataset fixtures (no models)."""
    rehearsal.write_dataset_fixtures(tmp_path / "mirror")  # 48 rows a split: enough held-out countdown
    monkeypatch.setenv(mirror.MIRROR_ENV, str(tmp_path / "mirror"))
    return tmp_path / "mirror"


def test_every_hub_task_loads_from_the_fixture_mirror(fixture_mirror):
    """The fixtures have what each mapper reads, and the rows have what each task's reward reads."""
    for task in hub.hub_tasks():
        reward = TASKS[task].reward
        for split in hub.HUB_SOURCES[task].splits:
            rows = hub.load_hub_task(task, split, n=4, seed=0)
            assert len(rows) == 4 and set(rows["task"]) == {task}, (task, split)
            if reward != "none":
                require_columns(rows, REQUIRED_COLUMNS[reward], f"the {reward} reward of {task}")


def test_code_tasks_load_from_the_mirror_and_their_gold_scores_one(fixture_mirror):
    train, test = hub.load_splits("mbpp", 4, 4, seed=1)
    no_train, humaneval = hub.load_splits("humaneval", 4, 4, seed=1)
    assert no_train is None and len(train) == len(test) == len(humaneval) == 4
    for rows in (train, test, humaneval):
        columns = {k: rows[k] for k in rows.column_names if k not in ("prompt", "completion")}
        assert get_reward("code")(completions=rows["completion"], **columns) == [1.0] * 4
