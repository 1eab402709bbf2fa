"""Every training notebook's run as a script, for ``accelerate launch`` on more than one GPU (or CPU process).

    python -m rlkit.train grpo --profile smoke max_steps=2
    accelerate launch --config_file configs/accelerate/ddp.yaml -m rlkit.train grpo --profile gpu
    accelerate launch --config_file configs/accelerate/cpu2.yaml -m rlkit.train grpo --profile smoke max_steps=2

The methods are the notebooks' runs, built from the same functions and profile defaults (``rlkit.config``):
``sft`` (01), ``dpo`` (02: verifier pairs sampled from the policy offline, UltraFeedback on gpu), ``grpo`` (03),
``reward`` and ``rloo`` (04: train the reward model on preference pairs, then RLOO against it with
``--reward-model``). ``sft`` also saves the merged model in ``<output_dir>/model``, where ``--sft-dir`` finds it. Any
setting of :class:`~rlkit.config.RunConfig` is a ``key=value`` argument. The teaching, the evaluation and the
before/after intervals stay in the notebooks: a script run trains, checkpoints, resumes, and saves.

Under more than one process each rank loads its own copy of the model on its own device, TRL's trainers
shard the prompts across ranks and average the gradients, so every rank ends with the same weights. Each
rank writes ``<output_dir>/ranks/rank<N>.json``: the prompts its reward functions scored and a hash of its
trainable weights, which is how ``tests/test_train_script.py`` checks both. The model is saved by rank 0 in
``<output_dir>/final``.
"""

from __future__ import annotations

import argparse
import ast
import functools
import hashlib
import json
import os
import sys
from pathlib import Path

from rlkit import config
from rlkit.errors import RlkitError

METHODS = ("sft", "dpo", "grpo", "reward", "rloo")
NOTEBOOK = {"sft": "01_sft", "dpo": "02_dpo", "grpo": "03_grpo", "reward": "04_rloo", "rloo": "04_rloo"}


def parse_settings(pairs: list[str]) -> dict:
    """``["max_steps=2", "task=countdown", "levels=(2, 3)"]`` -> settings; values are Python literals or strings.

    >>> parse_settings(["max_steps=2", "task=countdown", "load_in_4bit=False"])
    {'max_steps': 2, 'task': 'countdown', 'load_in_4bit': False}
    """
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RlkitError(f"Setting {pair!r} is not key=value (for example max_steps=100).")
        try:
            settings[key.strip()] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            settings[key.strip()] = value
    return settings


