"""Extra SFT data two ways, for paper P1's augmentation study (06_best_of_n, section 7).

P1 added about 1.6k generated Countdown examples to its SFT data and found they helped slightly. Offline the
teacher is the kit's own solver: :func:`solve_countdown` finds every way to reach the target with each number
used once, and :func:`teacher_rows` writes a randomly chosen one as a worked solution, so the extra rows are
varied (not the generator's one gold expression). The other source is the model itself: rejection-sampling
fine-tuning (RFT, Yuan et al. 2023) keeps the model's own sampled answers that the verifier accepts
(:func:`rejection_sampled_rows`).
"""

from __future__ import annotations

import random
from fractions import Fraction
from itertools import combinations

from rlkit.errors import RlkitError

TEACHER_TASKS = ("countdown", "arithmetic")
_OPS = ("+", "-", "*", "/")


def solve_countdown(numbers: list[int], target: int, limit: int = 200, natural: bool = True) -> list[str]:
    """Distinct expressions that use every number once and equal ``target``, at most ``limit``. With ``natural``
    every intermediate result is a whole number >= 0, as a person would work it; otherwise exact fractions.

    >>> sorted(solve_countdown([2, 3, 4], 14))
    ['(3 * 4) + 2', '(3 + 4) * 2', '(4 * 3) + 2', '(4 + 3) * 2', '2 * (3 + 4)', '2 * (4 + 3)', '2 + (3 * 4)', '2 + (4 * 3)']
    >>> solve_countdown([3, 6], 2), solve_countdown([3, 6], -3), solve_countdown([3, 6], -3, natural=False)
    (['6 / 3'], [], ['3 - 6'])
    """
    found: list[str] = []
    seen: set[str] = set()

    def search(items: list[tuple[Fraction, str]]):
        if len(found) >= limit:
            return
        if len(items) == 1:
            value, text = items[0]
            if value == target and text not in seen:
                seen.add(text)
                found.append(text[1:-1] if text.startswith("(") and _balanced(text[1:-1]) else text)
            return
        for i, j in combinations(range(len(items)), 2):
            rest = [items[k] for k in range(len(items)) if k not in (i, j)]
            for (a, at), (b, bt) in (((items[i]), (items[j])), ((items[j]), (items[i]))):
                for op in _OPS:
                    if op == "/" and b == 0:
                        continue
                    value = a + b if op == "+" else a - b if op == "-" else a * b if op == "*" else a / b
                    if natural and (value < 0 or value.denominator != 1):
                        continue
                    search(rest + [(value, f"({at} {op} {bt})")])

    search([(Fraction(n), str(n)) for n in numbers])
    return found


def _balanced(text: str) -> bool:
    """Whether the parentheses of ``text`` balance from left to right (so an outer pair may be dropped)."""
    depth = 0
    for ch in text:
        depth += ch == "("
        depth -= ch == ")"
        if depth < 0:
            return False
    return depth == 0


def teacher_rows(task: str, n: int, seed: int) -> list[dict]:
    """``n`` extra SFT rows for ``task`` written by the kit's solver, on training prompts drawn with ``seed``.

    Countdown: one of the solver's solutions, chosen at random (the gold expression is one of many), worked out
    step by step in the kit's format. Arithmetic has one left-to-right solution: the teacher writes it worked.
    """
    from rlkit import data

    if task not in TEACHER_TASKS:
        raise RlkitError(f"The offline teacher writes {', '.join(TEACHER_TASKS)} solutions, not {task!r}: set the "
                         "study's task to one of them.")
    rng = random.Random(seed)
    rows = []
    for row in data.generate_rows(task, n, seed, held_out=False):
        if task == "countdown":
            # whole-number steps when there are any; the generator's own expression always works, so the
            # unrestricted search finds at least that one
            solutions = solve_countdown(row["numbers"], row["target"]) or solve_countdown(
                row["numbers"], row["target"], natural=False)
            expression = rng.choice(solutions)
            text = data.tagged("\n".join(data.expression_steps(expression)), expression)
            row = {**row, "completion": [{"role": "assistant", "content": text}], "answer": expression}
        rows.append(row)
    return rows


def rejection_sampled_rows(policy, tokenizer, task: str, n_prompts: int, seed: int, *, n_samples: int,
                           max_new_tokens: int, batch_size: int = 64) -> tuple[list[dict], dict]:
    """RFT's data: ``n_samples`` answers of ``policy`` to each of ``n_prompts`` training prompts (temperature 1),
    and for each prompt one answer the task's verifier accepts (chosen at random among them); prompts with no
    accepted answer give nothing. Returns ``(rows, counts)``."""
    from datasets import Dataset

    from rlkit import data, rewards
    from rlkit.evaluation import generate, score_completions

    rows = data.generate_rows(task, n_prompts, seed, held_out=False)
    dataset = Dataset.from_list(rows)
    verifier = rewards.get_reward(data.get_task(task).reward)
    gens = generate(policy, tokenizer, dataset["prompt"], max_new_tokens=max_new_tokens, temperature=1.0,
                    num_samples=n_samples, batch_size=batch_size, seed=seed, desc="RFT samples")
    scores = score_completions(dataset, gens.texts, verifier, n_samples)
    rng, kept = random.Random(seed), []
    for row, texts, marks in zip(rows, gens.texts, scores, strict=True):
        right = [t for t, m in zip(texts, marks, strict=True) if m == 1.0]
        if right:
            kept.append({**row, "completion": [{"role": "assistant", "content": rng.choice(right)}]})
    counts = {"prompts": n_prompts, "samples": n_prompts * n_samples, "kept": len(kept),
              "right samples": sum(m == 1.0 for marks in scores for m in marks)}
    return kept, counts


def fine_tune(model_dir: str, rows: list[dict], cfg):
    """Continue SFT of the model at ``model_dir`` on ``rows`` (prompt/completion) with LoRA, by ``cfg`` (an ``sft``
    config: its steps, batch, learning rate, seed and output folder, checkpointed and resumable). Returns the
    trained policy, in eval mode."""
    from datasets import Dataset

    from rlkit import modeling, training

    if not rows:
        raise RlkitError("No rows to fine-tune on.")
    train = Dataset.from_list(rows).select_columns(["prompt", "completion"]).shuffle(seed=cfg.seed)
    policy, tokenizer = modeling.load_policy(model_dir, load_in_4bit=cfg.load_in_4bit, lora_r=cfg.lora_r,
                                             lora_alpha=cfg.lora_alpha, seed=cfg.seed)
    training.train(training.sft_trainer(policy, tokenizer, train, cfg), cfg)
    return policy.eval()
