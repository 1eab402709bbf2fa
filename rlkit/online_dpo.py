"""Offline, semi-online and online DPO (paper P2, arXiv 2506.21495) as rounds of TRL's ``DPOTrainer``.

One knob separates the three: the **sync interval** ``s``, how many optimizer steps pass before the
generator that samples the training pairs is refreshed with the trainer's weights.

    s = 1        online DPO: every step's pairs are sampled by the policy as it is now
    1 < s < inf  semi-online: the pairs of steps t .. t+s-1 are sampled at step t (a stale generator)
    s = inf      offline DPO: all pairs are sampled once, from the starting model

A round is one sync: sample ``k`` completions for each of the next ``s * B`` prompts (``B`` prompts per
optimizer step) with the current policy, score them with the verifier, keep P2's pairs (chosen = a random
correct sample, rejected = a random incorrect one; prompts whose samples are all correct or all wrong are
skipped), shuffle them and split them over the round's ``s`` steps. Sampling from the policy at the sync
point and then training ``s`` steps is the same as sampling from a snapshot frozen at that point, with no
second copy of the model.

Every round is a new ``DPOTrainer`` sharing one optimizer and one learning-rate schedule (passed as
``optimizers=``: otherwise each round would restart AdamW's moments and the warm-up), with an explicit,
frozen reference model: given a PEFT model and no ``ref_model``, TRL 1.16 would copy the *current* adapter
as a "ref" adapter (the reference silently becomes "the policy at round start") and fail on the second round.
The reference is the starting model (P2's default) or, with ``ref_sync=True``, a frozen copy of the
policy taken at every generator sync.
"""

from __future__ import annotations

import copy
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from rlkit.errors import RlkitError

OFFLINE = None  # the sync interval of offline DPO: the generator is never refreshed


def check_sync_interval(s) -> int | None:
    """``s`` as steps between generator syncs: a positive integer, or ``None`` for "inf" (offline).

    >>> check_sync_interval(10), check_sync_interval("inf"), check_sync_interval(float("inf"))
    (10, None, None)
    """
    if s is None or (isinstance(s, str) and s.strip().lower() in ("inf", "infinity", "offline")):
        return OFFLINE
    if isinstance(s, float) and math.isinf(s) and s > 0:
        return OFFLINE
    if isinstance(s, str) and s.strip().isdigit():
        s = int(s.strip())
    if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s != int(s) or s < 1:
        raise RlkitError(f"Sync interval s={s!r} is not usable: give a positive whole number of optimizer steps "
                         "(1 = online DPO, e.g. 10 = semi-online) or 'inf' for offline DPO (pairs sampled once).")
    return int(s)


