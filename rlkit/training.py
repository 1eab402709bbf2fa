"""TRL trainers built from a :class:`~rlkit.config.RunConfig`, with checkpoints and automatic resume.

Every run writes checkpoints to ``<output_dir>/checkpoints`` every ``save_steps`` optimizer steps;
:func:`train` resumes from the newest one when it exists, so re-running an interrupted notebook
continues where it stopped instead of starting over.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

from rlkit.checks import check_pairs, check_reward_funcs, check_reward_tokenizer, is_reward_model
from rlkit.config import RunConfig
from rlkit.errors import RlkitError

# TRL 1.16 reads `model.is_gradient_checkpointing` before every generation, and PEFT's k-bit preparation calls
# `gradient_checkpointing_enable`: aliases that transformers 5.23 deprecates. Their FutureWarning repeated through
# every training cell and a learner can do nothing about it, so these two messages alone are silenced (the kit
# itself uses the new `activation_checkpointing` names).
warnings.filterwarnings("ignore", message=r"`(is_gradient_checkpointing|gradient_checkpointing_enable)` is deprecated",
                        category=FutureWarning)


def checkpoint_dir(cfg: RunConfig) -> Path:
    return Path(cfg.output_dir) / "checkpoints"


def last_checkpoint(cfg: RunConfig) -> str | None:
    """The newest ``checkpoint-N`` folder of this run, or None."""
    from transformers.trainer_utils import get_last_checkpoint

    folder = checkpoint_dir(cfg)
    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


def common_args(cfg: RunConfig) -> dict:
    """TrainingArguments shared by every method."""
    from rlkit.modeling import precision

    rule = precision()  # weights, 4-bit compute and these flags follow one rule
    on_gpu = rule.device == "cuda"
    return dict(
        output_dir=str(checkpoint_dir(cfg)),
        max_steps=cfg.max_steps,
        per_device_train_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type="constant_with_warmup" if cfg.method in ("grpo", "rloo") else "cosine",
        warmup_steps=max(1, cfg.max_steps // 20),
        logging_steps=max(1, min(10, cfg.max_steps // 20)),
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=2,
        report_to="none",
        seed=cfg.seed,
        **rule.trainer_flags,
        use_cpu=not on_gpu,
        dataloader_num_workers=0,
        # the gpu profile's policy training (config.DEFAULTS); transformers 5.23 renamed gradient_checkpointing
        activation_checkpointing=cfg.gradient_checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if cfg.gradient_checkpointing else None,
    )


def trainable_dtype_for_precision(trainer):
    """Undo TRL's bf16 cast of a quantized model's trainable weights where the precision rule is not bf16;
    returns ``trainer``.

    Every TRL trainer the kit builds (SFT, DPO, GRPO, RLOO, reward) casts the trainable weights of a 4-bit or
    8-bit model to bf16 in its ``__init__``, as the QLoRA paper trains its adapters. Under bf16 autocast that is
    QLoRA. Under fp16 autocast (a T4 or V100, :func:`rlkit.modeling.precision`) the fp16 gradient scaler cannot
    unscale bf16 gradients, and the first optimizer step fails with ``"_amp_foreach_non_finite_check_and_unscale_cuda"
    not implemented for 'BFloat16'`` (found on CUDA by scripts/gpu_check.sh's fp16 rehearsal); on a CPU the
    adapters would train in bf16 while everything else is fp32. There the adapters go back to fp32, as PEFT
    creates them. Parameters keep their identity (only ``.data`` changes), so an optimizer built before still
    holds them.
    """
    import torch

    from rlkit.modeling import precision

    if precision().dtype != torch.bfloat16:
        for param in trainer.model.parameters():
            if param.requires_grad and param.dtype == torch.bfloat16:
                param.data = param.data.float()
    return trainer


def sft_trainer(model, tokenizer, train_dataset, cfg: RunConfig, **overrides):
    """TRL's SFTTrainer on prompt/completion rows: the loss covers completion tokens only."""
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(**{**common_args(cfg), "max_length": cfg.max_prompt_length + cfg.max_completion_length,
                        "completion_only_loss": True, **overrides})
    keep = [c for c in ("prompt", "completion", "messages") if c in train_dataset.column_names]
    return trainable_dtype_for_precision(SFTTrainer(model=model, args=args, train_dataset=train_dataset.select_columns(keep),
                                                    processing_class=tokenizer))


SIGNATURE_KEYS = ("method", "model", "task", "seed", "lora_r", "lora_alpha", "load_in_4bit", "learning_rate",
                  "batch_size", "grad_accum", "num_generations", "beta", "temperature", "max_completion_length")


def model_fingerprint(model: str) -> str:
    """Identity of the weights behind ``model``: a hash of a folder's weight and config files, else the hub id.

    Content, not file times: re-saving the same weights (a notebook rerun that resumed a finished
    run) keeps the fingerprint, so later lessons can still resume their own checkpoints.
    """
    import hashlib

    from rlkit.modeling import resolve_model_path

    path = Path(resolve_model_path(model))
    if not path.is_dir():
        return model
    digest = hashlib.sha256()
    for f in sorted(f for f in path.iterdir() if f.suffix in (".safetensors", ".json") and f.is_file()):
        digest.update(f.name.encode())
        with f.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 24), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def run_signature(cfg: RunConfig) -> dict:
    """What must stay the same for a checkpoint to be resumed (MAX_STEPS may grow)."""
    return {**{k: getattr(cfg, k) for k in SIGNATURE_KEYS}, "model_fingerprint": model_fingerprint(cfg.model)}


