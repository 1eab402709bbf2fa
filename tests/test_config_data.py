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
