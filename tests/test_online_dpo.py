"""rlkit.online_dpo and rlkit.arms (what 05_online_dpo runs): the sync interval, P2's pairs, rounds of TRL's
DPOTrainer with one optimizer and an explicit frozen reference, the entropy probe, the clear errors."""

import math

import pytest
import torch
from datasets import Dataset

from rlkit import arms, config, dpo, modeling, online_dpo
from rlkit.errors import RlkitError


# ---------------------------------------------------------------- settings and errors
@pytest.mark.parametrize("s, expected", [(1, 1), (10, 10), ("7", 7), ("inf", None), (math.inf, None), (None, None),
                                         (" Infinity ", None), (3.0, 3)])
def test_sync_interval_accepts(s, expected):
    assert online_dpo.check_sync_interval(s) == expected


@pytest.mark.parametrize("s", [0, -2, 2.5, "ten", True, -math.inf, [3]])
def test_sync_interval_refuses_with_the_fix(s):
    with pytest.raises(RlkitError, match="positive whole number.*'inf' for offline"):
        online_dpo.check_sync_interval(s)


@pytest.mark.parametrize("k", [1, 0, 2.0, True])
def test_k_below_two_is_refused(k):
    with pytest.raises(RlkitError, match="Set K to 2 or more"):
        online_dpo.check_samples(k)
    assert online_dpo.check_samples(2) == 2


@pytest.mark.parametrize("steps, s", [(10, 1), (10, 3), (10, None), (7, 20), (80, 5)])
def test_rounds_cover_every_step_once(steps, s):
    plan = online_dpo.rounds(steps, s)
    assert sum(plan) == steps and all(n >= 1 for n in plan)
    assert all(n == (steps if s is None else min(s, steps)) for n in plan[:-1])


@pytest.mark.parametrize("pairs, steps", [(7, 3), (3, 3), (100, 80), (5, 1)])
def test_split_steps_uses_every_pair_once_in_order(pairs, steps):
    batches = online_dpo.split_steps(pairs, steps)
    assert len(batches) == steps and [i for batch in batches for i in batch] == list(range(pairs))
    assert max(map(len, batches)) - min(map(len, batches)) <= 1


def test_a_round_without_enough_pairs_says_what_was_skipped_and_what_to_change():
    few = online_dpo.RoundPairs(pairs=[], prompts=8, all_correct=1, all_wrong=7)
    with pytest.raises(RlkitError, match=r"Round 3: 8 prompts gave 0 usable pairs .*1 prompts had only correct "
                                         r"samples, 7 only incorrect.*easier prompts \(LEVELS\), more samples"):
        online_dpo.check_round(few, 1, 3)
    easy = online_dpo.RoundPairs(pairs=[{}], prompts=8, all_correct=7, all_wrong=0)
    with pytest.raises(RlkitError, match="solves almost every prompt: use harder prompts"):
        online_dpo.check_round(easy, 2, 0)
    online_dpo.check_round(easy, 1, 0)  # one pair for one step is enough


def test_p2_arms_and_their_errors():
    names = [a.name for a in arms.p2_arms((5, 20), 5)]
    assert names == ["offline", "semi-5", "semi-20", "online", "grpo", "semi-5-refsync", "semi-5-nll"]
    for bad in ((1, 5), (5, 5), ("inf", 4)):
        with pytest.raises(RlkitError, match="distinct whole numbers above 1"):
            arms.p2_arms(bad, 5)


def test_arms_are_chosen_by_name_and_a_typo_says_which_exist():
    study = arms.p2_arms(("5", "20"), "5")
    assert [a.name for a in arms.select(study, " grpo,online ")] == ["online", "grpo"]
    assert arms.select(study, None) == study
    with pytest.raises(RlkitError, match=r"unknown arm\(s\) \['onlin'\].*'semi-5-nll'"):
        arms.select(study, "onlin,grpo")
    with pytest.raises(RlkitError, match="positive whole number"):
        arms.p2_arms(("5", "x"), 5)