def check_samples(k: int) -> int:
    """DPO pairs need a correct and an incorrect sample of the same prompt: at least 2 samples."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise RlkitError(f"K={k!r} samples per prompt cannot give a pair: P2's rule needs a correct and an "
                         "incorrect sample of the same prompt. Set K to 2 or more (P2 and the kit use 8).")
    return k


def rounds(max_steps: int, s: int | None) -> list[int]:
    """Optimizer steps in each round (one round per generator sync).

    >>> rounds(10, 4), rounds(10, None), rounds(3, 1)
    ([4, 4, 2], [10], [1, 1, 1])
    """
    size = max_steps if s is OFFLINE else min(s, max_steps)
    return [min(size, max_steps - start) for start in range(0, max_steps, size)]


def split_steps(n_pairs: int, n_steps: int) -> list[list[int]]:
    """Pair indices ``0..n_pairs-1`` split into ``n_steps`` consecutive batches of nearly equal size.

    >>> split_steps(7, 3)
    [[0, 1, 2], [3, 4], [5, 6]]
    """
    base, extra = divmod(n_pairs, n_steps)
    sizes = [base + (i < extra) for i in range(n_steps)]
    starts = [sum(sizes[:i]) for i in range(n_steps)]
    return [list(range(a, a + n)) for a, n in zip(starts, sizes)]


# ---------------------------------------------------------------- one round of pairs
@dataclass
class RoundPairs:
    """What one sync produced: the pairs and why the other prompts gave none."""

    pairs: list[dict]
    prompts: int
    all_correct: int
    all_wrong: int
    gold: int = 0  # pairs whose chosen side is the gold answer (only with gold_when_all_wrong)
    ties: int = 0  # prompts judged by a reward model whose samples all scored the same

    def line(self, index: int, first_step: int, n_steps: int) -> str:
        gold = f" ({self.gold} of them gold vs sample)" if self.gold else ""
        skipped = self.all_wrong - self.gold
        ties = f", {self.ties} tied by the reward model" if self.ties else ""
        return (f"round {index} (steps {first_step + 1}-{first_step + n_steps}): {self.prompts} prompts -> "
                f"{len(self.pairs)} pairs{gold}; skipped {self.all_correct} all correct, {skipped} all wrong{ties}")


@dataclass(frozen=True)
class Judge:
    """How the samples of one task become pairs.

    ``verifiable``: ``score`` is a verifier and P2's rule for verifiable tasks applies (a random correct vs a
    random incorrect sample). Otherwise ``score`` is a reward model and P2's rule for the others applies (the
    highest- vs the lowest-scored sample; a prompt whose samples all score the same gives no pair).
    ``score(rows, texts, k)`` gives one list of ``k`` scores per row.
    """

    name: str
    score: object
    verifiable: bool = True


def verifier_judge(verifier) -> Judge:
    """A task's verifier (TRL's reward signature) as a :class:`Judge`."""
    from rlkit.evaluation import score_completions

    return Judge(getattr(verifier, "__name__", "verifier"),
                 lambda rows, texts, k: score_completions(rows, texts, verifier, k), verifiable=True)


def reward_model_judge(model, tokenizer, batch_size: int = 64) -> Judge:
    """A Bradley-Terry reward model (rlkit.reward_model) as a :class:`Judge`: it reads prompt and answer."""
    from rlkit.evaluation.generation import chunk
    from rlkit.reward_model import score

    def judge(rows, texts, k):
        prompts = [prompt for prompt in rows["prompt"] for _ in range(k)]
        return chunk(score(model, tokenizer, prompts, [t for row in texts for t in row], batch_size=batch_size), k)

    return Judge("reward model", judge, verifiable=False)


def judged_pairs(rows, texts: list[list[str]], judges: dict[str, Judge], k: int, seed: int = 0,
                 gold_when_all_wrong: bool = False) -> RoundPairs:
    """Pairs from ``texts`` (``k`` samples of each row), each row judged by ``judges[row["task"]]``: P2's
    verifier rule or its reward-model rule, so one round can mix a verifiable task and a judged one.
    ``gold_when_all_wrong`` acts on verifiable tasks only, as in :func:`sample_round`."""
    from rlkit.dpo import best_worst_pairs

    tasks = list(rows["task"])
    missing = sorted(set(tasks) - set(judges))
    if missing:
        raise RlkitError(f"No judge for task(s) {missing}: give each task of the training rows a verifier or a "
                         f"reward model (judges has {sorted(judges)}).")
    got = RoundPairs([], len(tasks), 0, 0)
    for task in sorted(set(tasks)):
        index = [i for i, t in enumerate(tasks) if t == task]
        part, part_texts, judge = rows.select(index), [texts[i] for i in index], judges[task]
        scores = judge.score(part, part_texts, k)
        if judge.verifiable:
            verified = _verified_pairs(part, part_texts, scores, k, seed, gold_when_all_wrong)
            got.pairs += verified.pairs
            got.all_correct += verified.all_correct
            got.all_wrong += verified.all_wrong
            got.gold += verified.gold
        else:
            pairs = best_worst_pairs(list(part), part_texts, scores)
            got.ties += len(index) - len(pairs)
            got.pairs += pairs
    return got


def _verified_pairs(rows, texts: list[list[str]], scores: list[list[float]], k: int, seed: int,
                    gold_when_all_wrong: bool) -> RoundPairs:
    """P2's verifier rule on scored samples (and gold pairs for all-wrong prompts when asked), with the counts."""
    from rlkit.dpo import gold_pairs, verifier_pairs

    right = [sum(s >= 1.0 for s in row) for row in scores]
    pairs = verifier_pairs(list(rows), texts, scores, seed=seed)
    gold = []
    if gold_when_all_wrong:
        wrong = [i for i, n in enumerate(right) if n == 0]
        gold = gold_pairs([rows[i] for i in wrong], [texts[i] for i in wrong], [scores[i] for i in wrong], seed=seed)
    return RoundPairs(pairs + gold, len(rows), sum(n == k for n in right), sum(n == 0 for n in right), len(gold))


