"""Best-of-N estimators: each exact expectation equals a Monte-Carlo draw of real subsets on small cases."""

import random

import pytest

from rlkit import bestofn

DRAWS = 20000  # Monte-Carlo standard error <= 0.0036 on a 0/1 outcome


def _cases(count: int = 24, seed: int = 3):
    rng = random.Random(seed)
    for _ in range(count):
        n = rng.randint(2, 10)
        answers = [rng.choice([None, "a", "b", "c", "d"][: rng.randint(2, 5)]) for _ in range(n)]
        truth = rng.choice("ab")
        yield (n, rng.randint(1, n), answers, [float(a == truth) for a in answers],
               [rng.choice([0.1, 0.2, 0.3, 0.5]) for _ in range(n)])  # coarse scores: ties are common


@pytest.mark.parametrize("n, n_best, answers, correct, scores", list(_cases()))
def test_each_estimator_matches_drawing_subsets(n, n_best, answers, correct, scores):
    rng = random.Random(7)

    def top_score(subset):
        best = max(scores[i] for i in subset)
        return correct[rng.choice([i for i in subset if scores[i] == best])]

    checks = {
        "oracle": (bestofn.oracle(correct, n_best), lambda subset: float(any(correct[i] for i in subset))),
        "scorer": (bestofn.scorer(scores, correct, n_best), top_score),
        "majority": (bestofn.majority(answers, correct, n_best),
                     lambda subset: bestofn.vote(answers, correct, subset, rng)),
    }
    for name, (exact, select) in checks.items():
        drawn = bestofn.monte_carlo(select, n, n_best, draws=DRAWS)
        assert exact == pytest.approx(drawn, abs=0.015), (name, exact, drawn)


def test_rank_weights_are_a_distribution_and_best_of_one_is_the_mean():
    for n, n_best in ((5, 1), (8, 3), (64, 32), (128, 64)):
        assert bestofn.rank_weights(n, n_best).sum() == pytest.approx(1.0)
    correct = [1, 0, 0, 1, 1, 0]
    assert bestofn.scorer([3, 1, 2, 5, 4, 0], correct, 1) == pytest.approx(0.5)
    assert bestofn.majority(list("abcabc"), correct, 1) == pytest.approx(0.5)
    assert bestofn.oracle(correct, 1) == pytest.approx(0.5)


def test_the_edges_of_a_vote():
    assert bestofn.majority([None] * 4, [0.0] * 4, 2) == 0.0  # nothing readable: no vote, wrong
    assert bestofn.majority(["7", "7", "3", None], [1.0, 1.0, 0.0, 0.0], 4) == 1.0
    assert bestofn.majority(["7", "3"], [1.0, 0.0], 2) == 0.5  # a tie is a coin flip
    # all samples, scorer: ties share; a perfect scorer makes best-of-n the oracle
    assert bestofn.scorer([1.0, 1.0], [1.0, 0.0], 2) == 0.5
    correct = [0, 1, 0, 0, 1, 0, 0, 0]
    for n_best in range(1, 9):
        assert bestofn.scorer(correct, correct, n_best) == pytest.approx(bestofn.oracle(correct, n_best))


def test_oracle_curve_never_falls_and_curves_carry_intervals():
    rng = random.Random(0)
    verdicts = [[float(rng.random() < p) for _ in range(16)] for p in (0.05, 0.2, 0.5, 0.9) * 10]
    curve = bestofn.curve(lambda n_best: [bestofn.oracle(v, n_best) for v in verdicts], [1, 2, 4, 8])
    assert curve["N"] == [1, 2, 4, 8]
    assert all(a <= b for a, b in zip(curve["accuracy"], curve["accuracy"][1:]))
    assert all(lo <= acc <= hi for acc, (lo, hi) in zip(curve["accuracy"], curve["ci95"]))


def test_bad_input_says_what_to_change():
    with pytest.raises(ValueError, match="needs at least 8 samples per prompt"):
        bestofn.oracle([1, 0, 0, 0], 8)
    with pytest.raises(ValueError, match="one score per sample"):
        bestofn.scorer([0.1, 0.2], [1.0], 1)
    with pytest.raises(ValueError, match="NaN"):
        bestofn.scorer([float("nan"), 0.2], [1.0, 0.0], 1)
    with pytest.raises(ValueError, match="one verdict per answer"):
        bestofn.majority(["a", "b"], [1.0], 1)



def test_canonical_answers_group_what_a_vote_should_group():
    from fractions import Fraction

    c = bestofn.canonical_answer
    assert c("arithmetic", "<answer>12</answer>", {}) == c("arithmetic", "<answer> 12.0</answer>", {}) == 12
    assert c("arithmetic", "<answer>1,200</answer>", {}) == Fraction(1200)
    assert c("arithmetic", "no tags", {}) is None
    row = {"numbers": [1, 3, 4], "target": 15}
    assert c("countdown", "<answer>3*(4+1)</answer>", row) == c("countdown", "<answer>(1+4)*3 = 15</answer>", row)
    assert c("countdown", "<answer>3*4</answer>", row) is None  # 1 unused: not a valid equation, no vote
    assert c("knights_knaves", "<answer>Ann is a knight, and Bo is a knave</answer>", {}) == \
        c("knights_knaves", "<answer>(1) Bo is a knave\n(2) Ann is a knight</answer>", {})


