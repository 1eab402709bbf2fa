"""Best-of-N, exactly: the expected accuracy of picking one of N samples, computed from n >= N samples per prompt.

Best-of-N draws N answers to a prompt and keeps one, chosen by a *selector*. Drawing N of the n stored
samples at random and averaging over many draws estimates its accuracy with Monte-Carlo noise; averaging
over *all* C(n, N) subsets gives the expectation itself, and for the selectors here that sum has a closed
form (paper P1 reports best-of-N accuracy on Countdown; ``shared/docs/studies.md`` gives the estimators):

- **oracle** (an exact verifier picks a correct sample if there is one): pass@N, Chen et al.'s unbiased
  ``1 - C(n-c, N) / C(n, N)`` (:func:`rlkit.evaluation.pass_at_k`).
- **scorer** (a reward model, or the policy's mean log-probability): sort the n samples best first; the sample at
  rank i (0-based) is the best of a random N-subset with probability ``C(n-1-i, N-1) / C(n, N)``. The expected
  accuracy weights each sample's correctness by that probability; samples with equal scores share their weights
  (the pick among them is uniform).
- **majority** vote over canonical answers (unparsed answers do not vote, a tie is broken uniformly, no vote at
  all is wrong): for each answer, the chance that it has the most votes in a random N-subset, counted with
  generating functions over the other answers' vote counts.

Each function gives one prompt's expected accuracy; :func:`curve` averages over prompts with a bootstrap
interval, and :func:`monte_carlo` draws subsets for real, the check every estimator is tested against.

>>> round(oracle(correct=[1, 0, 0, 0], n_best=2), 3)  # one right in four: a random pair holds it half the time
0.5
>>> scorer(scores=[0.9, 0.1, 0.5], correct=[0, 1, 1], n_best=3)  # with all three, the scorer picks the wrong one
0.0
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rlkit.evaluation import pass_at_k
from rlkit.stats import bootstrap_mean

SELECTORS = ("oracle", "reward model", "majority", "log-probability")


def _check(n: int, n_best: int) -> None:
    if not 1 <= n_best <= n:
        raise ValueError(f"best-of-{n_best} needs at least {n_best} samples per prompt, got {n}: sample more "
                         f"(2 x the largest N keeps the estimate's variance low) or drop N={n_best}")


def oracle(correct: Sequence[float], n_best: int) -> float:
    """Expected accuracy of best-of-``n_best`` with an exact verifier: pass@N from the ``len(correct)`` samples."""
    _check(len(correct), n_best)
    return pass_at_k(len(correct), int(sum(bool(c) for c in correct)), n_best)


def rank_weights(n: int, n_best: int) -> np.ndarray:
    """``(n,)``: the chance that the sample at rank i (0 = best) is the best of a random ``n_best``-subset.

    >>> rank_weights(4, 2).tolist()  # the best sample tops every pair it is in: 3 of the 6 pairs
    [0.5, 0.3333333333333333, 0.16666666666666666, 0.0]
    """
    _check(n, n_best)
    total = math.comb(n, n_best)
    return np.array([math.comb(n - 1 - i, n_best - 1) / total for i in range(n)])


def scorer(scores: Sequence[float], correct: Sequence[float], n_best: int) -> float:
    """Expected accuracy of keeping the highest-scored of ``n_best`` random samples (ties picked uniformly)."""
    s, c = np.asarray(scores, dtype=float), np.asarray(correct, dtype=float)  # (n,), (n,)
    if s.shape != c.shape or s.ndim != 1:
        raise ValueError(f"one score per sample: {s.shape} scores for {c.shape} verdicts")
    if np.isnan(s).any():
        raise ValueError("a score is NaN: score every sample (the selector cannot rank a NaN)")
    order = np.argsort(-s, kind="stable")  # best first
    weights, s, c = rank_weights(len(s), n_best), s[order], c[order]
    total, start = 0.0, 0
    for end in range(1, len(s) + 1):  # walk the runs of equal scores: a run shares its weight evenly
        if end == len(s) or s[end] != s[start]:
            total += weights[start:end].sum() * c[start:end].mean()
            start = end
    return float(total)


def _votes_polynomial(sizes: Sequence[int], cap: int, n_best: int) -> np.ndarray:
    """``P[t, j]``: the number of ways to draw ``t`` votes from groups of ``sizes`` with every group drawn at most
    ``cap`` times and exactly ``j`` groups drawn ``cap`` times (the ones that tie with the leader)."""
    max_ties = n_best // cap
    poly = np.zeros((n_best + 1, max_ties + 1))  # (t, j)
    poly[0, 0] = 1.0
    for size in sizes:
        step = np.zeros_like(poly)
        for x in range(min(size, cap, n_best) + 1):
            tie = int(x == cap)
            step[x:, tie:] += math.comb(size, x) * poly[: n_best + 1 - x, : max_ties + 1 - tie]
        poly = step
    return poly


def majority(answers: Sequence[Hashable | None], correct: Sequence[float], n_best: int) -> float:
    """Expected accuracy of a majority vote over ``n_best`` random samples.

    ``answers`` are canonical (equal answers compare equal; None for an answer that could not be read). A voted
    answer is as correct as its samples are on average (canonical answers are usually all right or all wrong).
    """
    _check(len(answers), n_best)
    if len(answers) != len(correct):
        raise ValueError(f"one verdict per answer: {len(answers)} answers, {len(correct)} verdicts")
    groups: dict[Hashable, list[float]] = {}
    for answer, ok in zip(answers, correct):
        if answer is not None:
            groups.setdefault(answer, []).append(float(ok))
    n, unread = len(answers), sum(a is None for a in answers)
    sizes = {a: len(v) for a, v in groups.items()}
    total = 0.0
    for answer, verdicts in groups.items():
        rate = sum(verdicts) / len(verdicts)
        if rate:
            total += rate * _win_chance(sizes[answer], [m for a, m in sizes.items() if a != answer], unread, n_best)
    return total / math.comb(n, n_best)


def _win_chance(size: int, others: list[int], unread: int, n_best: int) -> float:
    """The number of ``n_best``-subsets (each weighted by its tie-break share) in which a group of ``size`` leads."""
    ways = 0.0
    for k in range(1, min(size, n_best) + 1):  # k votes for this answer
        poly = _votes_polynomial(others, k, n_best - k)  # the other answers' votes, none above k
        for t in range(n_best - k + 1):
            rest = n_best - k - t  # drawn among the unread answers
            if rest <= unread:
                ways += math.comb(size, k) * math.comb(unread, rest) * sum(
                    poly[t, j] / (1 + j) for j in range(poly.shape[1]))
    return ways


# ---------------------------------------------------------------- n samples per prompt, and what they give
@dataclass
class Samples:
    """``n`` samples per prompt of one model and what every selector reads: ``texts[i][j]`` is sample j of prompt i,
    ``correct`` its verdict (1.0 or 0.0), ``answers`` its canonical answer, ``logprobs`` its mean log-probability
    per token, ``scores`` a reward model's score (filled by :func:`add_scores`). ``seconds``: sampling time."""

    task: str
    texts: list[list[str]]
    correct: list[list[float]]
    answers: list[list[Hashable | None]]
    logprobs: list[list[float]]
    seconds: float
    scores: list[list[float]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.texts[0])

    @property
    def pass1(self) -> float:
        """Sampled accuracy at N = 1: the mean over prompts of each prompt's share of right samples."""
        values = self.per_prompt("oracle", 1)  # pass@1 = each prompt's share of right samples
        return sum(values) / len(values)

    @property
    def selectors(self) -> list[str]:
        """The selectors these samples can be read by: the reward model's once scores are added."""
        return [s for s in SELECTORS if s != "reward model" or self.scores]

    def per_prompt(self, selector: str, n_best: int) -> list[float]:
        """Each prompt's exact expected best-of-``n_best`` accuracy under ``selector`` (for paired comparisons)."""
        if selector not in self.selectors:
            raise ValueError(f"unknown selector {selector!r} here; use one of {self.selectors}")
        if selector == "oracle":
            return [oracle(c, n_best) for c in self.correct]
        if selector == "majority":
            return [majority(a, c, n_best) for a, c in zip(self.answers, self.correct)]
        scores = self.logprobs if selector == "log-probability" else self.scores
        return [scorer(s, c, n_best) for s, c in zip(scores, self.correct)]

    def curves(self, ns: Sequence[int], seed: int = 0) -> dict[str, dict]:
        """Every selector's curve (:func:`curve`): ``{"oracle": {...}, "reward model": {...} once scores are added,
        "majority": {...}, "log-probability": {...}}``."""
        return {name: curve(lambda k, name=name: self.per_prompt(name, k), ns, seed) for name in self.selectors}