def check_resumable(cfg: RunConfig) -> str | None:
    """The checkpoint to resume from, or None; refuses one made with other settings or another base model."""
    import json

    ckpt = last_checkpoint(cfg)
    sig_file = checkpoint_dir(cfg) / "run_signature.json"
    if ckpt is None:
        return None
    saved = json.loads(sig_file.read_text()) if sig_file.exists() else {}
    now = run_signature(cfg)
    changed = sorted(k for k in now if saved.get(k) != now[k])
    if changed:
        raise RlkitError(f"{checkpoint_dir(cfg)} holds checkpoints of a run with different {changed}. Resuming "
                         f"them would mix two experiments: delete that folder or choose another OUTPUT_DIR.")
    return ckpt


def _finished_steps(ckpt: str) -> int:
    """The optimizer steps a checkpoint's run had done."""
    import json

    state = Path(ckpt) / "trainer_state.json"
    return int(json.loads(state.read_text()).get("global_step", 0)) if state.exists() else 0


def train(trainer, cfg: RunConfig) -> float:
    """Train, resuming from this run's newest checkpoint when there is one. Returns seconds spent.

    A checkpoint that already holds all ``max_steps`` (the notebook run again after it finished) is loaded,
    weights and history, without training: transformers would otherwise run one step more past the end.
    """
    import json

    ckpt = check_resumable(cfg)
    if ckpt and _finished_steps(ckpt) >= cfg.max_steps:
        from transformers.trainer_callback import TrainerState

        print(f"{ckpt} holds this run finished ({cfg.max_steps} steps): its weights are loaded, nothing is "
              f"trained (delete {checkpoint_dir(cfg)} to train again)")
        trainer._load_from_checkpoint(ckpt)
        trainer.state = TrainerState.load_from_json(str(Path(ckpt) / "trainer_state.json"))
        return 0.0
    if ckpt:
        print(f"Resuming from {ckpt} (delete {checkpoint_dir(cfg)} to start over)")
    else:
        print(f"Starting a new run; checkpoints every {cfg.save_steps} steps in {checkpoint_dir(cfg)}")
        checkpoint_dir(cfg).mkdir(parents=True, exist_ok=True)
        (checkpoint_dir(cfg) / "run_signature.json").write_text(json.dumps(run_signature(cfg), indent=2))
    t0 = time.time()
    trainer.train(resume_from_checkpoint=ckpt)
    return time.time() - t0


# ---------------------------------------------------------------- GRPO
def _prompts_only(dataset):
    """RL trainers sample their own completions: drop the gold ``completion`` column (other columns feed rewards)."""
    return dataset.remove_columns([c for c in ("completion",) if c in dataset.column_names])


def _pairs_only(pairs):
    """The columns DPO and reward-model training read."""
    return pairs.select_columns([c for c in ("prompt", "chosen", "rejected") if c in pairs.column_names])