def test_verdicts_say_when_the_interval_includes_zero():
    assert arms.verdict({"delta": 0.01, "ci95": [-0.02, 0.04], "seeds": 1}, "a", "b").endswith("this run cannot tell")
    both = {"delta": -0.05, "ci95": [-0.08, -0.01], "seeds": 2, "per_seed": [-0.07, -0.03]}
    assert arms.verdict(both, "a", "b").endswith("(2 seeds: -0.070, -0.030): the opposite holds")
    split = {**both, "per_seed": [-0.11, 0.01]}
    assert arms.verdict(split, "a", "b").endswith("the seeds disagree: this run cannot tell")


def test_difference_is_paired_over_prompts_and_over_seeds():
    a = [{"greedy": [1.0, 1.0, 0.0, 1.0] * 50}, {"greedy": [1.0, 0.0, 0.0, 1.0] * 50}]
    b = [{"greedy": [0.0, 1.0, 0.0, 1.0] * 50}, {"greedy": [0.0, 0.0, 0.0, 1.0] * 50}]
    one = arms.difference(a[:1], b[:1])
    assert one["delta"] == pytest.approx(0.25) and one["ci95"][0] > 0 and one["seeds"] == 1
    two = arms.difference(a, b)
    assert two["delta"] == pytest.approx(0.25) and two["seeds"] == 2 and two["per_seed"] == [0.25, 0.25]
    assert two["ci95"][0] > 0  # pooled over prompts: each prompt's score averaged over the seeds


# ---------------------------------------------------------------- on the mini model
def _always_pairs_verifier(completions, **kwargs):
    """Correct when the answer has an even number of characters: every group of 4 is very likely mixed."""
    return [float(len(c[0]["content"]) % 2 == 0) for c in completions]


def _prompts(n):
    return Dataset.from_list([{"prompt": [{"role": "user", "content": f"{a} + {a % 7} ="}], "answer": str(a)}
                              for a in range(n)])


def _cfg(tmp_path, **settings):
    values = {"max_steps": 4, "learning_rate": 1e-3, "max_completion_length": 8, "load_in_4bit": False,
              "lora_r": 4, "lora_alpha": 8, "eval_batch_size": 8, "beta": 0.1}
    values.update(settings)
    return config.make_config("online_dpo", "smoke", output_dir=str(tmp_path / "run"), **values)


def test_frozen_copy_of_a_fresh_adapter_is_the_base_model_exactly(mini_model):
    policy, _ = modeling.load_policy(str(mini_model), lora_r=4, lora_alpha=8, seed=0)
    base = modeling.load_model(str(mini_model))
    ref = online_dpo.frozen_copy(policy)
    assert not any(p.requires_grad for p in ref.parameters()) and not ref.training
    for (name, p), (_, q) in zip(base.named_parameters(), ref.named_parameters(), strict=True):
        assert torch.equal(p, q), name


def test_a_round_trains_against_the_given_reference_with_trls_loss(mini_model, tmp_path):
    """The loss TRL logs at a round's first step equals rlkit.dpo.dpo_loss of the policy against the explicit
    reference, not against a copy of the current adapter (TRL's default for a PEFT model without ref_model)."""
    cfg = _cfg(tmp_path, learning_rate=1e-9)
    policy, tok = modeling.load_policy(str(mini_model), lora_r=4, lora_alpha=8, seed=0)
    reference = online_dpo.frozen_copy(policy)
    torch.manual_seed(1)
    with torch.no_grad():  # move the policy away from the reference, as after a few rounds
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5)
    rows = _prompts(4)
    pairs = [{"prompt": r["prompt"], "chosen": [{"role": "assistant", "content": f"{r['answer']} it is"}],
              "rejected": [{"role": "assistant", "content": "no idea"}]} for r in rows]
    data = Dataset.from_list(pairs)
    chosen, rejected = dpo.pair_logps(policy, tok, data)
    ref_chosen, ref_rejected = dpo.pair_logps(reference, tok, data)
    expected = dpo.dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta=cfg.beta).loss.item()
    assert abs(expected - math.log(2)) > 0.01  # the policy really differs from the reference
    optimizers = online_dpo.shared_optimizer(policy, learning_rate=cfg.learning_rate, max_steps=1, warmup_steps=0)
    log = online_dpo.train_round(policy, reference, tok, pairs, 1, cfg, optimizers, nll_weight=0.0,
                                 out_dir=str(tmp_path / "round"), seed=0)
    logged = [row["loss"] for row in log if "loss" in row]
    assert logged == [pytest.approx(expected, abs=1e-4)]


