"""GRPO throughput: the kit's trainer (rlkit.training.grpo_trainer) against TRL's GRPOTrainer built by hand
with the same settings, as a ratio measured in one run.

Each repeat trains a fresh LoRA policy for ``--steps`` optimizer steps with the kit and with plain TRL
(alternating, and which goes first alternates too, so drift and warm-up hit both alike); the medians of steps/s and completion
tokens/s are reported with the ratio kit / plain (1.0: the kit adds nothing), and the peak memory.
Prints one markdown row per trainer, naming the machine.

    python benchmarks/grpo_throughput.py                  # the offline tiny model on CPU, about a minute
    python benchmarks/grpo_throughput.py --profile gpu --steps 5 --generations 8 --tokens 512
    python benchmarks/grpo_throughput.py --profile gpu --weights 16bit --vllm   # bf16/fp16 weights, vLLM colocate
    python benchmarks/grpo_throughput.py --control   # A/A: plain TRL on both sides, the ratio's noise floor

On a GPU the row also says whether the peak memory fits a 16 GB T4 (``--budget-gb``). With ``--profile gpu`` and
no network, point ``RLKIT_HUB_MIRROR`` at a mirror (``rlkit.rehearsal.build_mirror`` writes one with random
weights of the real shapes: throughput and memory are the real model's, what it learns is not).
"""

from __future__ import annotations

import argparse
import gc
import shutil
import tempfile
import time
from statistics import median

from _common import machine, peak_memory_gb, reset_peak, row


def _vllm(on: bool) -> dict:
    """GRPOConfig settings for vLLM generation inside the training process (colocate), or none."""
    return dict(use_vllm=True, vllm_mode="colocate", vllm_gpu_memory_utilization=0.3) if on else {}


