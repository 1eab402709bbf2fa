"""Tests for rlkit.evaluation: metrics by brute force, generation on a tiny random Qwen2."""

from __future__ import annotations

import math
from itertools import combinations

import pytest
import torch
from datasets import Dataset
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

from rlkit.evaluation import (
    EvalResult,
    Generations,
    before_after_table,
    evaluate,
    generate,
    maj_at_k,
    pass_at_k,
)
from rlkit.evaluation.generation import _is_truncated

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
PROMPTS = [
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}],
    [{"role": "user", "content": "hi"}],
    [{"role": "user", "content": "A much longer prompt, so that left padding matters."}],
]


# ---------------------------------------------------------------------------
# Fixtures: a byte-level tokenizer with ChatML specials and a 1-layer random Qwen2
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate(SPECIALS + sorted(pre_tokenizers.ByteLevel.alphabet()))}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"],
        chat_template=CHATML,
    )


@pytest.fixture(scope="module")
def model(tokenizer) -> Qwen2ForCausalLM:
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    return Qwen2ForCausalLM(config)


@pytest.fixture
def dataset() -> Dataset:
    answers = ["yes", "no", "yes", "yes"]
    prompts = PROMPTS + [[{"role": "user", "content": "one more"}]]
    return Dataset.from_list([{"prompt": p, "answer": a} for p, a in zip(prompts, answers)])


def alternating_reward(completions, **columns):
    """1, 0, 1, 0, ... over the flat list of completions (so each prompt gets half right for even n)."""
    return [1.0 if i % 2 == 0 else 0.0 for i in range(len(completions))]


# ---------------------------------------------------------------------------
# pass@k and maj@k
# ---------------------------------------------------------------------------


def brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    """Fraction of the k-subsets of n samples (the first c correct) that hold a correct one."""
    subsets = list(combinations(range(n), k))
    return sum(any(i < c for i in s) for s in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 8))
def test_pass_at_k_matches_brute_force(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force_pass_at_k(n, c, k), abs=1e-12)


def test_pass_at_1_is_fraction_correct():
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(16, 0, 8) == 0.0
    assert pass_at_k(16, 16, 1) == 1.0


def test_pass_at_k_stable_for_large_n():
    value = pass_at_k(1000, 1, 500)
    assert value == pytest.approx(0.5) and math.isfinite(value)