def draw(model, tokenizer, rows, task: str, n: int, *, max_new_tokens: int, batch_size: int = 8,
         temperature: float = 1.0, seed: int = 0) -> Samples:
    """``n`` samples per row at ``temperature``, each scored by the task's verifier, canonicalised for the vote and
    scored by the policy's own mean log-probability."""
    import time

    from rlkit.data import get_task
    from rlkit.evaluation import generate, score_completions
    from rlkit.rewards import get_reward

    t0 = time.time()
    gens = generate(model, tokenizer, list(rows["prompt"]), max_new_tokens=max_new_tokens, batch_size=batch_size,
                    temperature=temperature, num_samples=n, seed=seed, desc=f"{task}: {n} samples")
    seconds = time.time() - t0
    rewards = score_completions(rows, gens.texts, get_reward(get_task(task).reward), n)
    correct = [[float(r == 1.0) for r in row] for row in rewards]
    answers = [[canonical_answer(task, t, row) for t in texts] for row, texts in zip(rows, gens.texts)]
    logprobs = [_each_distinct(ids, lambda unique, row=row: mean_logprobs(model, tokenizer, row["prompt"], unique))
                for row, ids in zip(rows, gens.token_ids)]
    return Samples(task, gens.texts, correct, answers, logprobs, seconds)


