"""Profiles, typed configs and the task registry."""

import pytest

from rlkit import config, data
from rlkit.errors import RlkitError


@pytest.mark.parametrize(
    "profile, env, cuda, expected",
    [
        ("auto", "", True, "gpu"),
        ("auto", "", False, "cpu"),
        ("auto", "smoke", True, "smoke"),  # the environment replaces "auto"
        ("cpu", "smoke", False, "cpu"),  # an explicit profile wins over the environment
        ("smoke", "", False, "smoke"),
    ],
)
def test_resolve_profile(monkeypatch, profile, env, cuda, expected):
    monkeypatch.setenv("RLKIT_PROFILE", env)
    resolved, reason = config.resolve_profile(profile, cuda_available=cuda)
    assert resolved == expected
    assert reason  # the banner always says why


def test_unknown_profile_says_what_to_use(monkeypatch):
    with pytest.raises(RlkitError, match=r"Unknown PROFILE='laptop'.*smoke.*cpu.*gpu"):
        config.resolve_profile("laptop", cuda_available=False)
    monkeypatch.setenv("RLKIT_PROFILE", "fast")
    with pytest.raises(RlkitError, match="RLKIT_PROFILE='fast'"):
        config.resolve_profile("auto", cuda_available=False)


def test_make_config_applies_profile_then_overrides():
    cfg = config.make_config("grpo", "smoke", output_dir="x", max_steps=3, model=None)
    assert cfg.profile == "smoke" and cfg.max_steps == 3 and cfg.output_dir == "x"
    assert cfg.model == config.OFFLINE_MODEL  # None means "the profile's choice"
    gpu = config.make_config("grpo", "gpu")
    assert gpu.model.startswith("Qwen/Qwen2.5-0.5B") and gpu.task == "gsm8k"


def test_batch_not_divisible_by_group_names_the_fix():
    with pytest.raises(RlkitError, match=r"BATCH_SIZE=6 is not divisible.*NUM_GENERATIONS=4.*BATCH_SIZE=4 or 8"):
        config.make_config("grpo", "smoke", batch_size=6, num_generations=4)
    with pytest.raises(RlkitError, match="at least 2"):
        config.make_config("rloo", "smoke", num_generations=1)


@pytest.mark.parametrize(
    "override, message",
    [
        (dict(learning_rate=0), "LEARNING_RATE=0 must be > 0"),
        (dict(max_steps=-1), "MAX_STEPS=-1 must be > 0"),
        (dict(lora_r=0, load_in_4bit=True), "LORA_R > 0 or LOAD_IN_4BIT=False"),
        (dict(lora_r=-2), "LORA_R=-2"),
        (dict(learnig_rate=1e-4), "Unknown setting"),
    ],
)
def test_bad_settings_say_what_to_change(override, message):
    with pytest.raises(RlkitError, match=message):
        config.make_config("sft", "smoke", **override)


OFFLINE = ["arithmetic", "countdown", "knights_knaves", "zebra", "instruct"]


@pytest.mark.parametrize("task", OFFLINE)
def test_offline_task_splits_are_disjoint_and_trl_shaped(task):
    train, test = data.task_splits(task, 40, 10, seed=3)
    assert len(train) == 40 and len(test) == 10
    train_q = {data.question_of(r) for r in train}
    test_q = {data.question_of(r) for r in test}
    assert len(train_q) == 40 and train_q.isdisjoint(test_q)
    assert all(data.is_held_out(q) for q in test_q) and not any(data.is_held_out(q) for q in train_q)
    row = train[0]
    assert [m["role"] for m in row["prompt"]] == ["system", "user"]
    assert row["completion"][0]["role"] == "assistant"
    needed = {"countdown": ("numbers", "target"), "zebra": ("solution",)}.get(task, ("answer",))
    assert all(c in row for c in needed) and "level" in row


def test_countdown_rows_have_int_numbers_and_target():
    row = data.generate_rows("countdown", 1, seed=0, held_out=False)[0]
    assert isinstance(row["target"], int) and all(isinstance(n, int) for n in row["numbers"])


