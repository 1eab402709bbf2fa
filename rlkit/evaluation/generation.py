"""Batched generation for conversational prompts: greedy or sampled, n samples each, truncation flagged."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm
from transformers import GenerationConfig

Messages = list[dict[str, str]]
Prompt = Messages | str
RewardFn = Callable[..., list[float | None]]


@dataclass
class Generations:
    """Completions for a list of prompts, ``num_samples`` per prompt.

    ``texts[i][j]`` is sample ``j`` for prompt ``i``; ``truncated[i][j]`` is True when
    that sample used all ``max_new_tokens`` without emitting an end-of-sequence token;
    ``token_ids[i][j]`` are the ids the model sampled, up to and including its first stop
    token. Score those ids, not a re-tokenization of the text: decoding and encoding again
    need not give the same ids back (TRL's trainers keep the sampled ids too).

    Example:
        >>> gens = generate(model, tokenizer, prompts, max_new_tokens=64)  # doctest: +SKIP
        >>> gens.texts[0][0], gens.truncation_rate  # doctest: +SKIP
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


def check_sampling(temperature: float, num_samples: int) -> None:
    """Reject settings that would silently produce meaningless samples.

    Example:
        >>> check_sampling(0.0, 1)  # greedy, one answer: fine
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


def prompt_text(tokenizer: Any, prompt: Prompt) -> str:
    """Render one prompt: conversations go through the chat template, strings pass as-is.

    Example:
        >>> prompt_text(tok, [{"role": "user", "content": "2+2?"}])  # doctest: +SKIP
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
        >>> _stop_token_ids(qwen_base_tokenizer)  # eos is <|endoftext|>  # doctest: +SKIP
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


def model_device(model: Any) -> torch.device:
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
    inputs = inputs.to(model_device(model))
    with torch.inference_mode():
        output = model.generate(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], generation_config=config
        )
    new_tokens = output[:, inputs["input_ids"].shape[1] :]
    decoded = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
    ids = [_until_stop(row, list(config.eos_token_id)) for row in new_tokens.tolist()]
    return decoded, _is_truncated(new_tokens, config.eos_token_id, config.max_new_tokens), ids


def chunk(flat: list, size: int) -> list[list]:
    """Split a flat list into consecutive groups of ``size``.

    Example:
        >>> chunk([1, 2, 3, 4], 2)
        [[1, 2], [3, 4]]
    """
    return [flat[i : i + size] for i in range(0, len(flat), size)]


@contextmanager
def generation_mode(model: Any, tokenizer: Any) -> Iterator[None]:
    """Eval mode + left padding for the duration of the block; both restored afterwards.

    Example:
        >>> with generation_mode(model, tokenizer):  # doctest: +SKIP
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
    with generation_mode(model, tokenizer), tqdm(total=len(rendered), desc=desc, unit="prompt", disable=not progress) as bar:
        for batch in chunk(rendered, batch_size):
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
        >>> prompts = [[{"role": "user", "content": "What is 2+2?"}]]  # doctest: +SKIP
        >>> gens = generate(model, tokenizer, prompts, max_new_tokens=32)  # doctest: +SKIP
        >>> gens.texts, gens.truncated  # doctest: +SKIP
        ([['2+2 is 4.']], [[False]])
    """
    check_sampling(temperature, num_samples)
    stop_ids = _stop_token_ids(tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
    config = _generation_config(max_new_tokens, temperature, top_p, num_samples, pad_id, stop_ids)
    rendered = [prompt_text(tokenizer, p) for p in prompts]
    if seed is not None:
        torch.manual_seed(seed)
    texts, truncated, ids = _generate_all(model, tokenizer, rendered, config, batch_size, desc, progress)
    return Generations(texts=chunk(texts, num_samples), truncated=chunk(truncated, num_samples),
                       token_ids=chunk(ids, num_samples))