def test_mean_logprobs_are_the_models_own_per_token_average(mini_model):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlkit.evaluation import generate

    model, tok = AutoModelForCausalLM.from_pretrained(mini_model), AutoTokenizer.from_pretrained(mini_model)
    prompt = [{"role": "user", "content": "What is 3 + 4?"}]
    gens = generate(model, tok, [prompt], max_new_tokens=12, temperature=1.0, num_samples=3, seed=0, progress=False)
    batched = bestofn.mean_logprobs(model, tok, prompt, gens.token_ids[0], batch_size=2)  # padding inside a batch
    for ids, got in zip(gens.token_ids[0], batched):  # one sequence at a time, no padding
        text = tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
        prompt_ids = tok(text, add_special_tokens=False)["input_ids"]
        full = torch.tensor([prompt_ids + list(ids)])
        with torch.no_grad():
            logps = torch.log_softmax(model(full).logits[0, :-1].float(), -1)  # (L-1, V)
        token_logps = logps[torch.arange(len(prompt_ids) - 1, full.shape[1] - 1), torch.tensor(ids)]
        assert got == pytest.approx(token_logps.mean().item(), abs=1e-4)


def test_draw_scores_every_sample_and_every_selector_stays_under_the_oracle(mini_model):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlkit.data import generate_rows

    model, tok = AutoModelForCausalLM.from_pretrained(mini_model), AutoTokenizer.from_pretrained(mini_model)
    rows = Dataset.from_list(generate_rows("arithmetic", 3, seed=0, held_out=True))
    samples = bestofn.draw(model, tok, rows, "arithmetic", 4, max_new_tokens=8, batch_size=2)
    samples.scores = [[float(len(t)) for t in texts] for texts in samples.texts]  # any scorer: here, length
    assert len(samples.texts) == len(samples.logprobs) == 3 and samples.n == 4
    assert all(lp <= 0 for row in samples.logprobs for lp in row)
    curves = samples.curves([1, 2, 4])
    assert set(curves) == set(bestofn.SELECTORS)
    for name, c in curves.items():  # no selector beats an exact verifier
        assert all(a <= o + 1e-12 for a, o in zip(c["accuracy"], curves["oracle"]["accuracy"])), name


def test_find_rl_run_reads_03s_run_only_on_the_same_task(tmp_path):
    import json

    from rlkit import config

    cfg = config.make_config("best_of_n", "smoke", output_dir=str(tmp_path / "06"))
    found, why = bestofn.find_rl_run(str(tmp_path / "none"), cfg, build=False, sft_dir="unused")
    assert found is None and "holds no finished 03_grpo run" in why and "TASK='arithmetic'" in why
    run = tmp_path / "03"
    (run / "checkpoints" / "checkpoint-4").mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"task": "code", "steps": 4}))
    found, why = bestofn.find_rl_run(str(run), cfg, build=False, sft_dir="unused")
    assert found is None and "trained on 'code', not 'arithmetic'" in why
    (run / "metrics.json").write_text(json.dumps({"task": "arithmetic", "steps": 4}))
    found, why = bestofn.find_rl_run(str(run), cfg, build=False, sft_dir="unused")
    assert found.endswith("checkpoint-4") and "4 steps on arithmetic" in why


def test_find_saved_run_reads_02_and_04_only_when_they_match(tmp_path):
    import json

    from rlkit import config

    cfg = config.make_config("best_of_n", "smoke", output_dir=str(tmp_path / "06"), model="sft/model")
    found, why = bestofn.find_saved_run("dpo", str(tmp_path / "none"), cfg)
    assert found is None and "no finished 02_dpo run. Run 02_dpo (TASK='arithmetic')" in why
    assert bestofn.find_saved_run("rloo", None, cfg)[0] is None
    run = tmp_path / "04"
    (run / "checkpoints" / "checkpoint-6").mkdir(parents=True)
    (run / "metrics.json").write_text("{}")
    signature = {"method": "rloo", "task": "code", "model": "other/model", "seed": 1}
    (run / "checkpoints" / "run_signature.json").write_text(json.dumps(signature))
    found, why = bestofn.find_saved_run("rloo", str(run), cfg)
    assert found is None and "task 'code', not 'arithmetic'; model 'other/model', not 'sft/model'" in why
    (run / "checkpoints" / "run_signature.json").write_text(json.dumps({**signature, "task": "arithmetic",
                                                                         "model": "sft/model"}))
    found, why = bestofn.find_saved_run("rloo", str(run), cfg)
    assert found.endswith("checkpoint-6") and "04_rloo's run" in why and "seed 1" in why
    assert bestofn.find_saved_run("dpo", str(run), cfg)[0] is None  # an RLOO run is not a DPO run


def test_add_scores_scores_each_distinct_answer_once_and_spreads_it_back(monkeypatch):
    from rlkit import reward_model

    calls = []

    def fake_score(model, tokenizer, prompts, completions, batch_size=64):
        calls.append(len(completions))
        return [len(c) + 100.0 * p for p, c in zip(prompts, completions)]

    monkeypatch.setattr(reward_model, "score", fake_score)
    texts = [["a", "bb", "a", "a"], ["a", "ccc", "ccc", "a"]]
    samples = bestofn.Samples("arithmetic", texts, [[0.0] * 4] * 2, [[None] * 4] * 2, [[0.0] * 4] * 2, 0.0)
    bestofn.add_scores(samples, {"prompt": [1, 2]}, rm=None, rm_tokenizer=None)
    assert samples.scores == [[101.0, 102.0, 101.0, 101.0], [201.0, 203.0, 203.0, 201.0]]
    assert calls == [4]  # (1, a), (1, bb), (2, a), (2, ccc)