def _each_distinct(items: list, score_all: Callable[[list], list[float]]) -> list[float]:
    """``score_all`` applied to the distinct items only (samples repeat, the more so after RL), spread back."""
    keys = [tuple(x) if isinstance(x, list) else x for x in items]  # lists of token ids as hashable keys
    first: dict = {}
    for key, item in zip(keys, items):
        first.setdefault(key, item)
    scored = dict(zip(first, score_all(list(first.values())), strict=True))
    return [scored[k] for k in keys]


def add_scores(samples: Samples, rows, rm, rm_tokenizer, batch_size: int = 64) -> Samples:
    """A reward model's score of every sample (``reward_model.score``; each distinct answer to a prompt once)."""
    from rlkit.reward_model import score

    pairs = [(i, t) for i, texts in enumerate(samples.texts) for t in texts]  # (prompt index, text)
    prompts = list(rows["prompt"])

    def score_all(unique):
        return score(rm, rm_tokenizer, [prompts[i] for i, _ in unique], [t for _, t in unique], batch_size=batch_size)

    flat = _each_distinct(pairs, score_all)
    samples.scores = [flat[i:i + samples.n] for i in range(0, len(flat), samples.n)]
    return samples


# ---------------------------------------------------------------- what the selectors read
def canonical_answer(task: str, text: str, row: dict) -> Hashable | None:
    """The answer a majority vote counts for one completion (None: nothing readable, no vote).

    Numbers compare as numbers (``12`` and ``12.0`` are one answer; thousands commas and dollar signs are
    dropped), a countdown equation by the value it reaches with the prompt's numbers (every correct equation
    reaches the target; an equation that misuses the numbers does not vote), a knights-and-knaves answer as its
    set of ``(name, role)``; anything else as its trimmed, lower-cased text.

    >>> canonical_answer("arithmetic", "<think>6*2</think><answer> 12.0 </answer>", {})
    Fraction(12, 1)
    >>> canonical_answer("countdown", "<answer>3*(4+1)</answer>", {"numbers": [1, 3, 4], "target": 15})
    Fraction(15, 1)
    """
    from fractions import Fraction

    from rlkit.data import get_task
    from rlkit.rewards import countdown_value, extract_answer, parse_identities

    answer = extract_answer(text)
    if answer is None:
        return None
    family = get_task(task).reward
    if family == "countdown":
        return countdown_value(answer, row["numbers"], int(row["target"]))
    if family == "knights_knaves":
        found = parse_identities(answer)
        return frozenset(found.items()) if found else None
    try:
        return Fraction(answer.replace(",", "").replace("$", "").strip())
    except (ValueError, ZeroDivisionError):
        return " ".join(answer.lower().split()) or None


