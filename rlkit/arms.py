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
import json
import time
from dataclasses import dataclass
from pathlib import Path

from rlkit import online_dpo
from rlkit.config import name_list
from rlkit.errors import RlkitError


@dataclass(frozen=True)
class Arm:
    """One way to train: rounds of DPO with sync interval ``s`` (None = offline), or P2's GRPO."""

    name: str
    method: str = "dpo"  # "dpo" or "grpo"
    s: int | None = 1  # generator sync interval (DPO): 1 online, None offline; GRPO is on-policy (1)
    ref_sync: bool = False  # DPO: replace the reference by the policy at every generator sync
    nll_weight: float = 0.0  # DPO: weight of an NLL term on the chosen answers
    mix: tuple[tuple[str, str], ...] = ()  # DPO: (task, "verifier" | "reward model") pairs; () = the study's task

    def describe(self) -> str:
        if self.method == "grpo":
            return "GRPO, P2's variant (r - mean, no std, no length normalisation), on-policy"
        what = {1: "online DPO (s = 1)", None: "offline DPO (s = inf)"}.get(self.s, f"semi-online DPO (s = {self.s})")
        on = " on " + " + ".join(f"{task} ({judge})" for task, judge in self.mix) if self.mix else ""
        return what + on + (", reference synced" if self.ref_sync else "") + (
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


def mix_arms(s: int, task: str, other: str) -> list[Arm]:
    """P2's multi-task comparison at sync interval ``s``: ``task`` alone (judged by its verifier), ``other`` alone
    (judged by a reward model only: the policy never sees ``other``'s verifier), and both mixed in one run.

    >>> [a.name for a in mix_arms(5, "arithmetic", "code")]
    ['mix-arithmetic', 'mix-code', 'mix-both']
    >>> mix_arms(5, "arithmetic", "code")[2].describe()
    'semi-online DPO (s = 5) on arithmetic (verifier) + code (reward model)'
    """
    if other == task:
        raise RlkitError(f"MIX_TASK={other!r} is the study's own task: give a second family (e.g. 'code'), whose "
                         "answers a reward model judges, or MIX_TASK = None to skip the multi-task study.")
    s = online_dpo.check_sync_interval(s)
    if s is None:
        raise RlkitError("MIX_S='inf' would make the multi-task study offline: give a whole number of steps (e.g. 5).")
    verified, judged = (task, "verifier"), (other, "reward model")
    return [Arm(f"mix-{task}", s=s, mix=(verified,)), Arm(f"mix-{other}", s=s, mix=(judged,)),
            Arm("mix-both", s=s, mix=(verified, judged))]


def interleave(*parts):
    """One Dataset taking a row from each part in turn (``a0 b0 a1 b1 ...``), as long as the shortest part
    allows: with an even number of prompts per step every step then holds as many prompts of each task.
    Columns missing from a part (``test_list`` on arithmetic rows) are None there."""
    from datasets import Dataset

    n = min(len(part) for part in parts)
    columns = list(dict.fromkeys(name for part in parts for name in part.column_names))
    return Dataset.from_list([{name: part[i].get(name) for name in columns} for i in range(n) for part in parts])


def select(study: list[Arm], names: str | None) -> list[Arm]:
    """The arms named in a comma-separated ``names`` (None or "": all of them), in the study's order.

    >>> [a.name for a in select(p2_arms((5, 20), 5), "grpo, online")]
    ['online', 'grpo']
    """
    if not names:
        return list(study)
    wanted = name_list(names)
    unknown = [name for name in wanted if name not in {a.name for a in study}]
    if unknown:
        raise RlkitError(f"ARMS names unknown arm(s) {unknown}. The arms of this study are "
                         f"{[a.name for a in study]}: list some of them, comma-separated, or set ARMS = None for all.")
    return [a for a in study if a.name in wanted]


# ---------------------------------------------------------------- measuring a model
@dataclass
class Measure:
    """How every arm (and the start) is measured on the held-out rows."""

    held_out: object  # Dataset
    verifier: object
    max_new_tokens: int
    k: int = 4  # samples per prompt for sampled pass@1; 0: greedy accuracy only
    batch_size: int = 64
    seed: int = 0

    def __call__(self, model, tokenizer, tag: str) -> dict:
        from rlkit.evaluation import evaluate
        from rlkit.stats import per_prompt

        greedy = evaluate(model, tokenizer, self.held_out, self.verifier, max_new_tokens=self.max_new_tokens,
                          batch_size=self.batch_size, desc=f"{tag}: greedy", progress=False)
        if not self.k:
            return {"greedy": per_prompt(greedy.rewards), "answers": [c[0] for c in greedy.completions[:3]]}
        sampled = evaluate(model, tokenizer, self.held_out, self.verifier, max_new_tokens=self.max_new_tokens,
                           batch_size=max(1, self.batch_size // self.k), n_samples=self.k, temperature=1.0,
                           seed=self.seed, desc=f"{tag}: sampled", progress=False)
        return {"greedy": per_prompt(greedy.rewards), "pass1": per_prompt(sampled.rewards),
                "answers": [c[0] for c in greedy.completions[:3]]}


# ---------------------------------------------------------------- saving an arm, so a rerun resumes
def save_arm(out_dir: str | Path, policy, summary: dict) -> None:
    """Write the arm's adapter (or weights) and its summary; :func:`load_arm` reads them back."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    policy.save_pretrained(out / "model")
    (out / "arm.json").write_text(json.dumps(summary, indent=2, default=float))


def load_arm(out_dir: str | Path, signature: dict):
    """The saved summary of a finished arm with the same ``signature``, or None (train it)."""
    path = Path(out_dir) / "arm.json"
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    return saved if saved.get("signature") == signature else None


def arm_signature(name: str, cfg, **settings) -> dict:
    """What must match for a saved arm to be reused instead of trained again."""
    from rlkit.training import model_fingerprint

    keep = ("model", "task", "seed", "learning_rate", "max_steps", "beta", "temperature", "max_completion_length",
            "lora_r", "n_train")
    return json.loads(json.dumps({"arm": name, **{k: getattr(cfg, k) for k in keep},
                                  "model_fingerprint": model_fingerprint(cfg.model), **settings}, default=str))


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
         ref_model, callbacks, gold_when_all_wrong: bool, judges=None):
    run = online_dpo.train_semi_online(policy, tokenizer, train, verifier, cfg, s=arm.s, k=k,
                                       prompts_per_step=prompts_per_step, ref_sync=arm.ref_sync,
                                       nll_weight=arm.nll_weight, ref_model=ref_model, callbacks=callbacks,
                                       out_dir=str(arm_dir), gold_when_all_wrong=gold_when_all_wrong, judges=judges)
    return run.log, run.rounds


def run_arm(arm: Arm, cfg, *, train, verifier, measure: Measure, probe, probe_every: int, k: int,
            prompts_per_step: int, seed: int, start_probe: dict, gold_when_all_wrong: bool = False,
            judges: dict | None = None, also: dict[str, Measure] | None = None,
            signature_extra: dict | None = None) -> dict:
    """Train ``arm`` from ``cfg.model`` (fresh adapters seeded by ``seed``), measure it, save it; or load it
    when ``<cfg.output_dir>/seed<seed>/<arm.name>`` holds this arm finished with the same settings.
    ``start_probe`` (the probe of the starting model) is the arm's record at step 0. ``judges`` (task ->
    :class:`rlkit.online_dpo.Judge`) judges a DPO arm's rows of several tasks instead of ``verifier``; ``also``
    (task -> :class:`Measure`) measures the trained arm on more held-out sets, kept under ``summary["also"]``;
    ``signature_extra`` adds what else a saved arm must match (e.g. the reward model's settings)."""
    from rlkit.modeling import load_policy

    arm_dir = Path(cfg.output_dir) / f"seed{seed}" / arm.name
    settings = {key: value for key, value in dataclasses.asdict(arm).items() if key != "name"}
    signature = arm_signature(arm.name, cfg, **settings, k=k, seed_arm=seed,
                                         prompts_per_step=prompts_per_step, probe_every=probe_every,
                                         gold_when_all_wrong=gold_when_all_wrong, also=sorted(also or {}),
                                         n_train_rows=len(train), **(signature_extra or {}))
    saved = load_arm(arm_dir, signature)
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
                           gold_when_all_wrong=gold_when_all_wrong, judges=judges)
    seconds = time.time() - started
    summary = {"arm": arm.name, "describe": arm.describe(), "s": arm.s, "method": arm.method, "seed": seed,
               "signature": signature, "train_seconds": seconds, "probes": records, "rounds": rounds,
               "log": [{key: row[key] for key in row if isinstance(row[key], (int, float))} for row in log],
               **measure(policy, tokenizer, arm.name)}
    if also:
        summary["also"] = {task: m(policy, tokenizer, f"{arm.name} on {task}") for task, m in also.items()}
    save_arm(arm_dir, policy, summary)
    print(f"{arm.name}: trained {cfg.max_steps} steps in {seconds:.0f}s")
    return summary


# ---------------------------------------------------------------- the table
def _seed_mean(runs: list[dict], read) -> list[float]:
    """Each prompt's score averaged over the seeds' runs (the same held-out prompts in every seed)."""
    per_seed = [read(run) for run in runs]
    return [sum(scores) / len(scores) for scores in zip(*per_seed, strict=True)]


def arm_row(arm: Arm, starts: list[dict], finished: list[dict], seed: int = 0) -> dict:
    """One arm over its seeds: greedy accuracy and its gain over the start, pass@1, entropy first/last, length.

    Intervals: ``ci95`` and ``gain_ci95`` are paired bootstraps over the held-out prompts of the scores averaged
    over seeds; ``gain_per_seed`` gives each seed's own gain and interval, and ``gain_seed_ci95`` the t interval
    of the gain over seeds (None for one seed: no spread to measure).
    """
    from rlkit.stats import bootstrap_mean, over_seeds, paired_bootstrap

    gain = paired_bootstrap(_seed_mean(starts, lambda r: r["greedy"]), _seed_mean(finished, lambda r: r["greedy"]),
                            seed=seed)
    pass1 = paired_bootstrap(_seed_mean(starts, lambda r: r["pass1"]), _seed_mean(finished, lambda r: r["pass1"]),
                             seed=seed)
    per_seed = [paired_bootstrap(st["greedy"], f["greedy"], seed=seed) for st, f in zip(starts, finished, strict=True)]
    _, acc_ci = bootstrap_mean(_seed_mean(finished, lambda r: r["greedy"]), seed=seed)

    def mean(values):
        return sum(values) / len(values) if values else None

    first = [f["probes"][0] for f in finished if f["probes"]]
    last = [f["probes"][-1] for f in finished if f["probes"]]
    return {"arm": arm.name, "s": arm.s, "seeds": len(finished), "accuracy": gain.after, "ci95": list(acc_ci),
            "gain": gain.delta, "gain_ci95": list(gain.ci95),
            "gain_seed_ci95": over_seeds([g.delta for g in per_seed])["ci95"],
            "gain_per_seed": [[g.delta, *g.ci95] for g in per_seed], "pass@1": pass1.after, "pass@1_gain": pass1.delta,
            "entropy_first": mean([p["entropy"] for p in first]), "entropy_last": mean([p["entropy"] for p in last]),
            "mean_length": mean([p["length"] for p in last]),
            "train_seconds": mean([f["train_seconds"] for f in finished])}


def mix_rows(study: list[Arm], task: str, starts: dict[str, list[dict]], finished: dict[str, list[dict]],
             seed: int = 0) -> list[dict]:
    """P2's multi-task comparison: one row per arm and evaluated task, greedy accuracy by that task's verifier.

    ``task`` is the study's own task (its scores are the summaries' ``greedy``); every other task in ``starts``
    is read from ``summary["also"]``. ``starts[t]`` holds the start's measurement on task ``t`` per seed. The
    gain is a paired bootstrap over that task's held-out prompts (scores averaged over seeds), per seed too.
    """
    from rlkit.stats import paired_bootstrap

    rows = []
    for arm in study:
        trained = dict(arm.mix)
        for evaluated, start in starts.items():
            read = _reader("greedy" if evaluated == task else f"also:{evaluated}")
            gain = paired_bootstrap(_seed_mean(start, lambda r: r["greedy"]), _seed_mean(finished[arm.name], read),
                                    seed=seed)
            per_seed = [paired_bootstrap(st["greedy"], read(f), seed=seed).delta
                        for st, f in zip(start, finished[arm.name], strict=True)]
            rows.append({"arm": arm.name, "evaluated on": evaluated,
                         "trained on it with": trained.get(evaluated, "(not trained on it)"),
                         "before": gain.before, "after": gain.after, "gain": gain.delta, "gain_ci95": list(gain.ci95),
                         "gain_per_seed": per_seed, "n": gain.n, "seeds": len(per_seed)})
    return rows


def mix_table(rows: list[dict]):
    """:func:`mix_rows` as a DataFrame for reading: one line per arm and evaluated task."""
    import pandas as pd

    frame = pd.DataFrame(rows).set_index(["arm", "evaluated on"])
    frame["gain_ci95"] = frame["gain_ci95"].map(lambda pair: f"[{pair[0]:+.3f}, {pair[1]:+.3f}]")
    frame["gain_per_seed"] = frame["gain_per_seed"].map(lambda gains: " ".join(f"{g:+.3f}" for g in gains))
    return frame.round(3)


def table(rows: list[dict]):
    """The arms' rows as a DataFrame, rounded for reading."""
    import pandas as pd

    frame = pd.DataFrame(rows).set_index("arm")
    for col in ("ci95", "gain_ci95", "gain_seed_ci95"):
        frame[col] = frame[col].map(lambda pair: None if pair is None else f"[{pair[0]:+.3f}, {pair[1]:+.3f}]")
    frame["gain_per_seed"] = frame["gain_per_seed"].map(lambda gains: " ".join(f"{g[0]:+.3f}" for g in gains))
    return frame.round(3)


# ---------------------------------------------------------------- comparisons for the verdicts
def _last_probe(summary: dict, key: str) -> list[float]:
    return summary["probes"][-1][key]


def _reader(key: str):
    """How :func:`difference` reads a per-prompt list out of an arm's summary (see there)."""
    if key.startswith("probe:"):
        return lambda s: _last_probe(s, key.split(":", 1)[1])
    if key.startswith("also:"):
        return lambda s: s["also"][key.split(":", 1)[1]]["greedy"]
    return lambda s: s[key]


def difference(a: list[dict], b: list[dict], key: str = "greedy", seed: int = 0) -> dict:
    """``a`` minus ``b`` (two arms, or an arm's last probe minus its first) on the same held-out prompts.

    ``a`` and ``b`` are per-seed summaries; ``key`` is a per-prompt score list in them ("greedy", "pass1"),
    ``"probe:<name>"`` for a per-prompt list of the last probe (``entropy_per_prompt``...), or ``"also:<task>"``
    for the greedy scores on another task's held-out prompts (``run_arm(also=...)``). The interval is
    the paired bootstrap over prompts of the scores averaged over seeds; ``per_seed`` gives each seed's own
    difference, so a reader sees whether the seeds agree.
    """
    from rlkit.stats import paired_bootstrap

    read = _reader(key)
    pooled = paired_bootstrap(_seed_mean(b, read), _seed_mean(a, read), seed=seed)
    per_seed = [paired_bootstrap(read(y), read(x), seed=seed).delta for x, y in zip(a, b, strict=True)]
    return {"delta": pooled.delta, "ci95": list(pooled.ci95), "seeds": len(a), "per_seed": per_seed}


def probe_drop(runs: list[dict], key: str = "entropy_per_prompt", seed: int = 0) -> dict:
    """The first probe (step 0) minus the last of one arm, per prompt: how much rollout entropy fell."""
    firsts = [{"probes": [s["probes"][0]]} for s in runs]
    return difference(firsts, runs, key=f"probe:{key}", seed=seed)


def verdict(diff: dict, bigger: str, smaller: str, unit: str = "") -> str:
    """Say what an interval shows about "``bigger`` > ``smaller``", including when it shows nothing.

    With several seeds, "holds" also needs every seed's difference on the same side; the per-seed values are
    listed.

    >>> verdict({"delta": 0.05, "ci95": [0.01, 0.09], "seeds": 1}, "online", "offline")
    'online > offline: +0.050 [+0.010, +0.090] (1 seed): holds'
    >>> verdict({"delta": 0.05, "ci95": [0.01, 0.09], "seeds": 2, "per_seed": [0.11, -0.01]}, "a", "b")
    'a > b: +0.050 [+0.010, +0.090] (2 seeds: +0.110, -0.010): the seeds disagree: this run cannot tell'
    """
    lo, hi = diff["ci95"]
    seeds = diff.get("per_seed") or []
    if lo > 0 and all(d > 0 for d in seeds):
        what = "holds"
    elif hi < 0 and all(d < 0 for d in seeds):
        what = "the opposite holds"
    elif lo > 0 or hi < 0:
        what = "the seeds disagree: this run cannot tell"
    else:
        what = "inside the noise (the interval includes 0): this run cannot tell"
    label = f"{diff['seeds']} seed" if diff["seeds"] == 1 else f"{diff['seeds']} seeds: " + ", ".join(
        f"{d:+.3f}" for d in seeds)
    return f"{bigger} > {smaller}: {diff['delta']:+.3f}{unit} [{lo:+.3f}, {hi:+.3f}] ({label}): {what}"