def grpo_trainer(model, tokenizer, train_dataset, reward_funcs, cfg: RunConfig, **overrides):
    """TRL's GRPOTrainer: ``cfg.batch_size`` completions per device step, ``cfg.num_generations`` per prompt."""
    from trl import GRPOConfig, GRPOTrainer

    check_reward_funcs(reward_funcs, train_dataset)
    args = GRPOConfig(**{
        **common_args(cfg), "num_generations": cfg.num_generations, "max_completion_length": cfg.max_completion_length,
        "temperature": cfg.temperature, "top_k": 0, "beta": cfg.beta, "loss_type": "dapo", "scale_rewards": "group",
        "log_completions": False, "disable_dropout": True, **overrides})
    return trainable_dtype_for_precision(GRPOTrainer(
        model=model, reward_funcs=list(reward_funcs), args=args, processing_class=tokenizer,
        train_dataset=_prompts_only(train_dataset)))


# ---------------------------------------------------------------- DPO
def dpo_losses(nll_weight: float) -> dict:
    """DPOConfig's loss terms: the sigmoid DPO loss, plus ``nll_weight`` x TRL's "sft" term when it is not 0."""
    if nll_weight:
        return {"loss_type": ["sigmoid", "sft"], "loss_weights": [1.0, nll_weight]}
    return {"loss_type": ["sigmoid"]}


def dpo_trainer(model, tokenizer, pairs, cfg: RunConfig, nll_weight: float = 0.0, **overrides):
    """TRL's DPOTrainer on conversational prompt/chosen/rejected rows; the reference is the LoRA-free base.

    ``nll_weight > 0`` adds that much of the chosen answers' negative log-likelihood (TRL's "sft" loss
    term, as in RPO), which keeps the chosen answers' probability from falling.
    """
    from trl import DPOConfig, DPOTrainer


    check_pairs(pairs)
    args = DPOConfig(**{**common_args(cfg), "beta": cfg.beta, **dpo_losses(nll_weight),
                        "max_length": cfg.max_prompt_length + cfg.max_completion_length, "disable_dropout": True,
                        **overrides})
    return trainable_dtype_for_precision(DPOTrainer(model=model, args=args, processing_class=tokenizer,
                                                    train_dataset=_pairs_only(pairs)))


# ---------------------------------------------------------------- reward model and RLOO
def reward_trainer(model, tokenizer, pairs, cfg: RunConfig, **overrides):
    """TRL's RewardTrainer (Bradley-Terry) on conversational preference pairs: a full fine-tune of fp32
    weights (rlkit.reward_model loads them so), autocast on a GPU by the precision rule (rlkit.modeling.precision)."""
    from trl import RewardConfig, RewardTrainer


    check_pairs(pairs, purpose="Reward-model training")
    check_reward_tokenizer(tokenizer)
    args = RewardConfig(**{**common_args(cfg), "max_length": cfg.max_prompt_length + cfg.max_completion_length,
                           "disable_dropout": True, "center_rewards_coefficient": 0.01,
                           **overrides})
    return trainable_dtype_for_precision(RewardTrainer(model=model, args=args, processing_class=tokenizer,
                                                       train_dataset=_pairs_only(pairs)))


def rloo_trainer(model, tokenizer, train_dataset, reward_funcs, cfg: RunConfig, reward_processing_classes=None,
                 **overrides):
    """TRL's RLOOTrainer. A reward *model* in ``reward_funcs`` comes with its own tokenizer in
    ``reward_processing_classes`` (None for plain reward functions)."""
    from trl import RLOOConfig, RLOOTrainer


    check_reward_funcs(reward_funcs, train_dataset)
    classes = list(reward_processing_classes or [None] * len(reward_funcs))
    for func, proc in zip(reward_funcs, classes, strict=True):
        if is_reward_model(func):
            if proc is None:
                raise RlkitError("A reward model needs its own tokenizer: pass reward_processing_classes=[rm_tokenizer] "
                                 "(the policy's tokenizer cannot encode text for another model).")
            check_reward_tokenizer(proc)
    args = RLOOConfig(**{
        **common_args(cfg), "num_generations": cfg.num_generations, "max_completion_length": cfg.max_completion_length,
        "temperature": cfg.temperature, "top_k": 0, "beta": cfg.beta, "log_completions": False,
        "disable_dropout": True, **overrides})
    return trainable_dtype_for_precision(RLOOTrainer(
        model=model, reward_funcs=list(reward_funcs), args=args, processing_class=tokenizer,
        reward_processing_classes=classes, train_dataset=_prompts_only(train_dataset)))