def weights_digest(model) -> str:
    """A hash of the trainable weights (the LoRA adapters), in a fixed order."""
    digest = hashlib.sha256()
    for name, param in sorted(model.named_parameters()):
        if param.requires_grad:
            digest.update(name.encode())
            digest.update(param.detach().float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


class PromptLog:
    """Wraps one reward function so each rank records the prompts (by their last message) it scored."""

    def __init__(self):
        self.seen: list[str] = []

    def wrap(self, func):
        from rlkit.checks import is_reward_model

        if not callable(func) or is_reward_model(func):  # a reward model: TRL calls it differently
            return func

        @functools.wraps(func)
        def recorded(*args, prompts=None, **kwargs):
            for prompt in prompts or []:
                text = prompt[-1]["content"] if isinstance(prompt, list) else str(prompt)
                if not self.seen or self.seen[-1] != text:  # one entry per group of completions
                    self.seen.append(text)
            return func(*args, prompts=prompts, **kwargs)

        return recorded


def _start_model(cfg, sft_dir: str, processes: int = 1) -> None:
    """Offline RL starts from 01's SFT model, as the notebooks do (built there when missing).

    Under several processes the first one to get here builds it in a child process of its own, outside the
    process group: a trainer built inside one rank joins the other ranks' barriers and collectives, which let
    the waiting ranks start building too and then left both waiting forever (found by ``scripts/gpu_check.sh``'s
    dry run; ``tests/test_train_script.py`` checks the fix)."""
    if cfg.profile != "gpu" and cfg.model == config.OFFLINE_MODEL and cfg.method != "sft":
        from rlkit import sft

        if processes > 1 and not (sft.sft_model_dir(sft_dir, cfg.profile) / "config.json").exists():
            _build_outside_the_process_group(sft_dir, cfg.profile)
        cfg.model = sft.ensure_sft_model(sft_dir, cfg.profile, seed=0)


# set by torchrun / accelerate launch for each rank; a child process without them is a plain single process
_LAUNCH_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "GROUP_WORLD_SIZE",
                     "ROLE_RANK", "ROLE_NAME", "ROLE_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def _build_outside_the_process_group(sft_dir: str, profile: str) -> None:
    import subprocess

    env = {k: v for k, v in os.environ.items()
           if k not in _LAUNCH_VARIABLES and not k.startswith(("TORCHELASTIC_", "ACCELERATE_"))}
    code = "import sys; from rlkit.sft import ensure_sft_model; ensure_sft_model(sys.argv[1], sys.argv[2], seed=0)"
    done = subprocess.run([sys.executable, "-c", code, sft_dir, profile], env=env, check=False)
    if done.returncode != 0:
        raise RlkitError(f"Building 01_sft's model in {sft_dir!r} failed (exit status {done.returncode}; its output "
                         "is above). Build it once in one process, `python -m rlkit.train sft --profile "
                         f"{profile} --output-dir {sft_dir}`, then launch again.")


def _policy(cfg):
    from rlkit import modeling

    return modeling.load_policy(cfg.model, load_in_4bit=cfg.load_in_4bit, lora_r=cfg.lora_r,
                                lora_alpha=cfg.lora_alpha, seed=cfg.seed)


def _verifier_rewards(cfg):
    from rlkit import data, rewards

    return [rewards.get_reward(data.get_task(cfg.task).reward), rewards.format_reward], [1.0, 0.1]


def build_trainer(cfg, args, log: PromptLog):
    """``(trainer, model)`` for one method, from the functions the notebooks call."""
    from rlkit import data, dpo, reward_model, rewards, sft, training
    from rlkit.hub import load_splits

    if cfg.method == "sft":
        rows, policy, tokenizer = sft.start(cfg)
        return training.sft_trainer(policy, tokenizer, rows, cfg), policy
    if cfg.method == "grpo":
        train_rows, _ = load_splits(cfg.task, cfg.n_train, 0, cfg.seed, cfg.levels)
        funcs, weights = _verifier_rewards(cfg)
        policy, tokenizer = _policy(cfg)
        trainer = training.grpo_trainer(policy, tokenizer, train_rows, [log.wrap(funcs[0]), *funcs[1:]], cfg,
                                        reward_weights=weights, loss_type=args.loss_type,
                                        scale_rewards=args.scale_rewards)
        return trainer, policy
    if cfg.method == "dpo":
        policy, tokenizer = _policy(cfg)
        rows, _ = load_splits(cfg.task, cfg.n_train, 0, cfg.seed)
        if "chosen" in rows.column_names:  # preference data: UltraFeedback on gpu, the kit's instruct_pairs offline
            pairs = rows
        else:  # P2's rule on the policy's own samples; every rank samples the same pairs (same seed, same model)
            from datasets import Dataset

            verifier = rewards.get_reward(data.get_task(cfg.task).reward)
            pairs = dpo.sample_verifier_pairs(policy, tokenizer, rows, verifier, n_samples=args.n_samples,
                                              max_new_tokens=cfg.max_completion_length,
                                              batch_size=cfg.eval_batch_size, seed=cfg.seed)
            if args.instruct_fraction > 0:  # as 02_dpo: the kit's instruction pairs mixed in
                n = max(cfg.batch_size, round(len(pairs) * args.instruct_fraction / (1 - args.instruct_fraction)))
                pairs += data.generate_rows("instruct_pairs", n, cfg.seed, held_out=False)
            keep = ("prompt", "chosen", "rejected")
            pairs = Dataset.from_list([{k: p[k] for k in keep} for p in pairs]).shuffle(seed=cfg.seed)
        return training.dpo_trainer(policy, tokenizer, pairs, cfg, nll_weight=args.nll_weight), policy
    if cfg.method == "reward":
        pairs, _ = load_splits(cfg.task, cfg.n_train, 0, cfg.seed)
        if "chosen" not in pairs.column_names:
            raise RlkitError(f"The reward script trains on preference pairs (task='ultrafeedback' on gpu, "
                             f"'instruct_pairs' offline); {cfg.task!r} has none: 04_rloo labels pairs sampled "
                             f"from the policy with the verifier, step by step.")
        rm, rm_tokenizer = reward_model.load_reward_model(cfg.model)
        return training.reward_trainer(rm, rm_tokenizer, pairs, cfg), rm
    if cfg.method == "rloo":
        if not args.reward_model:
            raise RlkitError("rloo needs --reward-model FOLDER: a reward model trained by `python -m rlkit.train "
                             "reward` (its <output_dir>/final), or a checkpoint of 04_rloo's "
                             "(outputs/<profile>/04_rloo/reward_model/checkpoints/checkpoint-N).")
        rm, rm_tokenizer = reward_model.load_reward_model(args.reward_model)
        train_rows, _ = load_splits(cfg.task, cfg.n_train, 0, cfg.seed)
        funcs, classes, weights = [rm, log.wrap(rewards.format_reward)], [rm_tokenizer, None], [1.0, 0.5]
        if data.get_task(cfg.task).reward != "none":
            funcs, classes, weights = funcs + [_verifier_rewards(cfg)[0][0]], classes + [None], weights + [2.0]
        policy, tokenizer = _policy(cfg)
        trainer = training.rloo_trainer(policy, tokenizer, train_rows, funcs, cfg, reward_processing_classes=classes,
                                        reward_weights=weights)
        return trainer, policy
    raise RlkitError(f"Unknown method {cfg.method!r}; use one of {METHODS}.")


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python -m rlkit.train", description=__doc__.split("\n\n")[0])
    parser.add_argument("method", choices=METHODS)
    parser.add_argument("settings", nargs="*", help="key=value settings of rlkit.config.RunConfig (max_steps=100)")
    parser.add_argument("--profile", default="auto", help="smoke | cpu | gpu | auto (as the notebooks' PROFILE)")
    parser.add_argument("--output-dir", default=None, help="default outputs/{profile}/train_<method>")
    parser.add_argument("--sft-dir", default="outputs/{profile}/01_sft", help="offline: 01_sft's folder (RL start)")
    parser.add_argument("--reward-model", default=None, help="rloo: the trained reward model's folder")
    parser.add_argument("--loss-type", default="dapo", help="grpo: grpo | bnpo | dr_grpo | dapo")
    parser.add_argument("--scale-rewards", default="group", help="grpo: group | batch | none")
    parser.add_argument("--nll-weight", type=float, default=1.0, help="dpo: weight of the NLL term (02_dpo)")
    parser.add_argument("--n-samples", type=int, default=8, help="dpo offline: samples per prompt for the pairs")
    parser.add_argument("--instruct-fraction", type=float, default=0.2,
                        help="dpo offline: share of the kit's instruction pairs mixed in (02_dpo)")
    args = parser.parse_intermixed_args(argv)  # settings may come before or after the options

    import torch
    from accelerate import PartialState

    from rlkit import runtime, training

    # Before any model is loaded: each rank finds its own device. Without CUDA, accelerate joins the
    # processes (over gloo) only when told it runs on CPU.
    state = PartialState(cpu=not torch.cuda.is_available())
    settings = parse_settings(args.settings)
    cfg_method = "reward" if args.method == "reward" else args.method
    cfg = config.make_config(cfg_method, args.profile, output_dir=args.output_dir or f"outputs/{{profile}}/train_{args.method}",
                             **settings)
    with state.main_process_first():  # rank 0 builds what is missing (tiny model, 01's model); the others then load it
        _start_model(cfg, args.sft_dir, state.num_processes)
        if cfg.method != "reward":
            from rlkit.modeling import resolve_model_path

            resolve_model_path(cfg.model)
    if state.is_main_process:
        runtime.setup(cfg)
    else:
        runtime.seed_everything(cfg.seed)
    log = PromptLog()
    trainer, model = build_trainer(cfg, args, log)
    initial = weights_digest(model)
    training.train(trainer, cfg)
    ranks = Path(cfg.output_dir) / "ranks"
    ranks.mkdir(parents=True, exist_ok=True)
    (ranks / f"rank{state.process_index}.json").write_text(json.dumps({
        "rank": state.process_index, "world_size": state.num_processes, "steps": trainer.state.global_step,
        "initial_weights": initial, "weights": weights_digest(model), "prompts": log.seen}, indent=1))
    final = Path(cfg.output_dir) / "final"
    trainer.save_model(str(final))  # rank 0 writes; under ZeRO-3/FSDP the trainer gathers the shards first
    if args.method == "sft" and state.is_main_process:  # as 01_sft: the merged model that 02-04 start from
        from rlkit.modeling import save_merged

        save_merged(model, trainer.processing_class, Path(cfg.output_dir) / "model")
    if state.is_main_process:
        print(f"rlkit.train {args.method} ({NOTEBOOK[args.method]}'s run): {trainer.state.global_step} steps on "
              f"{state.num_processes} process(es); saved to {final}")
    state.wait_for_everyone()
    return final


if __name__ == "__main__":
    try:
        main()
    except RlkitError as err:
        print(f"rlkit.train: {err}", file=sys.stderr)
        sys.exit(2)
    finally:
        if os.environ.get("WORLD_SIZE") and "torch.distributed" in sys.modules:
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                dist.destroy_process_group()