def test_rounds_step_once_each_and_a_synced_reference_restarts_at_log_2(mini_model, tmp_path):
    """s = 2 over 4 steps: two rounds, steps 1-4 logged once each; the reference given stays untouched. With
    ref_sync the second round's reference is the policy at the sync, so its first loss is exactly log 2."""
    rows, first_of_round_2 = _prompts(16), {}
    for ref_sync in (False, True):
        cfg = _cfg(tmp_path / str(ref_sync), learning_rate=1e-2, beta=1.0)
        policy, tok = modeling.load_policy(str(mini_model), lora_r=4, lora_alpha=8, seed=0)
        reference = online_dpo.frozen_copy(policy)
        start = [p.detach().clone() for p in reference.parameters()]
        run = online_dpo.train_semi_online(policy, tok, rows, _always_pairs_verifier, cfg, s=2, k=4,
                                           prompts_per_step=2, ref_sync=ref_sync, ref_model=reference)
        assert [r["first_step"] for r in run.rounds] == [0, 2] and [r["prompts"] for r in run.rounds] == [4, 4]
        assert [row["step"] for row in run.log] == [1, 2, 3, 4]
        assert all(torch.equal(a, b) for a, b in zip(start, reference.parameters()))
        first_of_round_2[ref_sync] = run.log[2]["loss"]
    assert first_of_round_2[True] == pytest.approx(math.log(2), abs=1e-5)
    assert abs(first_of_round_2[False] - math.log(2)) > 1e-3


def test_one_optimizer_across_rounds_keeps_adams_step_count(mini_model, tmp_path):
    cfg = _cfg(tmp_path)
    policy, tok = modeling.load_policy(str(mini_model), lora_r=4, lora_alpha=8, seed=0)
    reference = online_dpo.frozen_copy(policy)
    optimizers = online_dpo.shared_optimizer(policy, learning_rate=1e-3, max_steps=4, warmup_steps=1)
    rows = _prompts(8)
    for index in range(2):
        got = online_dpo.sample_round(policy, tok, rows.select(range(index * 4, index * 4 + 4)),
                                      _always_pairs_verifier, k=4, max_new_tokens=8, seed=index)
        online_dpo.check_round(got, 2, index)
        online_dpo.train_round(policy, reference, tok, got.pairs, 2, cfg, optimizers, nll_weight=0.0,
                               out_dir=str(tmp_path / "r"), seed=index)
        assert {int(s["step"]) for s in optimizers[0].state.values()} == {2 * (index + 1)}
    assert optimizers[1].last_epoch == 4  # one learning-rate schedule, stepped once per optimizer step


def test_p2s_rule_skips_unanimous_prompts_and_can_fall_back_to_gold(mini_model):
    policy, tok = modeling.load_policy(str(mini_model), lora_r=4, lora_alpha=8, seed=0)
    never = lambda completions, **kw: [0.0] * len(completions)
    got = online_dpo.sample_round(policy, tok, _prompts(3).add_column("completion", [
        [{"role": "assistant", "content": "gold"}]] * 3), never, k=2, max_new_tokens=4)
    assert got.pairs == [] and got.all_wrong == 3 and got.all_correct == 0
    gold = online_dpo.sample_round(policy, tok, _prompts(3).add_column("completion", [
        [{"role": "assistant", "content": "gold"}]] * 3), never, k=2, max_new_tokens=4, gold_when_all_wrong=True)
    assert gold.gold == 3 and all(p["chosen"][0]["content"] == "gold" for p in gold.pairs)


