"""Will this GRPO run learn? Cheap checks of the things that most often make a run learn nothing.

GRPO learns only from groups whose completions got *different* rewards: if the starting model never
writes the answer format, always truncates, or solves every prompt (or none), every group has zero
reward variance, every advantage is 0, and training changes nothing while looking healthy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rlkit.config import RunConfig, check_group_size
from rlkit.errors import RlkitError


@dataclass
class Check:
    name: str
    value: float | str
    ok: bool
    advice: str = ""


@dataclass
class PreflightReport:
    checks: list[Check] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    def __str__(self) -> str:
        lines = [f"{'ok' if c.ok else 'FIX':>4}  {c.name:<34} {c.value!s:<10} {'' if c.ok else c.advice}"
                 for c in self.checks]
        verdict = "ready to train" if self.ready else "will probably not learn: fix the lines marked FIX first"
        return "\n".join(lines + [f"verdict: {verdict}"])


def _group_zero_std(rewards: list[list[float]]) -> float:
    """Share of groups whose rewards are all equal (no learning signal)."""
    return sum(max(g) - min(g) < 1e-9 for g in rewards) / max(len(rewards), 1)


def _score(reward_funcs, weights, dataset, texts) -> tuple[list[list[float]], list[list[float]]]:
    """(total weighted reward, first reward) per prompt and sample; a reward of None counts as 0."""
    import math

    from rlkit.evaluation import score_completions

    n = len(texts[0])
    per_func = [[[0.0 if math.isnan(r) else r for r in row] for row in score_completions(dataset, texts, f, n)]
                for f in reward_funcs]  # (F, B, G)
    totals = [[sum(w * f[b][i] for w, f in zip(weights, per_func)) for i in range(n)] for b in range(len(texts))]
    return totals, per_func[0]


def preflight(model, tokenizer, dataset, reward_funcs, cfg: RunConfig, weights=None, n_prompts: int = 16,
              seed: int = 0) -> PreflightReport:
    """Sample ``cfg.num_generations`` completions for ``n_prompts`` training prompts and check them."""
    from rlkit.evaluation import generate
    from rlkit.rewards import format_reward

    weights = weights or [1.0] * len(reward_funcs)
    sample = dataset.select(range(min(n_prompts, len(dataset))))
    gens = generate(model, tokenizer, sample["prompt"], max_new_tokens=cfg.max_completion_length,
                    temperature=cfg.temperature, num_samples=cfg.num_generations, seed=seed,
                    batch_size=max(1, cfg.eval_batch_size // cfg.num_generations), desc="pre-flight samples")
    totals, firsts = _score(reward_funcs, weights, sample, gens.texts)
    flat = [t for samples in gens.texts for t in samples]
    fmt = sum(format_reward(flat)) / len(flat)
    mean_first = sum(map(sum, firsts)) / len(flat)
    zero_std = _group_zero_std(totals)
    report = PreflightReport()
    report.checks.append(Check("format compliance", round(fmt, 3), fmt >= 0.3,
                               "the model rarely writes <answer>...</answer>: start from the SFT model (01_sft) "
                               "or give the format reward more weight"))
    report.checks.append(Check(f"truncated at {cfg.max_completion_length} tokens", round(gens.truncation_rate, 3),
                               gens.truncation_rate <= 0.25,
                               "raise MAX_COMPLETION_LENGTH or ask for shorter reasoning: truncated answers score 0"))
    report.checks.append(Check("groups with zero reward variance", round(zero_std, 3), zero_std <= 0.8,
                               "almost no group has a better and a worse completion: use easier/harder prompts, a "
                               "larger group (NUM_GENERATIONS), a higher TEMPERATURE, or a partial-credit reward"))
    report.checks.append(Check(f"mean {reward_funcs[0].__name__}", round(mean_first, 3), 0.02 <= mean_first <= 0.98,
                               "the task is too hard (reward ~0) or already solved (reward ~1) for this model"))
    report.checks.append(_batch_check(cfg))
    report.checks.append(_grad_check(model))
    return report


def _batch_check(cfg: RunConfig) -> Check:
    try:
        check_group_size(cfg.batch_size, cfg.num_generations)
        return Check("batch holds whole groups", f"{cfg.batch_size}/{cfg.num_generations}", True)
    except RlkitError as err:
        return Check("batch holds whole groups", f"{cfg.batch_size}/{cfg.num_generations}", False, str(err))


def _grad_check(model) -> Check:
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    lora = [n for n in trainable if "lora_" in n]
    ok = bool(trainable)
    return Check("LoRA parameters require grad", f"{len(lora)}/{len(trainable)}", ok,
                 "nothing would train: load the policy with LORA_R > 0 (rlkit.modeling.load_policy)")