def test_gold_solutions_score_one_with_the_task_reward():
    from rlkit.rewards import get_reward

    for task in data.family_tasks():
        rows = data.generate_rows(task, 20, seed=1, held_out=True)
        reward = get_reward(data.get_task(task).reward)
        columns = {k: [r[k] for r in rows] for k in rows[0] if k not in ("prompt", "completion", "task")}
        assert reward([r["completion"] for r in rows], **columns) == [1.0] * 20, task


def test_families_and_levels():
    assert data.family_tasks() == ["arithmetic", "countdown", "knights_knaves", "zebra", "code"]
    assert data.family_tasks("math") == ["arithmetic", "countdown"] and data.family_tasks("code") == ["code"]
    assert data.family_tasks("code", offline=False) == ["mbpp", "humaneval"]
    for task in data.family_tasks():
        spec = data.get_task(task)
        low, high = spec.default_levels
        rows = data.generate_rows(task, 30, seed=2, held_out=False)
        assert {r["level"] for r in rows} <= set(range(low, high + 1)), task
        hard = data.generate_rows(task, 5, seed=2, held_out=False, levels=(high, high))
        assert {r["level"] for r in hard} == {high}, task


@pytest.mark.parametrize("levels, message", [((1, 3), "within 2..8"), ((5, 3), "low <= high"), ("hard", "range")])
def test_bad_levels_say_what_to_change(levels, message):
    with pytest.raises(RlkitError, match=message):
        data.generate_rows("arithmetic", 1, seed=0, held_out=False, levels=levels)


def test_countdown_gold_expressions_use_every_number_once_without_negation():
    from rlkit.rewards import countdown_value

    for row in data.generate_rows("countdown", 200, seed=4, held_out=False):
        assert "-" not in row["answer"].split()[0] and countdown_value(row["answer"], row["numbers"], row["target"])
        assert 10 <= row["target"] <= 100 and len(row["numbers"]) == row["level"]


_OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "/": lambda a, b: a / b}
_UNDO = {"+": "-", "-": "+", "*": "/", "/": "*"}  # the last operation x and the value the pair must make


def _calc(text: str) -> tuple[int, str, int, int]:
    """``"20 - 7 = 13"`` -> (20, "-", 7, 13), checking the arithmetic."""
    a, op, b, eq, c = text.split()
    assert eq == "=" and _OPS[op](int(a), int(b)) == int(c), text
    return int(a), op, int(b), int(c)