def sample_round(policy, tokenizer, rows, verifier, *, k: int, max_new_tokens: int, temperature: float = 1.0,
                 batch_size: int = 64, seed: int = 0, gold_when_all_wrong: bool = False,
                 judges: dict[str, Judge] | None = None) -> RoundPairs:
    """Sample ``k`` completions per row with the policy as it is now and keep P2's pairs.

    ``gold_when_all_wrong`` (not P2's rule: for plumbing runs on a model that solves nothing yet, such as the
    smoke profile's) pairs each all-wrong prompt's gold answer against one of its samples instead of skipping it.
    ``judges`` (task name -> :class:`Judge`) replaces ``verifier`` for rows of several tasks (P2's mixed runs).
    """
    from rlkit.evaluation import generate, score_completions

    gens = generate(policy, tokenizer, rows["prompt"], max_new_tokens=max_new_tokens, temperature=temperature,
                    num_samples=k, batch_size=max(1, batch_size // k), seed=seed, progress=False)
    if judges is not None:
        return judged_pairs(rows, gens.texts, judges, k, seed=seed, gold_when_all_wrong=gold_when_all_wrong)
    return _verified_pairs(rows, gens.texts, score_completions(rows, gens.texts, verifier, k), k, seed,
                           gold_when_all_wrong)


def check_round(got: RoundPairs, n_steps: int, index: int) -> None:
    """A round must give at least one pair per optimizer step; say what was skipped and what to change."""
    if len(got.pairs) >= n_steps:
        return
    raise RlkitError(
        f"Round {index}: {got.prompts} prompts gave {len(got.pairs)} usable pairs for {n_steps} optimizer step(s) "
        f"({got.all_correct} prompts had only correct samples, {got.all_wrong} only incorrect ones"
        + (f", {got.ties} only samples the reward model scored the same" if got.ties else "")
        + "; all are skipped by P2's rule). "
        + ("The model fails almost every prompt: use easier prompts (LEVELS), more samples per prompt (K) or a "
           "stronger starting model." if got.all_wrong >= got.all_correct else
           "The model solves almost every prompt: use harder prompts (LEVELS) or more samples per prompt (K).")
        + " More prompts per step (PROMPTS_PER_STEP) also gives more pairs.")


# ---------------------------------------------------------------- the trainer of one round
def _round_trainer_class():
    from trl import DPOTrainer

    class RoundDPOTrainer(DPOTrainer):
        """TRL's DPOTrainer whose optimizer steps take given, possibly unequal, batches of pairs in order."""

        def __init__(self, *args, step_batches: list[list[int]], **kwargs):
            self.step_batches = step_batches
            super().__init__(*args, **kwargs)

        def get_train_dataloader(self):
            dataset = self._remove_unused_columns(self.train_dataset, description="Training")
            loader = DataLoader(dataset, batch_sampler=self.step_batches, collate_fn=self.data_collator)
            return self.accelerator.prepare(loader)

    return RoundDPOTrainer


def frozen_copy(policy):
    """A frozen, adapter-free copy of ``policy``: a reference model.

    Adapters that are still zero (a fresh LoRA) are dropped without merging, so the copy is exactly the base
    model; trained adapters are merged in (into 4-bit weights that re-quantizes them, an approximation).
    """
    ref = copy.deepcopy(policy)
    if hasattr(ref, "merge_and_unload"):
        fresh = all(not p.any() for name, p in ref.named_parameters() if "lora_B" in name)
        ref = ref.unload() if fresh else ref.merge_and_unload()
    ref.eval()
    ref.requires_grad_(False)
    return ref


def shared_optimizer(policy, *, learning_rate: float, max_steps: int, warmup_steps: int, adam_epsilon: float = 1e-8):
    """One AdamW over the trainable weights and one schedule for the whole run, shared by every round."""
    from transformers import get_scheduler

    params = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, eps=adam_epsilon, weight_decay=0.0)
    schedule = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=warmup_steps,
                             num_training_steps=max_steps)
    return optimizer, schedule