def plain_trl_trainer(policy, tokenizer, prompts, reward_funcs, reward_weights, cfg, output_dir, **extra):
    """TRL's GRPOTrainer as a user would build it from TRL's documentation, with the kit's settings."""
    from trl import GRPOConfig, GRPOTrainer

    from rlkit import training
    from rlkit.modeling import precision

    # as the profile says (on in the gpu profile); transformers 5.23 renamed TRL's gradient_checkpointing
    rule, on = precision(), cfg.gradient_checkpointing
    checkpointing = {"activation_checkpointing": on,
                     "activation_checkpointing_kwargs": {"use_reentrant": False} if on else None}
    args = GRPOConfig(
        output_dir=output_dir, max_steps=cfg.max_steps, per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum, learning_rate=cfg.learning_rate,
        lr_scheduler_type="constant_with_warmup", warmup_steps=max(1, cfg.max_steps // 20), logging_steps=1,
        save_strategy="no", report_to="none", seed=cfg.seed, num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length, temperature=cfg.temperature, top_k=0, beta=cfg.beta,
        loss_type="dapo", scale_rewards="group", disable_dropout=True, reward_weights=reward_weights,
        use_cpu=rule.device != "cuda", **rule.trainer_flags, **checkpointing, **extra)
    # GRPOConfig's own defaults are bf16=True and gradient checkpointing on: left in, the "plain" side would run
    # bf16 autocast on a CPU (faster wherever the CPU has bf16 instructions) and skip nothing the kit skips.
    trainer = GRPOTrainer(model=policy, reward_funcs=reward_funcs, args=args, processing_class=tokenizer,
                          train_dataset=prompts.remove_columns(["completion"]))
    # The one kit fix the plain side needs too: TRL casts 4-bit models' adapters to bf16, which fp16 (a T4) cannot
    # train (rlkit.training.trainable_dtype_for_precision); it changes nothing where the GPU has bf16.
    return training.trainable_dtype_for_precision(trainer)


def make_trainer(side: str, cfg, prompts, reward_funcs, reward_weights, output_dir: str, vllm: bool = False):
    """A fresh LoRA policy and one side's GRPO trainer for it: ``"kit"`` (rlkit.training) or ``"plain TRL"``."""
    from rlkit import modeling, training

    policy, tokenizer = modeling.load_policy(cfg.model, load_in_4bit=cfg.load_in_4bit, lora_r=cfg.lora_r,
                                             lora_alpha=cfg.lora_alpha, seed=cfg.seed)
    if side == "kit":
        return training.grpo_trainer(policy, tokenizer, prompts, reward_funcs, cfg, reward_weights=reward_weights,
                                     output_dir=output_dir, save_strategy="no", logging_steps=1, **_vllm(vllm))
    return plain_trl_trainer(policy, tokenizer, prompts, reward_funcs, reward_weights, cfg, output_dir, **_vllm(vllm))


def release() -> None:
    """Free what a finished run held: a trainer sits in reference cycles (its callbacks, its accelerator), so
    dropping the name alone leaves its model, optimizer and cached CUDA blocks alive until the collector runs."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def timed(trainer) -> tuple[float, float]:
    """``(seconds, completion tokens)`` of one training run (TRL logs the mean completion length per step)."""
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    per_step = trainer.args.per_device_train_batch_size * trainer.args.gradient_accumulation_steps
    lengths = [log["completions/mean_length"] for log in trainer.state.log_history if "completions/mean_length" in log]
    return seconds, sum(lengths) * per_step


def main() -> None:
    from rlkit import config, modeling, rewards
    from rlkit.data import get_task
    from rlkit.hub import load_splits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu", choices=["cpu", "gpu"])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16, help="completions per step")
    parser.add_argument("--generations", type=int, default=4, help="completions per prompt")
    parser.add_argument("--tokens", type=int, default=64, help="max completion tokens")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weights", default="profile", choices=["profile", "nf4", "16bit"],
                        help="frozen weights: the profile's choice, NF4, or the precision rule's 16/32-bit dtype")
    parser.add_argument("--vllm", action="store_true", help="generate with vLLM colocate (16-bit weights only)")
    parser.add_argument("--control", action="store_true",
                        help="an A/A run: both sides plain TRL, to see how far apart two identical trainers measure")
    parser.add_argument("--budget-gb", type=float, default=16.0, help="memory budget to compare the peak with (T4)")
    args = parser.parse_args()

    scratch = tempfile.mkdtemp(prefix="rlkit-bench-")
    cfg = config.make_config("grpo", args.profile, output_dir=scratch, max_steps=args.steps,
                             batch_size=args.batch_size, num_generations=args.generations,
                             max_completion_length=args.tokens, save_steps=10**6,
                             load_in_4bit={"profile": None, "nf4": True, "16bit": False}[args.weights])
    if args.vllm and cfg.load_in_4bit:
        raise SystemExit("--vllm needs 16-bit weights: add --weights 16bit (03_grpo, section 8, says why)")
    prompts = load_splits(cfg.task, args.steps * args.batch_size // args.generations + 8, 0, seed=0)[0]
    reward_funcs, weights = [rewards.get_reward(get_task(cfg.task).reward), rewards.format_reward], [1.0, 0.1]
    print(f"machine: {machine()} | model: {cfg.model} | {args.steps} steps x {args.batch_size} completions "
          f"({args.generations} per prompt), {args.tokens} tokens at most, 4-bit: {cfg.load_in_4bit}\n")
    results = {"kit": [], "plain TRL": []}
    for repeat in range(args.repeats):
        order = list(results) if repeat % 2 == 0 else list(results)[::-1]  # who goes first alternates too
        for name in order:
            runs = results[name]
            out = f"{scratch}/{name.replace(' ', '_')}_{repeat}"
            trainer = make_trainer("plain TRL" if args.control else name, cfg, prompts, reward_funcs, weights, out,
                                   vllm=args.vllm)
            reset_peak()
            seconds, tokens = timed(trainer)
            runs.append((args.steps / seconds, tokens / seconds, peak_memory_gb()))
            del trainer
            release()  # else the next side's peak would hold this side's model and optimizer too
    shutil.rmtree(scratch, ignore_errors=True)
    steps = {name: median([r[0] for r in runs]) for name, runs in results.items()}
    setting = (f"{'NF4' if cfg.load_in_4bit else str(modeling.precision().dtype).split('.')[-1]} weights, "
               f"{'vLLM colocate' if args.vllm else 'HF generate'}, G={args.generations}, {args.tokens} tokens")
    print(row(["trainer", "setting", "steps/s", "completion tokens/s", "peak memory GB",
               f"fits {args.budget_gb:g} GB", "steps/s, kit / plain TRL", "machine"]))
    print(row(["---"] * 8))
    for name, runs in results.items():
        peak = max(r[2] for r in runs)
        label = "plain TRL (control, in the kit's place)" if name == "kit" and args.control else name
        print(row([label, setting, f"{steps[name]:.3f}", f"{median([r[1] for r in runs]):.0f}", f"{peak:.2f}",
                   "yes" if peak <= args.budget_gb else "no",
                   f"{steps['kit'] / steps['plain TRL']:.2f}" if name == "kit" else "", machine()]))

if __name__ == "__main__":
    main()