def test_probe_entropy_is_the_mean_over_completion_tokens(mini_model):
    policy, tok = modeling.load_policy(str(mini_model), lora_r=0)
    rows = _prompts(2)
    probe = online_dpo.Probe(rows, _always_pairs_verifier, k=2, max_new_tokens=6, seed=3)
    out = probe(policy, tok)
    from rlkit.evaluation import generate

    gens = generate(policy, tok, list(rows["prompt"]), max_new_tokens=6, temperature=1.0, num_samples=2, seed=3,
                    batch_size=32)
    total, count = 0.0, 0
    for prompt, samples in zip(rows["prompt"], gens.token_ids):
        text = tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
        p_ids = tok(text, add_special_tokens=False)["input_ids"]
        for ids in samples:  # one sample at a time, no padding: the plain definition
            with torch.no_grad():
                logits = policy(input_ids=torch.tensor([p_ids + ids])).logits[0, len(p_ids) - 1:-1]  # (T, V)
            logp = torch.log_softmax(logits.float(), -1)
            total += float(-(logp.exp() * logp).sum(-1).sum())
            count += len(ids)
    assert out["entropy"] == pytest.approx(total / count, rel=1e-4)
    assert out["length"] == pytest.approx(count / 4)
    assert 0 <= out["accuracy"] <= 1 and len(out["entropy_per_prompt"]) == 2


def test_p2_grpo_settings_are_accepted_by_trl(tmp_path):
    from trl import GRPOConfig

    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none",
                      **online_dpo.p2_grpo_overrides(k=8, prompts_per_step=2))
    assert (args.scale_rewards, args.loss_type, args.beta, args.num_generations) == ("none", "dr_grpo", 0.001, 8)
    assert args.per_device_train_batch_size == 16 and args.num_iterations == 1


# ---------------------------------------------------------------- P2's mixed runs: a verifier and a reward model
def _mixed_rows():
    math_rows = [{"prompt": [{"role": "user", "content": f"q{i}"}], "task": "arithmetic", "answer": str(i)}
                 for i in range(3)]
    judged = [{"prompt": [{"role": "user", "content": f"c{i}"}], "task": "code", "test_list": [f"assert {i}"]}
              for i in range(3)]
    return arms.interleave(Dataset.from_list(math_rows), Dataset.from_list(judged))


def test_interleave_alternates_tasks_and_fills_missing_columns_with_none():
    rows = _mixed_rows()
    assert list(rows["task"]) == ["arithmetic", "code"] * 3
    assert rows[0]["test_list"] is None and rows[1]["answer"] is None and rows[1]["test_list"] == ["assert 0"]