@pytest.mark.parametrize("n, c, k", [(4, 1, 5), (4, 1, 0), (4, 5, 1), (4, -1, 1)])
def test_pass_at_k_rejects_bad_arguments(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


@pytest.mark.parametrize(
    "answers, correct, expected",
    [
        (["4", "5", "4", None], [True, False, True, False], True),  # clear majority, correct
        (["5", "5", "4"], [False, False, True], False),  # majority wrong, even though one sample is right
        (["4", "5"], [True, False], True),  # tie -> first seen wins
        (["5", "4"], [False, True], False),
        ([None, None, "4", "5", "5"], [False, False, True, False, False], False),  # None does not vote
        ([None, None], [False, False], False),  # no votes at all
    ],
)
def test_maj_at_k(answers, correct, expected):
    assert maj_at_k(answers, correct) is expected


def test_maj_at_k_length_mismatch():
    with pytest.raises(ValueError, match="length"):
        maj_at_k(["4"], [True, False])


# ---------------------------------------------------------------------------
# generate
# ---------------------------------------------------------------------------


def test_generate_shapes_and_restores_state(model, tokenizer):
    model.train()
    gens = generate(model, tokenizer, PROMPTS, max_new_tokens=5, temperature=1.0, num_samples=2, batch_size=2)
    assert isinstance(gens, Generations)
    assert [len(row) for row in gens.texts] == [2, 2, 2]
    assert [len(row) for row in gens.truncated] == [2, 2, 2]
    assert all(isinstance(t, str) for row in gens.texts for t in row)
    assert model.training and tokenizer.padding_side == "right"
    model.eval()


def test_greedy_batched_equals_one_by_one(model, tokenizer):
    batched = generate(model, tokenizer, PROMPTS, max_new_tokens=6, batch_size=3).texts
    single = [generate(model, tokenizer, [p], max_new_tokens=6).texts[0] for p in PROMPTS]
    assert batched == single


def test_sampling_is_reproducible_with_seed(model, tokenizer):
    run = lambda seed: generate(  # noqa: E731
        model, tokenizer, PROMPTS, max_new_tokens=8, temperature=1.0, num_samples=3, seed=seed
    ).texts
    first = run(123)
    assert run(123) == first
    assert run(124) != first
    assert len({t for row in first for t in row}) > 1  # samples actually differ


def test_greedy_with_several_samples_is_an_error(model, tokenizer, dataset):
    with pytest.raises(ValueError, match="temperature > 0"):
        generate(model, tokenizer, PROMPTS, max_new_tokens=4, num_samples=2)
    with pytest.raises(ValueError, match="temperature > 0"):
        evaluate(model, tokenizer, dataset, alternating_reward, n_samples=4, max_new_tokens=4)


def test_short_budget_is_mostly_truncated(model, tokenizer):
    gens = generate(model, tokenizer, PROMPTS, max_new_tokens=3, temperature=1.0, num_samples=4, seed=0)
    assert gens.truncation_rate > 0.5


def test_eos_stops_generation_and_is_not_truncated(model, tokenizer):
    eos = tokenizer.eos_token_id

    def force_eos(module, inputs, logits):
        boost = torch.zeros_like(logits)
        boost[..., eos] = 1e4
        return logits + boost

    handle = model.lm_head.register_forward_hook(force_eos)
    try:
        gens = generate(model, tokenizer, PROMPTS, max_new_tokens=5)
    finally:
        handle.remove()
    assert gens.texts == [[""], [""], [""]]
    assert gens.truncated == [[False], [False], [False]] and gens.truncation_rate == 0.0


def test_is_truncated_flags():
    tokens = torch.tensor([[5, 6, 7], [5, 2, 0], [9, 9, 3]])
    assert _is_truncated(tokens, stop_ids=[2, 3], max_new_tokens=3) == [True, False, False]
    assert _is_truncated(tokens, stop_ids=[2], max_new_tokens=4) == [False, False, False]


@pytest.mark.filterwarnings("ignore::FutureWarning")  # peft calls a deprecated transformers helper
def test_generate_with_peft_model(model, tokenizer):
    peft = pytest.importorskip("peft")
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=2, target_modules=["q_proj", "v_proj"]))
    try:
        lora = generate(wrapped, tokenizer, PROMPTS, max_new_tokens=4).texts
    finally:
        wrapped.unload()  # drop the LoRA layers so the shared fixture is untouched
    plain = generate(model, tokenizer, PROMPTS, max_new_tokens=4).texts
    assert lora == plain  # LoRA starts as a no-op (B = 0)


# ---------------------------------------------------------------------------
# evaluate
# ---------------------------------------------------------------------------


def test_evaluate_metric_arithmetic(model, tokenizer, dataset):
    result = evaluate(
        model, tokenizer, dataset, alternating_reward, n_samples=4, temperature=1.0, ks=(1, 2, 4), max_new_tokens=3
    )
    assert isinstance(result, EvalResult)
    assert result.n == 4 and result.n_samples == 4
    assert result.accuracy == pytest.approx(0.5)
    assert result.pass_at_k == pytest.approx({1: 0.5, 2: 1 - 1 / 6, 4: 1.0})
    assert result.mean_reward == pytest.approx(0.5)
    assert result.maj_at_k is None  # no extract_fn
    assert [len(r) for r in result.completions] == [4] * 4 and [len(r) for r in result.rewards] == [4] * 4
    assert 0.0 <= result.truncation_rate <= 1.0


