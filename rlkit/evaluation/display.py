"""Reading completions: the same prompts answered before and after training, side by side."""

from __future__ import annotations

from collections.abc import Sequence

from rlkit.evaluation.generation import Prompt


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
        >>> print(before_after_table(prompts[:3], before.texts, after.texts))  # doctest: +SKIP
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