def round_args(cfg, out_dir: str, n_steps: int, nll_weight: float):
    """DPOConfig of one round: the kit's common arguments, ``n_steps`` steps, a log line every step."""
    from trl import DPOConfig

    from rlkit.training import common_args, dpo_losses

    return DPOConfig(**{**common_args(cfg), "output_dir": out_dir, "max_steps": n_steps, "per_device_train_batch_size": 1,
                        "gradient_accumulation_steps": 1, "logging_steps": 1, "save_strategy": "no",
                        "beta": cfg.beta, **dpo_losses(nll_weight), "max_length": cfg.max_prompt_length + cfg.max_completion_length,
                        "disable_dropout": True, "disable_tqdm": True})


def train_round(policy, ref_model, tokenizer, pairs: list[dict], n_steps: int, cfg, optimizers, *, nll_weight: float,
                out_dir: str, seed: int, callbacks=()):
    """Train ``n_steps`` optimizer steps on this round's pairs, shuffled and split evenly over the steps."""
    from datasets import Dataset
    from datasets.utils.logging import disable_progress_bar, enable_progress_bar
    from transformers.trainer_callback import PrinterCallback

    from rlkit.checks import check_pairs
    from rlkit.training import trainable_dtype_for_precision

    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    data = Dataset.from_list([{c: pairs[i][c] for c in ("prompt", "chosen", "rejected")} for i in order])
    check_pairs(data)
    disable_progress_bar()  # one tokenizing bar per round would bury the output
    try:
        trainer = _round_trainer_class()(
            model=policy, ref_model=ref_model, args=round_args(cfg, out_dir, n_steps, nll_weight),
            processing_class=tokenizer, train_dataset=data, optimizers=optimizers,
            step_batches=split_steps(len(data), n_steps), callbacks=list(callbacks))
    finally:
        enable_progress_bar()
    trainable_dtype_for_precision(trainer)  # a 4-bit policy's adapters stay fp32 unless the rule is bf16 (T4: fp16)
    trainer.remove_callback(PrinterCallback)  # disable_tqdm would otherwise print every step's log
    trainer.train()
    return trainer.state.log_history


# ---------------------------------------------------------------- the whole run
@dataclass
class OnlineDPORun:
    """The settings of one DPO arm; ``s`` as :func:`check_sync_interval` returns it."""

    s: int | None
    k: int = 8
    prompts_per_step: int = 8
    ref_sync: bool = False
    nll_weight: float = 0.0
    log: list[dict] = field(default_factory=list)  # one row per optimizer step, from TRL's logs
    rounds: list[dict] = field(default_factory=list)  # one row per sync: pairs and skipped prompts


