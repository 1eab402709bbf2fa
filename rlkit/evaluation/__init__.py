"""Generate completions and score them: accuracy, pass@k, maj@k, truncation.

The notebooks use this module to measure a model before and after training on the
same held-out prompts. Prompts are TRL-style conversations (a list of messages);
rewards are TRL-style functions ``f(completions, **columns) -> list[float | None]``
and a completion counts as correct when its reward is exactly 1.0.

Example:
    >>> result = evaluate(model, tokenizer, test_ds, accuracy_reward, max_new_tokens=256)  # doctest: +SKIP
    >>> result.summary()  # doctest: +SKIP
    {'n': 200, 'n_samples': 1, 'accuracy': 0.41, 'pass@1': 0.41, ...}
"""

from __future__ import annotations

from rlkit.evaluation.display import before_after_table
from rlkit.evaluation.generation import Generations, generate
from rlkit.evaluation.metrics import EvalResult, evaluate, maj_at_k, measure, pass_at_k, score_completions

__all__ = ["EvalResult", "Generations", "before_after_table", "evaluate", "generate", "maj_at_k", "measure",
           "pass_at_k", "score_completions"]
