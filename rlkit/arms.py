"""The arms of a comparison study: train each from the same start, measure each the same way, tabulate.

05_online_dpo compares offline, semi-online and online DPO with GRPO (paper P2). Every arm starts from
the same model with freshly initialised LoRA adapters (same seed), trains the same number of optimizer
steps on the same prompts per step with ``k`` samples per prompt, and is measured on the same held-out
prompts: greedy accuracy and sampled pass@1 by the verifier, and the probe's accuracy, rollout entropy
and length every few steps (:class:`rlkit.online_dpo.Probe`). A finished arm is saved (its adapter and
its measurements), so rerunning the notebook reuses it instead of training it again.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from rlkit import online_dpo
from rlkit.errors import RlkitError


@dataclass(frozen=True)
class Arm:
    """One way to train: rounds of DPO with sync interval ``s`` (None = offline), or P2's GRPO."""

    name: str
    method: str = "dpo"  # "dpo" or "grpo"
    s: int | None = 1  # generator sync interval (DPO): 1 online, None offline; GRPO is on-policy (1)
    ref_sync: bool = False  # DPO: replace the reference by the policy at every generator sync
    nll_weight: float = 0.0  # DPO: weight of an NLL term on the chosen answers

    def describe(self) -> str:
        if self.method == "grpo":
            return "GRPO, P2's variant (r - mean, no std, no length normalisation), on-policy"
        what = {1: "online DPO (s = 1)", None: "offline DPO (s = inf)"}.get(self.s, f"semi-online DPO (s = {self.s})")
        return what + (", reference synced" if self.ref_sync else "") + (
            f", + {self.nll_weight:g} x NLL" if self.nll_weight else "")


def p2_arms(s_values: tuple[int, ...], ablate_s: int, nll_weight: float = 1.0) -> list[Arm]:
    """P2's comparison: offline, semi-online for each ``s``, online, GRPO, and the two ablations on the
    semi-online arm ``s = ablate_s``: the reference synced at each generator sync, and an NLL term.

    >>> [a.name for a in p2_arms((5, 20), 5)]
    ['offline', 'semi-5', 'semi-20', 'online', 'grpo', 'semi-5-refsync', 'semi-5-nll']
    """
    semis = [online_dpo.check_sync_interval(s) for s in s_values]
    if any(s in (None, 1) for s in semis) or len(set(semis)) != len(semis):
        raise RlkitError(f"Semi-online sync intervals {s_values} must be distinct whole numbers above 1 "
                         "(s = 1 is the online arm and s = inf the offline arm; both are always run).")
    ablate = online_dpo.check_sync_interval(ablate_s)
    return [Arm("offline", s=None), *[Arm(f"semi-{s}", s=s) for s in semis], Arm("online", s=1),
            Arm("grpo", method="grpo", s=1), Arm(f"semi-{ablate}-refsync", s=ablate, ref_sync=True),
            Arm(f"semi-{ablate}-nll", s=ablate, nll_weight=nll_weight)]