def train_semi_online(policy, tokenizer, prompts, verifier, cfg, *, s, k: int = 8, prompts_per_step: int = 8,
                      ref_sync: bool = False, nll_weight: float = 0.0, ref_model=None, callbacks=(),
                      out_dir: str | None = None, gold_when_all_wrong: bool = False,
                      judges: dict[str, Judge] | None = None) -> OnlineDPORun:
    """Semi-online DPO for ``cfg.max_steps`` steps: sync every ``s`` steps (1 online, ``"inf"`` offline).

    Step ``t`` consumes prompts ``t*B .. t*B+B-1`` of ``prompts`` (``B = prompts_per_step``, cycling when they
    run out), whatever ``s`` is, so every arm sees the same prompts per step. ``ref_model`` is the frozen
    reference (default: a frozen copy of ``policy`` as it is now); ``ref_sync=True`` replaces it with a frozen
    copy of the policy at every generator sync. ``callbacks`` are TRL callbacks for every round (their
    ``state.global_step`` counts within the round; :class:`StepOffset` exposes the run's own step).
    ``judges`` (task name -> :class:`Judge`) judges rows of several tasks instead of ``verifier``.
    """
    s, k = check_sync_interval(s), check_samples(k)
    run = OnlineDPORun(s=s, k=k, prompts_per_step=prompts_per_step, ref_sync=ref_sync, nll_weight=nll_weight)
    ref = ref_model if ref_model is not None else frozen_copy(policy)
    warmup = max(1, cfg.max_steps // 20)
    optimizers = shared_optimizer(policy, learning_rate=cfg.learning_rate, max_steps=cfg.max_steps,
                                  warmup_steps=warmup)
    step, plan = 0, rounds(cfg.max_steps, s)
    for index, n_steps in enumerate(plan):
        if ref_sync and index > 0:
            ref = frozen_copy(policy)
        rows = _prompt_slice(prompts, step * prompts_per_step, n_steps * prompts_per_step)
        got = sample_round(policy, tokenizer, rows, verifier, k=k, max_new_tokens=cfg.max_completion_length,
                           temperature=cfg.temperature, batch_size=cfg.eval_batch_size * 2, seed=cfg.seed + index,
                           gold_when_all_wrong=gold_when_all_wrong, judges=judges)
        if index % max(1, len(plan) // 5) == 0 or index == len(plan) - 1:  # about five lines per run
            print(got.line(index, step, n_steps))
        check_round(got, n_steps, index)
        run.rounds.append({"round": index, "first_step": step, "steps": n_steps, "prompts": got.prompts,
                           "pairs": len(got.pairs), "gold_pairs": got.gold, "all_correct": got.all_correct,
                           "all_wrong": got.all_wrong, "ties": got.ties})
        for cb in callbacks:
            if isinstance(cb, StepOffset):
                cb.offset = step
        history = train_round(policy, ref, tokenizer, got.pairs, n_steps, cfg, optimizers, nll_weight=nll_weight,
                              out_dir=str(Path(out_dir or cfg.output_dir) / "rounds"), seed=cfg.seed + index,
                              callbacks=callbacks)
        run.log += [{**row, "step": step + row.get("step", 0)} for row in history if "loss" in row]
        step += n_steps
    return run


def _prompt_slice(prompts, start: int, n: int):
    """Rows ``start .. start+n-1`` of ``prompts``, wrapping around at the end."""
    return prompts.select([(start + i) % len(prompts) for i in range(n)])


# ---------------------------------------------------------------- GRPO as P2 ran it
def p2_grpo_overrides(k: int, prompts_per_step: int, beta: float = 0.001) -> dict:
    """GRPOConfig settings of P2's GRPO: advantage r - mean(r) (no std division), no per-sequence length
    normalisation (dr_grpo's constant divisor), strictly on-policy, group size ``k``, a small KL."""
    return {"num_generations": k, "per_device_train_batch_size": k * prompts_per_step, "gradient_accumulation_steps": 1,
            "scale_rewards": "none", "loss_type": "dr_grpo", "beta": beta, "num_iterations": 1}


# ---------------------------------------------------------------- entropy and length, one definition
@dataclass
class Probe:
    """Held-out accuracy, rollout entropy and length of the current policy on fixed held-out rows.

    The kit's one definition of rollout entropy: sample ``k`` completions per prompt at temperature 1; at
    every completion token, the entropy ``H = -sum_v p(v) log p(v)`` of the policy's full next-token
    distribution (T = 1, teacher-forced on the sample); the mean over all completion tokens of all samples.
    ``length`` is the mean number of completion tokens of those samples; ``accuracy`` is greedy accuracy on
    the rows by ``verifier``. Same rows and seed at every probe, so only the policy changes.
    """

    rows: object  # a Dataset with "prompt" and the verifier's columns
    verifier: object
    k: int = 4
    max_new_tokens: int = 64
    seed: int = 0
    batch_size: int = 64

    def __call__(self, policy, tokenizer) -> dict:
        from rlkit.evaluation import evaluate, generate

        prompts = list(self.rows["prompt"])
        greedy = evaluate(policy, tokenizer, self.rows, self.verifier, max_new_tokens=self.max_new_tokens,
                          batch_size=self.batch_size, progress=False)
        gens = generate(policy, tokenizer, prompts, max_new_tokens=self.max_new_tokens, temperature=1.0,
                        num_samples=self.k, batch_size=max(1, self.batch_size // self.k), seed=self.seed,
                        progress=False)
        entropies = [completion_entropies(policy, tokenizer, p, ids) for p, ids in zip(prompts, gens.token_ids)]
        tokens = sum(len(h) for h in entropies)
        return {"accuracy": greedy.accuracy, "entropy": sum(map(sum, entropies)) / max(tokens, 1),
                "length": tokens / (len(prompts) * self.k),
                "entropy_per_prompt": [sum(h) / max(len(h), 1) for h in entropies],
                "length_per_prompt": [len(h) / self.k for h in entropies]}


def completion_entropies(policy, tokenizer, prompt, samples: list[list[int]]) -> list[float]:
    """Entropy of the policy's next-token distribution at every token of each sample, flattened."""
    from rlkit.evaluation.generation import generation_mode, model_device, prompt_text

    prompt_ids = tokenizer(prompt_text(tokenizer, prompt), add_special_tokens=False)["input_ids"]
    T = max((len(c) for c in samples), default=0)
    if T == 0:
        return []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([prompt_ids + c + [pad] * (T - len(c)) for c in samples])  # (k, P+T)
    mask = torch.tensor([[1] * len(c) + [0] * (T - len(c)) for c in samples], dtype=torch.bool)  # (k, T)
    with generation_mode(policy, tokenizer), torch.no_grad():
        logits = policy(input_ids=ids.to(model_device(policy))).logits[:, len(prompt_ids) - 1:-1].float()  # (k, T, V)
        logp = torch.log_softmax(logits, dim=-1)  # (k, T, V)
        entropy = -(logp.exp() * logp).sum(-1).cpu()  # (k, T)
    return entropy[mask].tolist()


class StepOffset:
    """Marker base for callbacks that need the run's step across DPO rounds (``offset`` + round step)."""

    offset: int = 0


def probe_callback(probe: Probe, tokenizer, every: int, records: list[dict]):
    """A TRL callback that runs ``probe`` every ``every`` optimizer steps of the whole run and appends
    ``{"step", "entropy", "length"}`` to ``records``."""
    from transformers import TrainerCallback

    class ProbeCallback(TrainerCallback, StepOffset):
        def on_step_end(self, args, state, control, model=None, **kwargs):
            step = self.offset + state.global_step
            if step % every == 0:
                records.append({"step": step, **probe(model, tokenizer)})

    return ProbeCallback()