def _read_search(think: str, numbers: list[int], target: int, form: str = "search") -> None:
    """Check a Countdown search (data.countdown_search) line by line: the join (four numbers) takes two listed numbers
    and leaves three; then every last operation for every number in turn, in order, none skipped that could apply,
    each pair's results right and in order, "yes" exactly where a result makes the value needed, and only at the end.
    ``form="regular"``: no division anywhere, the last operation + or - and a join + or -; ``"first_pair"``: the
    same, with the join of the first two numbers listed, by +, - or *."""
    import re

    regular = form != "search"
    lines = think.splitlines()
    assert lines.pop(0) == f"Using the numbers {list(numbers)} to make {target}"
    pool = list(numbers)
    if len(numbers) == 4:
        joined = re.fullmatch(r"Join (\d+) and (\d+): (.+)", lines.pop(0))
        a, b = int(joined[1]), int(joined[2])
        left, _, right, value = _calc(joined[3])
        assert sorted((left, right)) == sorted((a, b)) and value > 0
        assert joined[3].split()[1] in {"search": "+-*/", "regular": "+-", "first_pair": "+-*"}[form]
        assert form != "first_pair" or [a, b] == numbers[:2]
        need = re.fullmatch(rf"Need {target} from \[(\d+), (\d+), {value}\]", lines[0])
        pool = [int(need[1]), int(need[2]), value]
        assert sorted(pool[:2] + [a, b]) == sorted(numbers)
        assert lines.pop(0) == f"Need {target} from {pool}"
    tries = [(x, i, op) for i, x in enumerate(pool) for op in ("+-" if regular else "+-*/")]
    for n, line in enumerate(lines):
        found = re.fullmatch(r"(\d+ [-+*/] \d+ = \d+) from (\d+) and (\d+): (.+) (yes|no)", line)
        t, undo, x, need = _calc(found[1])
        assert t == target
        while tries and (tries[0][0], _UNDO[tries[0][2]]) != (x, undo):  # a skipped try must be one that cannot apply
            skipped_x, _, skipped_op = tries.pop(0)
            assert (skipped_op == "+" and target <= skipped_x) or (skipped_op in "*/" and skipped_x < 2) or (
                skipped_op == "*" and target % skipped_x), (line, skipped_x, skipped_op)
        _, i, _ = tries.pop(0)
        pair = [p for j, p in enumerate(pool) if j != i]
        assert [int(found[2]), int(found[3])] == pair
        results = [_calc(step) for step in found[4].split(", ")]
        expected = [(pair[0], "+", pair[1]), (max(pair), "-", min(pair)), (pair[0], "*", pair[1])]
        if min(pair) > 1 and max(pair) % min(pair) == 0 and not regular:
            expected.append((max(pair), "/", min(pair)))
        assert [r[:3] for r in results] == expected[:len(results)]
        made = [r[3] for r in results]
        assert (found[5] == "yes") == (need in made) == (n == len(lines) - 1), line
        assert need not in made[:-1] and (need in made or len(results) == len(expected))
    assert lines  # at least one try


def test_countdown_search_is_worked_out_right():
    """Recipe 14's Countdown demonstrations: the search is read back line by line and its answer scored."""
    import random

    from rlkit.rewards import countdown_value

    rows = data.generate_rows("countdown", 120, seed=3, held_out=False)
    rng = random.Random(0)
    assert {len(r["numbers"]) for r in rows} == {3, 4}
    for row in rows:
        think, answer = data.countdown_search(row["numbers"], row["target"], rng)
        _read_search(think, row["numbers"], row["target"])
        assert countdown_value(answer, row["numbers"], row["target"]) == row["target"]
    assert data.countdown_search([1, 1, 1], 50, rng) is None


def test_the_regular_countdown_search_never_divides():
    """Recipe 16's search: read back like recipe 15's, with + and - as last operations and joins and no division, so
    that every line that finds nothing ends after three results. Training rows it cannot solve are left out, held-out
    rows are the same whatever the recipe."""
    import random

    from rlkit.recipes import RECIPE_15, RECIPE_16
    from rlkit.rewards import countdown_value

    rng = random.Random(0)
    with data.building(RECIPE_16):
        rows = data.generate_rows("countdown", 150, seed=3, held_out=False)
        held_out = data.generate_rows("countdown", 100, seed=3, held_out=True)
    assert {len(r["numbers"]) for r in rows} == {3, 4}
    for row in rows:
        think = row["completion"][0]["content"].split("<think>")[1].split("</think>")[0]
        _read_search(think, row["numbers"], row["target"], form="regular")
        assert countdown_value(row["answer"], row["numbers"], row["target"]) == row["target"]
        assert " / " not in think and all(line.count(" = ") == 4 for line in think.splitlines() if line.endswith(" no"))
    assert data.countdown_search([2, 3, 5], 16, rng, form="regular") is None  # (3 + 5) * 2 needs a last *
    assert data.countdown_search([2, 3, 5], 16, rng) is not None
    with data.building(RECIPE_15):
        assert [r["prompt"] for r in held_out] == [r["prompt"] for r in data.generate_rows("countdown", 100, 3, True)]
    assert len({data.question_of(r) for r in rows} & {data.question_of(r) for r in held_out}) == 0