def test_evaluate_passes_columns_and_conversational_completions(model, tokenizer, dataset):
    seen = {}

    def answer_is_yes(completions, answer, **kwargs):
        seen.update(completions=completions, answer=answer, extra=set(kwargs))
        return [1.0 if a == "yes" else 0.0 for a in answer]

    result = evaluate(model, tokenizer, dataset, answer_is_yes, max_new_tokens=3)
    assert result.accuracy == pytest.approx(3 / 4)  # greedy, one sample: plain accuracy
    assert result.pass_at_k == {1: pytest.approx(3 / 4)}
    assert seen["answer"] == ["yes", "no", "yes", "yes"] and seen["extra"] == set()
    assert seen["completions"][0][0]["role"] == "assistant"


def test_evaluate_majority_vote(model, tokenizer, dataset):
    kwargs = dict(n_samples=2, temperature=1.0, max_new_tokens=3, ks=(1, 2))
    same_answer = evaluate(model, tokenizer, dataset, alternating_reward, extract_fn=lambda t: "x", **kwargs)
    assert same_answer.maj_at_k == 1.0  # first sample of each prompt is the correct one
    no_answer = evaluate(model, tokenizer, dataset, alternating_reward, extract_fn=lambda t: None, **kwargs)
    assert no_answer.maj_at_k == 0.0
    assert "maj@2" in same_answer.summary()


def test_measure_is_the_lessons_protocol(model, tokenizer, dataset, capsys):
    """evaluation.measure = greedy evaluate + k seeded samples at the run's temperature, with the run's settings."""
    from types import SimpleNamespace

    from rlkit.evaluation import measure

    cfg = SimpleNamespace(max_completion_length=3, eval_batch_size=4, temperature=1.0, seed=5)
    greedy, sampled = measure(model, tokenizer, dataset, alternating_reward, cfg, "before", k=2)
    assert "before: greedy accuracy" in capsys.readouterr().out
    again = evaluate(model, tokenizer, dataset, alternating_reward, max_new_tokens=3, batch_size=2, n_samples=2,
                     temperature=1.0, ks=(1, 2), seed=5)
    assert sampled.completions == again.completions and sampled.n_samples == 2 and greedy.n_samples == 1
    assert measure(model, tokenizer, dataset, alternating_reward, cfg, "after")[1] is None  # k = 0: greedy only


def test_evaluate_none_rewards_count_as_wrong(model, tokenizer, dataset):
    def half_none(completions, **kwargs):
        return [None if i % 2 else 1.0 for i in range(len(completions))]

    result = evaluate(model, tokenizer, dataset, half_none, max_new_tokens=2)
    assert result.accuracy == pytest.approx(0.5)
    assert result.mean_reward == pytest.approx(1.0)  # None is left out of the mean
    assert math.isnan(result.rewards[1][0])


def test_evaluate_summary_and_bad_ks(model, tokenizer, dataset):
    result = evaluate(model, tokenizer, dataset, alternating_reward, max_new_tokens=2)
    summary = result.summary()
    assert set(summary) == {"n", "n_samples", "accuracy", "pass@1", "mean_reward", "truncation_rate"}
    assert all(isinstance(v, (int, float)) for v in summary.values())
    with pytest.raises(ValueError, match="n_samples"):
        evaluate(model, tokenizer, dataset, alternating_reward, ks=(1, 4), max_new_tokens=2)


def test_evaluate_rejects_wrong_number_of_rewards(model, tokenizer, dataset):
    with pytest.raises(ValueError, match="rewards"):
        evaluate(model, tokenizer, dataset, lambda completions, **kw: [1.0], max_new_tokens=2)


# ---------------------------------------------------------------------------
# before_after_table
# ---------------------------------------------------------------------------


def test_before_after_table():
    text = before_after_table(PROMPTS[:2], ["old answer", "old 2"], [["new answer", "ignored"], "new 2"])
    assert "What is 2+2?" in text and "Be brief." not in text  # shows the user turn
    assert text.index("old answer") < text.index("new answer")
    assert "ignored" not in text and "=== Prompt 2 ===" in text
    assert "[...]" in before_after_table(["q"], ["x" * 50], ["y"], max_chars=10)
    with pytest.raises(ValueError):
        before_after_table(PROMPTS, ["a"], ["b"])
