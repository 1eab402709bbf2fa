"""Generate completions and score them: accuracy, pass@k, maj@k, truncation.

The notebooks use this module to measure a model before and after training on the
same held-out prompts. Prompts are TRL-style conversations (a list of messages);
rewards are TRL-style functions ``f(completions, **columns) -> list[float | None]``
and a completion counts as correct when its reward is exactly 1.0.

Example:
    >>> result = evaluate(model, tokenizer, test_ds, accuracy_reward, max_new_tokens=256)
    >>> result.summary()
    {'n': 200, 'n_samples': 1, 'accuracy': 0.41, 'pass@1': 0.41, ...}
"""

from __future__ import annotations

import math
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import torch
from tqdm.auto import tqdm
from transformers import GenerationConfig

Messages = list[dict[str, str]]
Prompt = Messages | str
RewardFn = Callable[..., list[float | None]]


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------


@dataclass
class Generations:
    """Completions for a list of prompts, ``num_samples`` per prompt.

    ``texts[i][j]`` is sample ``j`` for prompt ``i``; ``truncated[i][j]`` is True when
    that sample used all ``max_new_tokens`` without emitting an end-of-sequence token;
    ``token_ids[i][j]`` are the ids the model sampled, up to and including its first stop
    token. Score those ids, not a re-tokenization of the text: decoding and encoding again
    need not give the same ids back (TRL's trainers keep the sampled ids too).

    Example:
        >>> gens = generate(model, tokenizer, prompts, max_new_tokens=64)
        >>> gens.texts[0][0], gens.truncation_rate
        ('The answer is 4.', 0.0)
    """

    texts: list[list[str]]
    truncated: list[list[bool]]
    token_ids: list[list[list[int]]] = field(default_factory=list)

    @property
    def truncation_rate(self) -> float:
        """Fraction of all completions that hit ``max_new_tokens`` (0.0 when empty)."""
        flags = [flag for row in self.truncated for flag in row]
        return sum(flags) / len(flags) if flags else 0.0