def test_the_first_pair_countdown_search_joins_the_first_two_numbers():
    """Recipe 17's search: recipe 16's, with every four-number join taken from the first two numbers listed (by +, -
    or *), read back line by line; training rows it cannot solve are left out, held-out rows are kept."""
    import random

    from rlkit.recipes import RECIPE_16, RECIPE_17
    from rlkit.rewards import countdown_value

    with data.building(RECIPE_17):
        rows = data.generate_rows("countdown", 150, seed=3, held_out=False)
        held_out = data.generate_rows("countdown", 100, seed=3, held_out=True)
    fours = [r for r in rows if len(r["numbers"]) == 4]
    assert len(fours) > 30 and len(rows) - len(fours) > 30
    for row in rows:
        think = row["completion"][0]["content"].split("<think>")[1].split("</think>")[0]
        _read_search(think, row["numbers"], row["target"], form="first_pair")
        assert countdown_value(row["answer"], row["numbers"], row["target"]) == row["target"]
    assert {r["completion"][0]["content"].split("\n")[1].split()[5] for r in fours} == {"+", "-", "*"}
    rng = random.Random(0)
    # 8 * 3 is the only join of 8 and 3 that leaves a solvable [5, 4, 24]; recipe 16's search joins 5 and 4 here
    assert "Join 8 and 3: 8 * 3 = 24\n" in data.countdown_search([8, 3, 5, 4], 33, rng, form="first_pair")[0]
    assert "Join 5 and 4: " in data.countdown_search([8, 3, 5, 4], 33, rng, form="regular")[0]
    # 1 and 1 make 2, 0 or 1, and none of them with 2 and 7 makes 20; recipe 16's search joins another pair
    assert data.countdown_search([1, 1, 2, 7], 20, rng, form="first_pair") is None
    assert data.countdown_search([1, 1, 2, 7], 20, rng, form="regular") is not None
    with pytest.raises(ValueError, match="form='joined'; use one of"):
        data.countdown_search([1, 2, 3], 6, rng, form="joined")
    with data.building(RECIPE_16):
        assert [r["prompt"] for r in held_out] == [r["prompt"] for r in data.generate_rows("countdown", 100, 3, True)]


def test_expression_steps_follow_precedence():
    assert data.expression_steps("2 * (3 - 3) + 5") == ["3 - 3 = 0", "2 * 0 = 0", "0 + 5 = 5"]
    assert data.expression_steps("(7 + 8) / 5 * 4") == ["7 + 8 = 15", "15 / 5 = 3", "3 * 4 = 12"]


def test_seeds_give_different_data():
    a = data.generate_rows("arithmetic", 30, seed=0, held_out=False)
    b = data.generate_rows("arithmetic", 30, seed=1, held_out=False)
    assert len({data.question_of(r) for r in a} & {data.question_of(r) for r in b}) < 10


def test_missing_column_error_names_the_column():
    from datasets import Dataset

    ds = Dataset.from_list([{"prompt": "x", "solution": "4"}])
    with pytest.raises(RlkitError, match=r"missing column\(s\) \['answer'\] needed by the 'math' reward.*rename_column"):
        data.require_columns(ds, ["answer"], "the 'math' reward")


def test_unknown_task_lists_the_choices():
    with pytest.raises(RlkitError, match="Offline tasks: .*arithmetic"):
        data.get_task("arithmetics")


def test_output_folders_are_per_profile(tmp_path, capsys):
    """Smoke runs (the tests) and cpu runs in one checkout must not share checkpoints: {profile} in a path."""
    from rlkit import sft

    assert config.make_config("grpo", "smoke", output_dir="outputs/{profile}/03_grpo").output_dir == "outputs/smoke/03_grpo"
    assert config.make_config("grpo", "cpu", output_dir="elsewhere/03").output_dir == "elsewhere/03"
    model = tmp_path / "cpu" / "01_sft" / "model"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    assert sft.ensure_sft_model(str(tmp_path / "{profile}" / "01_sft"), "cpu") == str(model)
    assert "Starting from 01_sft's model" in capsys.readouterr().out