def test_each_task_gets_its_own_pair_rule():
    rows = _mixed_rows()
    texts = [["a", "b", "c"] for _ in range(len(rows))]
    seen = {}

    def verifier_scores(part, part_texts, k):  # q0: one right; q1: all right; q2: all wrong
        seen["verifier"] = list(part["task"])
        return [[1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]

    def model_scores(part, part_texts, k):  # c0: "b" best, "c" worst; c1: a tie; c2: "a" best, "b" worst
        seen["reward model"] = list(part["prompt"])
        return [[0.1, 0.9, -0.3], [0.5, 0.5, 0.5], [2.0, -1.0, 0.0]]

    judges = {"arithmetic": online_dpo.Judge("verifier", verifier_scores),
              "code": online_dpo.Judge("reward model", model_scores, verifiable=False)}
    got = online_dpo.judged_pairs(rows, texts, judges, k=3, seed=0)
    assert seen["verifier"] == ["arithmetic"] * 3 and [p[0]["content"] for p in seen["reward model"]] == ["c0", "c1", "c2"]
    assert (got.prompts, got.all_correct, got.all_wrong, got.ties, len(got.pairs)) == (6, 1, 1, 1, 3)
    by_prompt = {p["prompt"][0]["content"]: (p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in got.pairs}
    assert by_prompt == {"q0": ("a", by_prompt["q0"][1]), "c0": ("b", "c"), "c2": ("a", "b")}
    assert by_prompt["q0"][1] in ("b", "c")
    assert "1 tied by the reward model" in got.line(0, 0, 1)
    with pytest.raises(RlkitError, match=r"No judge for task\(s\) \['code'\]"):
        online_dpo.judged_pairs(rows, texts, {"arithmetic": judges["arithmetic"]}, k=3)
    with pytest.raises(RlkitError, match="1 only samples the reward model scored the same"):
        online_dpo.check_round(got, 5, 0)


def test_mix_rows_read_each_task_and_say_how_it_was_trained():
    start = {"arithmetic": [{"greedy": [0.0, 1.0] * 100}], "code": [{"greedy": [0.0, 0.0] * 100}]}
    both = {"greedy": [1.0, 1.0] * 100, "also": {"code": {"greedy": [1.0, 0.0] * 100}}}
    study = arms.mix_arms(5, "arithmetic", "code")
    finished = {a.name: [both] for a in study}
    rows = arms.mix_rows(study, "arithmetic", start, finished)
    assert len(rows) == 6
    first, second = rows[4], rows[5]  # mix-both on arithmetic, then on code
    assert (first["arm"], first["evaluated on"], first["trained on it with"]) == ("mix-both", "arithmetic", "verifier")
    assert first["gain"] == pytest.approx(0.5) and first["gain_ci95"][0] > 0
    assert (second["trained on it with"], second["gain"]) == ("reward model", pytest.approx(0.5))
    assert rows[0]["trained on it with"] == "verifier" and rows[1]["trained on it with"] == "(not trained on it)"
    shown = arms.mix_table(rows)
    assert shown.loc[("mix-code", "code"), "trained on it with"] == "reward model"
    assert shown.loc[("mix-both", "arithmetic"), "gain_per_seed"] == "+0.500"
    with pytest.raises(RlkitError, match="MIX_TASK='arithmetic' is the study's own task"):
        arms.mix_arms(5, "arithmetic", "arithmetic")
    with pytest.raises(RlkitError, match="MIX_S='inf'"):
        arms.mix_arms("inf", "arithmetic", "code")
    diff = arms.difference([both], [{"also": {"code": {"greedy": [0.0, 0.0] * 100}}}], key="also:code")
    assert diff["delta"] == pytest.approx(0.5)


def test_a_mixed_semi_online_run_trains_on_pairs_of_both_tasks(mini_model, tmp_path):
    cfg = _cfg(tmp_path)
    policy, tok = modeling.load_policy(str(mini_model), lora_r=4, lora_alpha=8, seed=0)
    rows = arms.interleave(_prompts(8).add_column("task", ["arithmetic"] * 8),
                           _prompts(8).add_column("task", ["chat"] * 8))
    length = online_dpo.Judge("length", lambda part, texts, k: [[float(len(t)) for t in row] for row in texts],
                              verifiable=False)
    run = online_dpo.train_semi_online(policy, tok, rows, None, cfg, s=2, k=4, prompts_per_step=2,
                                       judges={"arithmetic": online_dpo.verifier_judge(_always_pairs_verifier),
                                               "chat": length})
    assert [row["step"] for row in run.log] == [1, 2, 3, 4]
    assert all(r["pairs"] >= 2 for r in run.rounds) and all("ties" in r for r in run.rounds)
