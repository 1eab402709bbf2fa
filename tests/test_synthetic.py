"""P1's augmentation study (06, section 7): the solver-teacher, rejection sampling, continued SFT."""

import random
from types import SimpleNamespace

import pytest

from rlkit import config, data, rewards, synthetic
from rlkit.errors import RlkitError


def _right(rows):
    verifier = rewards.get_reward(data.get_task(rows[0]["task"]).reward)
    return [r == 1.0 for r in verifier([r["completion"] for r in rows], **{
        k: [r[k] for r in rows] for k in rows[0] if k not in ("prompt", "completion", "task")})]


def test_every_solution_the_solver_finds_is_valid_and_it_finds_the_generators_own():
    rng = random.Random(3)
    for _ in range(40):
        numbers = [rng.randint(1, 20) for _ in range(rng.choice([3, 4]))]
        target = rng.randint(10, 100)
        for natural in (True, False):
            for expression in synthetic.solve_countdown(numbers, target, natural=natural):
                assert rewards.countdown_value(expression, numbers, target) == target, (numbers, target, expression)
    for row in data.generate_rows("countdown", 30, 7, held_out=False):
        assert synthetic.solve_countdown(row["numbers"], row["target"], natural=False), row["answer"]
    assert synthetic.solve_countdown([1, 1, 1], 50) == []  # no way: no row


def test_teacher_rows_are_right_by_the_verifier_and_varied():
    rows = synthetic.teacher_rows("countdown", 60, seed=5)
    assert len(rows) == 60 and all(_right(rows))
    gold = {r["answer"] for r in data.generate_rows("countdown", 60, 5, held_out=False)}
    assert len({r["answer"] for r in rows} - gold) > 30  # mostly other solutions than the generator's
    steps = [r["completion"][0]["content"].split("</think>")[0] for r in rows]
    assert all("= -" not in s for s in steps)  # whole-number, non-negative steps, as a person writes them
    arithmetic = synthetic.teacher_rows("arithmetic", 10, seed=5)
    assert all(_right(arithmetic)) and all("\n" in r["completion"][0]["content"] for r in arithmetic)  # worked
    with pytest.raises(RlkitError, match="teacher writes countdown, arithmetic solutions, not 'zebra'"):
        synthetic.teacher_rows("zebra", 3, seed=0)


def test_rejection_sampling_keeps_one_verified_answer_per_prompt(monkeypatch):
    rows = data.generate_rows("arithmetic", 5, 11, held_out=False)
    golds = [r["completion"][0]["content"] for r in rows]
    wrong = "<think>1 + 1 = 3</think>\n<answer>3</answer>"
    # prompt 0: two right, prompt 1: none, the rest one each
    texts = [[golds[0], wrong, golds[0]], [wrong] * 3] + [[wrong, wrong, g] for g in golds[2:]]

    def fake_generate(model, tokenizer, prompts, **kwargs):
        assert kwargs["num_samples"] == 3 and kwargs["temperature"] == 1.0
        return SimpleNamespace(texts=texts)

    monkeypatch.setattr("rlkit.evaluation.generate", fake_generate)
    kept, counts = synthetic.rejection_sampled_rows(None, None, "arithmetic", 5, 11, n_samples=3, max_new_tokens=8)
    assert counts == {"prompts": 5, "samples": 15, "kept": 4, "right samples": 5}
    assert [r["prompt"] for r in kept] == [rows[i]["prompt"] for i in (0, 2, 3, 4)]
    assert all(_right(kept))


def test_fine_tune_continues_a_model_and_refuses_no_rows(mini_model, tmp_path):
    rows = synthetic.teacher_rows("countdown", 8, seed=1)
    cfg = config.make_config("sft", "smoke", output_dir=str(tmp_path), max_steps=2, load_in_4bit=False)
    policy = synthetic.fine_tune(str(mini_model), rows, cfg)
    assert not policy.training and any("lora" in n for n, _ in policy.named_parameters())
    with pytest.raises(RlkitError, match="No rows"):
        synthetic.fine_tune(str(mini_model), [], cfg)