def mean_logprobs(model, tokenizer, prompt, token_ids: list[list[int]], batch_size: int = 32) -> list[float]:
    """The policy's mean log-probability per token of each sampled completion (``token_ids``, as sampled) of one
    prompt: the "confidence" selector. Mean, not sum, so that a short answer is not preferred for being short."""
    import torch

    from rlkit.evaluation.generation import model_device, prompt_text

    prompt_ids = tokenizer(prompt_text(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    pad = tokenizer.pad_token_id
    device, out = model_device(model), []
    for start in range(0, len(token_ids), batch_size):
        chunk = token_ids[start:start + batch_size]
        width = len(prompt_ids) + max(len(ids) for ids in chunk)
        input_ids = torch.full((len(chunk), width), pad)  # (B, L), right-padded
        mask = torch.zeros((len(chunk), width), dtype=torch.long)  # (B, L) 1 on real tokens
        completion = torch.zeros((len(chunk), width))  # (B, L) 1 on completion tokens
        for i, ids in enumerate(chunk):
            full = prompt_ids + list(ids)
            input_ids[i, :len(full)] = torch.tensor(full)
            mask[i, :len(full)] = 1
            completion[i, len(prompt_ids):len(full)] = 1
        with torch.no_grad():
            logits = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).logits[:, :-1].float()
        logps = torch.log_softmax(logits, -1).gather(-1, input_ids[:, 1:].to(device).unsqueeze(-1)).squeeze(-1)
        keep = completion[:, 1:].to(device)  # (B, L-1): position t predicts token t+1
        out += ((logps * keep).sum(-1) / keep.sum(-1).clamp(min=1)).tolist()
    return out


def monte_carlo(select: Callable[[list[int]], float], n: int, n_best: int, draws: int = 20000,
                seed: int = 0) -> float:
    """The mean of ``select(subset)`` over ``draws`` random ``n_best``-subsets of ``range(n)``: the check the exact
    estimators are tested against (``select`` returns the chosen sample's correctness)."""
    _check(n, n_best)
    rng = random.Random(seed)
    return sum(select(rng.sample(range(n), n_best)) for _ in range(draws)) / draws


def vote(answers: Sequence[Hashable | None], correct: Sequence[float], subset: list[int], rng: random.Random) -> float:
    """One majority vote over ``subset`` with a uniform tie-break (the draw :func:`majority` averages)."""
    counts = Counter(answers[i] for i in subset if answers[i] is not None)
    if not counts:
        return 0.0
    top = max(counts.values())
    winner = rng.choice(sorted((a for a, m in counts.items() if m == top), key=repr))
    picked = [correct[i] for i in subset if answers[i] == winner]
    return sum(picked) / len(picked)


def curve(per_prompt: Callable[[int], Sequence[float]], ns: Sequence[int], seed: int = 0) -> dict:
    """``{"N": [...], "accuracy": [...], "ci95": [[lo, hi], ...]}``: ``per_prompt(N)`` (one expected accuracy per
    prompt) averaged at each N, with a 95% bootstrap interval over prompts (metrics.json's ``extra.curves`` shape)."""
    out: dict[str, list] = {"N": [], "accuracy": [], "ci95": []}
    for n_best in ns:
        mean, (lo, hi) = bootstrap_mean(per_prompt(n_best), seed=seed)
        out["N"].append(int(n_best))
        out["accuracy"].append(mean)
        out["ci95"].append([lo, hi])
    return out


# ---------------------------------------------------------------- the RL model to compare with
def find_rl_run(rl_dir: str, cfg, *, build: bool, sft_dir: str) -> tuple[str | None, str]:
    """``(adapter folder, what was found)``: the last checkpoint of 03_grpo's run in ``rl_dir`` when it finished on
    ``cfg.task`` from the same model; else, with ``build``, the same GRPO run made now under ``cfg.output_dir``
    (``python -m rlkit.train grpo``, 03's profile defaults), else None and why."""
    import json
    from pathlib import Path

    from rlkit import config, training

    folder = Path(config.profile_path(rl_dir, cfg.profile))
    metrics = folder / "metrics.json"
    found = json.loads(metrics.read_text()) if metrics.exists() else {}
    ckpt = training.last_checkpoint(config.make_config("grpo", cfg.profile, output_dir=str(folder)))
    if found.get("task") == cfg.task and ckpt:
        return ckpt, f"GRPO model: 03_grpo's run in {folder} ({found.get('steps')} steps on {cfg.task}), {ckpt}"
    why = (f"{folder} holds no finished 03_grpo run" if not found else
           f"03_grpo's run in {folder} trained on {found.get('task')!r}, not {cfg.task!r}")
    if not build:
        return None, f"No GRPO model: {why}. Run 03_grpo with TASK={cfg.task!r} to compare with it."
    from rlkit import train

    out = Path(cfg.output_dir) / "grpo"
    print(f"{why}: running 03's GRPO on {cfg.task} here (python -m rlkit.train grpo), into {out}")
    final = train.main(["grpo", "--profile", cfg.profile, "--output-dir", str(out), "--sft-dir", sft_dir,
                        f"task={cfg.task}", f"seed={cfg.seed}"])
    return str(final), f"GRPO model: built here by 03's recipe ({final})"


SAVED_RUNS = {"dpo": "02_dpo", "rloo": "04_rloo"}  # method -> the lesson whose run 06 reads


def find_saved_run(method: str, run_dir: str | None, cfg) -> tuple[str | None, str]:
    """``(adapter folder, what was found)`` for 02_dpo's or 04_rloo's run in ``run_dir``: its last checkpoint when
    the run finished (``metrics.json``) and its signature says it trained ``method`` on ``cfg.task`` from
    ``cfg.model``; else None and why (these runs are read, not rebuilt here: run the lesson to add its curve)."""
    import json
    from pathlib import Path

    from rlkit import config, training

    lesson = SAVED_RUNS[method]
    if run_dir is None:
        return None, f"No {method.upper()} model: its folder is set to None."
    folder = Path(config.profile_path(run_dir, cfg.profile))
    signature_file = folder / "checkpoints" / "run_signature.json"
    ckpt = training.last_checkpoint(config.make_config(method, cfg.profile, output_dir=str(folder)))
    if not (folder / "metrics.json").exists() or ckpt is None or not signature_file.exists():
        return None, (f"No {method.upper()} model: {folder} holds no finished {lesson} run. Run {lesson} "
                      f"(TASK={cfg.task!r}) to add its curves here.")
    signature = json.loads(signature_file.read_text())

    def same(key, want):
        got = signature.get(key)
        if key == "model" and got and Path(got).exists() and Path(want).exists():
            return Path(got).resolve() == Path(want).resolve()  # one folder, written relative or absolute
        return got == want

    mismatch = [f"{key} {signature.get(key)!r}, not {want!r}" for key, want in
                (("method", method), ("task", cfg.task), ("model", cfg.model)) if not same(key, want)]
    if mismatch:
        return None, f"No {method.upper()} model: {lesson}'s run in {folder} has " + "; ".join(mismatch) + "."
    return ckpt, (f"{method.upper()} model: {lesson}'s run in {folder} (seed {signature.get('seed')}, "
                  f"{Path(ckpt).name})")