def _check_sampling(temperature: float, num_samples: int) -> None:
    """Reject settings that would silently produce meaningless samples.

    Example:
        >>> _check_sampling(0.0, 1)  # greedy, one answer: fine
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if temperature == 0 and num_samples > 1:
        raise ValueError(
            f"Greedy decoding (temperature=0) returns the same completion {num_samples} times. "
            "Set temperature > 0 (e.g. 0.7 or 1.0) to draw several different samples per prompt."
        )


def _prompt_text(tokenizer: Any, prompt: Prompt) -> str:
    """Render one prompt: conversations go through the chat template, strings pass as-is.

    Example:
        >>> _prompt_text(tok, [{"role": "user", "content": "2+2?"}])
        '<|im_start|>user\\n2+2?<|im_end|>\\n<|im_start|>assistant\\n'
    """
    if isinstance(prompt, str):
        return prompt
    return tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)


def _stop_token_ids(tokenizer: Any) -> list[int]:
    """End-of-sequence ids: the tokenizer's eos plus ``<|im_end|>`` and ``<|endoftext|>`` when they are
    separate tokens. A base model ends a document with ``<|endoftext|>`` even when its tokenizer's eos is
    ``<|im_end|>`` (the kit's tiny model); generating past it would append an unrelated new document,
    whose last ``<answer>`` the verifiers would then score.

    Example:
        >>> _stop_token_ids(qwen_base_tokenizer)  # eos is <|endoftext|>
        [151643, 151645]
    """
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    vocab = tokenizer.get_vocab()
    for token in ("<|im_end|>", "<|endoftext|>"):
        if vocab.get(token) is not None and vocab[token] not in ids:
            ids.append(vocab[token])
    if not ids:
        raise ValueError("The tokenizer has no eos_token and no <|im_end|> token to stop generation on.")
    return ids


def _generation_config(
    max_new_tokens: int, temperature: float, top_p: float, num_samples: int, pad_id: int, stop_ids: list[int]
) -> GenerationConfig:
    """Decoding settings that fully override the model's own sampling defaults.

    Like TRL's trainers, top_k and repetition_penalty are switched off explicitly so that
    ``temperature``/``top_p`` alone define the sampling distribution (a model's
    generation_config, e.g. Qwen's top_k=20, would otherwise fill them in).

    Example:
        >>> _generation_config(64, 0.0, 1.0, 1, pad_id=0, stop_ids=[2]).do_sample
        False
    """
    sampling = temperature > 0
    return GenerationConfig(
        max_new_tokens=max_new_tokens,
        do_sample=sampling,
        num_return_sequences=num_samples,
        pad_token_id=pad_id,
        eos_token_id=stop_ids,
        repetition_penalty=1.0,
        # Greedy: neutral values, so the model's sampling defaults neither leak in nor trigger warnings.
        temperature=temperature if sampling else 1.0,
        top_p=top_p if sampling else 1.0,
        top_k=0 if sampling else 50,
    )


def _is_truncated(new_tokens: torch.Tensor, stop_ids: list[int], max_new_tokens: int) -> list[bool]:
    """For each row of generated ids: True when it is full length and contains no stop token.

    Example:
        >>> _is_truncated(torch.tensor([[5, 6, 7], [5, 2, 0]]), stop_ids=[2], max_new_tokens=3)
        [True, False]
    """
    if new_tokens.shape[1] < max_new_tokens:  # everyone stopped early
        return [False] * new_tokens.shape[0]
    has_stop = torch.isin(new_tokens, torch.tensor(stop_ids, device=new_tokens.device)).any(dim=1)
    return (~has_stop).tolist()


def _model_device(model: Any) -> torch.device:
    """Device of the model's first parameter (works for PEFT wrappers too)."""
    return next(model.parameters()).device


def _until_stop(row: list[int], stop_ids: list[int]) -> list[int]:
    """A generated row cut after its first stop token (the padding after it dropped).

    Example:
        >>> _until_stop([5, 6, 2, 0, 0], stop_ids=[2])
        [5, 6, 2]
    """
    for i, token in enumerate(row):
        if token in stop_ids:
            return row[: i + 1]
    return row


def _generate_batch(
    model: Any, tokenizer: Any, texts: list[str], config: GenerationConfig
) -> tuple[list[str], list[bool], list[list[int]]]:
    """Generate for one batch of rendered prompts; returns flat (texts, truncated, token ids) lists.

    Rows come back prompt-major: all samples of prompt 0, then of prompt 1, ...
    """
    inputs = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    inputs = inputs.to(_model_device(model))
    with torch.inference_mode():
        output = model.generate(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], generation_config=config
        )
    new_tokens = output[:, inputs["input_ids"].shape[1] :]
    decoded = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    ids = [_until_stop(row, list(config.eos_token_id)) for row in new_tokens.tolist()]
    return decoded, _is_truncated(new_tokens, config.eos_token_id, config.max_new_tokens), ids


def _chunk(flat: list, size: int) -> list[list]:
    """Split a flat list into consecutive groups of ``size``.

    Example:
        >>> _chunk([1, 2, 3, 4], 2)
        [[1, 2], [3, 4]]
    """
    return [flat[i : i + size] for i in range(0, len(flat), size)]


@contextmanager
def _generation_mode(model: Any, tokenizer: Any) -> Iterator[None]:
    """Eval mode + left padding for the duration of the block; both restored afterwards.

    Example:
        >>> with _generation_mode(model, tokenizer):
        ...     out = model.generate(...)
    """
    was_training, padding_side = model.training, tokenizer.padding_side
    model.eval()
    tokenizer.padding_side = "left"
    try:
        yield
    finally:
        tokenizer.padding_side = padding_side
        model.train(was_training)


def _generate_all(
    model: Any, tokenizer: Any, rendered: list[str], config: GenerationConfig, batch_size: int, desc: str,
    progress: bool = True,
) -> tuple[list[str], list[bool], list[list[int]]]:
    """Run ``_generate_batch`` over all rendered prompts with a progress bar (flat outputs)."""
    texts: list[str] = []
    truncated: list[bool] = []
    ids: list[list[int]] = []
    with _generation_mode(model, tokenizer), tqdm(total=len(rendered), desc=desc, unit="prompt", disable=not progress) as bar:
        for batch in _chunk(rendered, batch_size):
            batch_texts, batch_truncated, batch_ids = _generate_batch(model, tokenizer, batch, config)
            texts += batch_texts
            truncated += batch_truncated
            ids += batch_ids
            bar.update(len(batch))
    return texts, truncated, ids


def generate(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Prompt],
    *,
    max_new_tokens: int,
    batch_size: int = 32,
    temperature: float = 0.0,
    top_p: float = 1.0,
    num_samples: int = 1,
    seed: int | None = None,
    desc: str = "generating",
    progress: bool = True,
) -> Generations:
    """Batched generation for conversational prompts, ``num_samples`` completions each.

    ``temperature=0`` means greedy decoding; only ``temperature``/``top_p`` shape sampling
    (the model's own top_k/repetition_penalty defaults are overridden, as in TRL).
    ``batch_size`` counts prompts, so one call to ``model.generate`` holds
    ``batch_size * num_samples`` sequences (``progress=False`` hides the progress bar). ``seed`` reseeds torch's global RNG, so sampled
    runs repeat exactly for the same seed and batch_size.
    The tokenizer's padding side and the model's train/eval mode are restored afterwards.
    String prompts are used as-is (no chat template). Works for PEFT-wrapped models too.

    Example:
        >>> prompts = [[{"role": "user", "content": "What is 2+2?"}]]
        >>> gens = generate(model, tokenizer, prompts, max_new_tokens=32)
        >>> gens.texts, gens.truncated
        ([['2+2 is 4.']], [[False]])
    """
    _check_sampling(temperature, num_samples)
    stop_ids = _stop_token_ids(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    config = _generation_config(max_new_tokens, temperature, top_p, num_samples, pad_id, stop_ids)
    rendered = [_prompt_text(tokenizer, p) for p in prompts]
    if seed is not None:
        torch.manual_seed(seed)
    texts, truncated, ids = _generate_all(model, tokenizer, rendered, config, batch_size, desc, progress)
    return Generations(texts=_chunk(texts, num_samples), truncated=_chunk(truncated, num_samples),
                       token_ids=_chunk(ids, num_samples))


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k (Chen et al. 2021): chance that k of the n samples include a correct one.

    Computes ``1 - C(n-c, k) / C(n, k)`` as a product, which never builds huge binomials.

    Example:
        >>> pass_at_k(n=4, c=1, k=1)
        0.25
        >>> round(pass_at_k(n=4, c=1, k=2), 4)
        0.5
    """
    if not 0 <= c <= n:
        raise ValueError(f"Need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"Need 1 <= k <= n (k samples drawn from n), got n={n}, k={k}")
    if n - c < k:  # every k-subset contains a correct sample
        return 1.0
    prob_all_wrong = math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))
    return 1.0 - prob_all_wrong


def maj_at_k(answers: Sequence[str | None], correct: Sequence[bool]) -> bool:
    """Majority vote: is the most common extracted answer a correct one?

    ``None`` answers (nothing extractable) do not vote; ties go to the answer seen first.
    The winner's correctness is that of its first sample. No votes at all counts as wrong.

    Example:
        >>> maj_at_k(["4", "5", "4", None], [True, False, True, False])
        True
    """
    if len(answers) != len(correct):
        raise ValueError(f"answers and correct differ in length: {len(answers)} != {len(correct)}")
    votes = Counter(a for a in answers if a is not None)
    if not votes:
        return False
    top = max(votes.values())
    winner = next(a for a in answers if a is not None and votes[a] == top)
    return bool(correct[answers.index(winner)])


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------


@dataclass
class EvalResult:
    """Scores of one model on one dataset; ``summary()`` gives the scalar metrics.

    ``completions[i][j]`` / ``rewards[i][j]`` are sample ``j`` of prompt ``i``; a reward of
    ``None`` from the reward function is stored as NaN.

    Example:
        >>> result.accuracy, result.pass_at_k[1]
        (0.41, 0.41)
    """

    accuracy: float
    pass_at_k: dict[int, float]
    maj_at_k: float | None
    mean_reward: float
    truncation_rate: float
    n: int
    n_samples: int
    completions: list[list[str]] = field(repr=False)
    rewards: list[list[float]] = field(repr=False)
    truncated: list[list[bool]] = field(repr=False)

    def summary(self) -> dict[str, float | int]:
        """Scalar metrics as a flat dict (keys like ``pass@4``, ``maj@8``).

        Example:
            >>> result.summary()["accuracy"]
            0.41
        """
        out: dict[str, float | int] = {"n": self.n, "n_samples": self.n_samples, "accuracy": self.accuracy}
        out.update({f"pass@{k}": v for k, v in self.pass_at_k.items()})
        if self.maj_at_k is not None:
            out[f"maj@{self.n_samples}"] = self.maj_at_k
        out.update(mean_reward=self.mean_reward, truncation_rate=self.truncation_rate)
        return out


def _as_completion(text: str, conversational: bool) -> str | Messages:
    """Shape a completion the way TRL hands it to reward functions."""
    return [{"role": "assistant", "content": text}] if conversational else text


def score_completions(
    dataset: Any, texts: list[list[str]], reward_fn: RewardFn, n_samples: int
) -> list[list[float]]:
    """Call ``reward_fn`` once on all completions, with every non-prompt column repeated per sample.

    Completions are conversational when the prompts are, as in TRL training.
    Returns one list of rewards per prompt (``None`` becomes NaN).
    """
    conversational = len(dataset) > 0 and not isinstance(dataset[0]["prompt"], str)
    completions = [_as_completion(t, conversational) for row in texts for t in row]
    columns = {
        name: [value for value in dataset[name] for _ in range(n_samples)]
        for name in dataset.column_names
        if name != "prompt"
    }
    rewards = reward_fn(completions=completions, **columns)
    if len(rewards) != len(completions):
        raise ValueError(f"reward_fn returned {len(rewards)} rewards for {len(completions)} completions")
    return _chunk([math.nan if r is None else float(r) for r in rewards], n_samples)


def _mean(values: Sequence[float]) -> float:
    """Mean ignoring NaN; NaN when nothing is left."""
    kept = [v for v in values if not math.isnan(v)]
    return sum(kept) / len(kept) if kept else math.nan


def _check_ks(ks: Sequence[int], n_samples: int) -> None:
    """Every k in ks must satisfy 1 <= k <= n_samples."""
    bad = [k for k in ks if not 1 <= k <= n_samples]
    if bad:
        raise ValueError(f"pass@k needs 1 <= k <= n_samples={n_samples}; got ks={list(ks)}")


def _majority_rate(
    texts: list[list[str]], correct: list[list[bool]], extract_fn: Callable[[str], str | None]
) -> float:
    """Fraction of prompts whose majority-vote answer (see ``maj_at_k``) is correct."""
    votes = [maj_at_k([extract_fn(t) for t in row], ok) for row, ok in zip(texts, correct)]
    return _mean([float(v) for v in votes])


def evaluate(
    model: Any,
    tokenizer: Any,
    dataset: Any,
    reward_fn: RewardFn,
    *,
    n_samples: int = 1,
    temperature: float = 0.0,
    top_p: float = 1.0,
    max_new_tokens: int = 256,
    batch_size: int = 32,
    ks: Sequence[int] = (1,),
    extract_fn: Callable[[str], str | None] | None = None,
    seed: int | None = 0,
    desc: str = "evaluating",
    progress: bool = True,
) -> EvalResult:
    """Generate ``n_samples`` completions per row of ``dataset`` and score them with ``reward_fn``.

    A completion is correct when its reward is exactly 1.0. ``accuracy`` is the mean over
    prompts of each prompt's fraction of correct samples (plain accuracy for one greedy
    sample). ``maj_at_k`` is computed when ``n_samples > 1`` and ``extract_fn`` (completion
    text -> answer string or None) is given.

    Example:
        >>> result = evaluate(model, tokenizer, test_ds, accuracy_reward, n_samples=8,
        ...                   temperature=1.0, ks=(1, 4, 8), extract_fn=extract_answer)
        >>> result.summary()
        {'n': 100, 'n_samples': 8, 'accuracy': 0.3, 'pass@1': 0.3, 'pass@4': 0.6, ...}
    """
    _check_sampling(temperature, n_samples)
    _check_ks(ks, n_samples)
    gens = generate(
        model, tokenizer, list(dataset["prompt"]), max_new_tokens=max_new_tokens, batch_size=batch_size,
        temperature=temperature, top_p=top_p, num_samples=n_samples, seed=seed, desc=desc, progress=progress,
    )  # fmt: skip
    rewards = score_completions(dataset, gens.texts, reward_fn, n_samples)
    correct = [[r == 1.0 for r in row] for row in rewards]
    majority = _majority_rate(gens.texts, correct, extract_fn) if extract_fn and n_samples > 1 else None
    return EvalResult(
        accuracy=_mean([sum(ok) / n_samples for ok in correct]),
        pass_at_k={k: _mean([pass_at_k(n_samples, sum(ok), k) for ok in correct]) for k in ks},
        maj_at_k=majority,
        mean_reward=_mean([r for row in rewards for r in row]),
        truncation_rate=gens.truncation_rate,
        n=len(rewards),
        n_samples=n_samples,
        completions=gens.texts,
        rewards=rewards,
        truncated=gens.truncated,
    )


# ---------------------------------------------------------------------------
# Reading completions
# ---------------------------------------------------------------------------


def _prompt_for_display(prompt: Prompt) -> str:
    """The last user message of a conversation (or the string prompt itself)."""
    if isinstance(prompt, str):
        return prompt
    user_turns = [m["content"] for m in prompt if m.get("role") == "user"]
    return user_turns[-1] if user_turns else prompt[-1]["content"]


def _first_sample(completion: str | Sequence[str]) -> str:
    """A completion string, or the first one of a list of samples."""
    return completion if isinstance(completion, str) else completion[0]


def _clip(text: str, max_chars: int | None) -> str:
    """Shorten ``text`` to ``max_chars`` characters, marking the cut with an ellipsis."""
    if max_chars is None or len(text) <= max_chars:
        return text
    return text[:max_chars].rstrip() + " [...]"


def before_after_table(
    prompts: Sequence[Prompt],
    before: Sequence[str | Sequence[str]],
    after: Sequence[str | Sequence[str]],
    *,
    max_chars: int | None = 800,
) -> str:
    """Plain-text side-by-side of the same prompts answered before and after training.

    ``before``/``after`` hold one completion per prompt; for lists of samples (like
    ``Generations.texts``) the first sample is shown. Print the result.

    Example:
        >>> print(before_after_table(prompts[:3], before.texts, after.texts))
        === Prompt 1 ===
        What is 2+2?
        --- before ---
        ...
    """
    if not len(prompts) == len(before) == len(after):
        raise ValueError(f"Lengths differ: {len(prompts)} prompts, {len(before)} before, {len(after)} after")
    blocks = [
        f"=== Prompt {i} ===\n{_prompt_for_display(p)}\n\n"
        f"--- before ---\n{_clip(_first_sample(b), max_chars)}\n\n"
        f"--- after ---\n{_clip(_first_sample(a), max_chars)}\n"
        for i, (p, b, a) in enumerate(zip(prompts, before, after), start=1)
    ]
    return "\n".join(blocks)