# ---------------------------------------------------------------- measuring a model
@dataclass
class Measure:
    """How every arm (and the start) is measured on the held-out rows."""

    held_out: object  # Dataset
    verifier: object
    max_new_tokens: int
    k: int = 4  # samples per prompt for sampled pass@1
    batch_size: int = 64
    seed: int = 0

    def __call__(self, model, tokenizer, tag: str) -> dict:
        from rlkit.evaluation import evaluate
        from rlkit.stats import per_prompt

        greedy = evaluate(model, tokenizer, self.held_out, self.verifier, max_new_tokens=self.max_new_tokens,
                          batch_size=self.batch_size, desc=f"{tag}: greedy", progress=False)
        sampled = evaluate(model, tokenizer, self.held_out, self.verifier, max_new_tokens=self.max_new_tokens,
                           batch_size=max(1, self.batch_size // self.k), n_samples=self.k, temperature=1.0,
                           seed=self.seed, desc=f"{tag}: sampled", progress=False)
        return {"greedy": per_prompt(greedy.rewards), "pass1": per_prompt(sampled.rewards),
                "answers": [c[0] for c in greedy.completions[:3]]}


# ---------------------------------------------------------------- training one arm
def _grpo(policy, tokenizer, train, verifier, cfg, arm_dir: Path, *, k: int, prompts_per_step: int, callbacks):
    from transformers.trainer_callback import PrinterCallback

    from rlkit.training import grpo_trainer

    gcfg = dataclasses.replace(cfg, method="grpo", batch_size=k * prompts_per_step, num_generations=k, grad_accum=1,
                               output_dir=str(arm_dir))
    trainer = grpo_trainer(policy, tokenizer, train, [verifier], gcfg,
                           **{**online_dpo.p2_grpo_overrides(k, prompts_per_step), "save_strategy": "no",
                              "disable_tqdm": True, "logging_steps": 1})
    trainer.remove_callback(PrinterCallback)
    for cb in callbacks:
        trainer.add_callback(cb)
    trainer.train()
    return [row for row in trainer.state.log_history if "loss" in row], []


def _dpo(policy, tokenizer, train, verifier, cfg, arm_dir: Path, arm: Arm, *, k: int, prompts_per_step: int,
         ref_model, callbacks, gold_when_all_wrong: bool):
    run = online_dpo.train_semi_online(policy, tokenizer, train, verifier, cfg, s=arm.s, k=k,
                                       prompts_per_step=prompts_per_step, ref_sync=arm.ref_sync,
                                       nll_weight=arm.nll_weight, ref_model=ref_model, callbacks=callbacks,
                                       out_dir=str(arm_dir), gold_when_all_wrong=gold_when_all_wrong)
    return run.log, run.rounds


def run_arm(arm: Arm, cfg, *, train, verifier, measure: Measure, probe, probe_every: int, k: int,
            prompts_per_step: int, seed: int, start_probe: dict, gold_when_all_wrong: bool = False) -> dict:
    """Train ``arm`` from ``cfg.model`` (fresh adapters seeded by ``seed``), measure it, save it; or load it
    when ``<cfg.output_dir>/seed<seed>/<arm.name>`` holds this arm finished with the same settings.
    ``start_probe`` (the probe of the starting model) is the arm's record at step 0."""
    from rlkit.modeling import load_policy

    arm_dir = Path(cfg.output_dir) / f"seed{seed}" / arm.name
    settings = {key: value for key, value in dataclasses.asdict(arm).items() if key != "name"}
    signature = online_dpo.arm_signature(arm.name, cfg, **settings, k=k, seed_arm=seed,
                                         prompts_per_step=prompts_per_step, probe_every=probe_every,
                                         gold_when_all_wrong=gold_when_all_wrong)
    saved = online_dpo.load_arm(arm_dir, signature)
    if saved is not None:
        print(f"{arm.name}: finished earlier, loaded from {arm_dir} (delete it to train again)")
        return saved
    policy, tokenizer = load_policy(cfg.model, load_in_4bit=cfg.load_in_4bit, lora_r=cfg.lora_r,
                                    lora_alpha=cfg.lora_alpha, seed=seed)
    records: list[dict] = [{"step": 0, **start_probe}]
    callbacks = [online_dpo.probe_callback(probe, tokenizer, probe_every, records)]
    started = time.time()
    if arm.method == "grpo":
        log, rounds = _grpo(policy, tokenizer, train, verifier, cfg, arm_dir, k=k, prompts_per_step=prompts_per_step,
                            callbacks=callbacks)
    else:
        ref = online_dpo.frozen_copy(policy)  # the starting model: adapters are zero at initialisation
        log, rounds = _dpo(policy, tokenizer, train, verifier, cfg, arm_dir, arm, k=k,
                           prompts_per_step=prompts_per_step, ref_model=ref, callbacks=callbacks,
                           gold_when_all_wrong=gold_when_all_wrong)
    seconds = time.time() - started
    summary = {"arm": arm.name, "describe": arm.describe(), "s": arm.s, "method": arm.method, "seed": seed,
               "signature": signature, "train_seconds": seconds, "probes": records, "rounds": rounds,
               "log": [{key: row[key] for key in row if isinstance(row[key], (int, float))} for row in log],
               **measure(policy, tokenizer, arm.name)}
    online_dpo.save_arm(arm_dir, policy, summary)
    print(f"{arm.name}: trained {cfg.max_steps} steps in {seconds:.0f}s")
    return summary


# ---------------------------------------------------------------- the table
def arm_row(arm: Arm, starts: list[dict], finished: list[dict], seed: int = 0) -> dict:
    """One arm over its seeds: accuracy (greedy) and its gain over the start, with 95% intervals (paired
    bootstrap over prompts for one seed, t over seeds for several), pass@1, entropy first/last, length."""
    from rlkit.stats import bootstrap_mean, over_seeds, paired_bootstrap

    gains = [paired_bootstrap(st["greedy"], f["greedy"], seed=seed) for st, f in zip(starts, finished, strict=True)]
    pass1 = [paired_bootstrap(st["pass1"], f["pass1"], seed=seed) for st, f in zip(starts, finished, strict=True)]
    if len(finished) == 1:
        accuracy, acc_ci = bootstrap_mean(finished[0]["greedy"], seed=seed)
        gain, gain_ci = gains[0].delta, list(gains[0].ci95)
    else:
        acc, dg = over_seeds([g.after for g in gains]), over_seeds([g.delta for g in gains])
        accuracy, acc_ci, gain, gain_ci = acc["mean"], acc["ci95"], dg["mean"], dg["ci95"]
    mean = lambda values: sum(values) / len(values)
    first = [f["probes"][0] for f in finished if f["probes"]]
    last = [f["probes"][-1] for f in finished if f["probes"]]
    return {"arm": arm.name, "s": arm.s, "seeds": len(finished), "accuracy": accuracy, "ci95": list(acc_ci),
            "gain": gain, "gain_ci95": list(gain_ci), "gain_ci95_per_seed": [list(g.ci95) for g in gains],
            "pass@1": mean([p.after for p in pass1]), "pass@1_gain": mean([p.delta for p in pass1]),
            "entropy_first": mean([p["entropy"] for p in first]) if first else None,
            "entropy_last": mean([p["entropy"] for p in last]) if last else None,
            "mean_length": mean([p["length"] for p in last]) if last else None,
            "train_seconds": mean([f["train_seconds"] for f in finished])}


def table(rows: list[dict]):
    """The arms' rows as a DataFrame, rounded for reading."""
    import pandas as pd

    frame = pd.DataFrame(rows).set_index("arm")
    for col in ("ci95", "gain_ci95"):
        frame[col] = frame[col].map(lambda pair: None if pair is None else f"[{pair[0]:+.3f}, {pair[1]:+.3f}]")
    return frame.drop(columns=["gain_ci95_per_seed"]).round(3)


# ---------------------------------------------------------------- comparisons for the verdicts
def _last_probe(summary: dict, key: str) -> list[float]:
    return summary["probes"][-1][key]


def difference(a: list[dict], b: list[dict], key: str = "greedy", seed: int = 0) -> dict:
    """``a`` minus ``b`` (two arms, or an arm's last probe minus its first) on the same held-out prompts.

    ``a`` and ``b`` are per-seed summaries; ``key`` is a per-prompt score list in them ("greedy", "pass1"),
    or ``"probe:<name>"`` for a per-prompt list of the last probe (``entropy_per_prompt``...). One seed: the
    paired bootstrap over prompts; several: the mean of the per-seed differences with a t interval over seeds.
    """
    from rlkit.stats import over_seeds, paired_bootstrap

    read = (lambda s: _last_probe(s, key.split(":", 1)[1])) if key.startswith("probe:") else (lambda s: s[key])
    gains = [paired_bootstrap(read(y), read(x), seed=seed) for x, y in zip(a, b, strict=True)]
    if len(gains) == 1:
        return {"delta": gains[0].delta, "ci95": list(gains[0].ci95), "seeds": 1}
    spread = over_seeds([g.delta for g in gains])
    return {"delta": spread["mean"], "ci95": spread["ci95"], "seeds": len(gains)}


def probe_drop(runs: list[dict], key: str = "entropy_per_prompt", seed: int = 0) -> dict:
    """The first probe (step 0) minus the last of one arm, per prompt: how much rollout entropy fell."""
    firsts = [{"probes": [s["probes"][0]]} for s in runs]
    return difference(firsts, runs, key=f"probe:{key}", seed=seed)


def verdict(diff: dict, bigger: str, smaller: str, unit: str = "") -> str:
    """Say what an interval shows about "``bigger`` > ``smaller``", including when it shows nothing.

    >>> verdict({"delta": 0.05, "ci95": [0.01, 0.09], "seeds": 1}, "online", "offline")
    'online > offline: +0.050 [+0.010, +0.090] (1 seed): holds'
    """
    lo, hi = diff["ci95"] if diff["ci95"] is not None else (float("nan"), float("nan"))
    what = ("holds" if lo > 0 else "the opposite holds" if hi < 0 else
            "inside the noise (the interval includes 0): this run cannot tell")
    seeds = f"{diff['seeds']} seed" + ("s" if diff["seeds"] > 1 else "")
    return f"{bigger} > {smaller}: {diff['delta']:+.3f}{unit} [{lo:+.3f}, {hi:+.3f}] ({seeds}): {what}"
