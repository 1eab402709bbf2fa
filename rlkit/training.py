"""TRL trainers built from a :class:`~rlkit.config.RunConfig`, with checkpoints and automatic resume.

Every run writes checkpoints to ``<output_dir>/checkpoints`` every ``save_steps`` optimizer steps;
:func:`train` resumes from the newest one when it exists, so re-running an interrupted notebook
continues where it stopped instead of starting over.
"""

from __future__ import annotations

import time
from pathlib import Path

from rlkit.config import RunConfig


def checkpoint_dir(cfg: RunConfig) -> Path:
    return Path(cfg.output_dir) / "checkpoints"


def last_checkpoint(cfg: RunConfig) -> str | None:
    """The newest ``checkpoint-N`` folder of this run, or None."""
    from transformers.trainer_utils import get_last_checkpoint

    folder = checkpoint_dir(cfg)
    return get_last_checkpoint(str(folder)) if folder.is_dir() else None


def common_args(cfg: RunConfig) -> dict:
    """TrainingArguments shared by every method."""
    import torch

    on_gpu = torch.cuda.is_available()
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
        bf16=on_gpu and cfg.bf16,
        fp16=on_gpu and not cfg.bf16,
        use_cpu=not on_gpu,
        dataloader_num_workers=0,
        gradient_checkpointing=False,  # set when the model is loaded (rlkit.modeling.add_lora)
    )


def sft_trainer(model, tokenizer, train_dataset, cfg: RunConfig, **overrides):
    """TRL's SFTTrainer on prompt/completion rows: the loss covers completion tokens only."""
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(**{**common_args(cfg), "max_length": cfg.max_prompt_length + cfg.max_completion_length,
                        "completion_only_loss": True, **overrides})
    keep = [c for c in ("prompt", "completion", "messages") if c in train_dataset.column_names]
    return SFTTrainer(model=model, args=args, train_dataset=train_dataset.select_columns(keep),
                      processing_class=tokenizer)


def train(trainer, cfg: RunConfig):
    """Train, resuming from this run's newest checkpoint when there is one. Returns seconds spent."""
    ckpt = last_checkpoint(cfg)
    if ckpt:
        print(f"Resuming from {ckpt} (delete {checkpoint_dir(cfg)} to start over)")
    else:
        print(f"Starting a new run; checkpoints every {cfg.save_steps} steps in {checkpoint_dir(cfg)}")
    t0 = time.time()
    trainer.train(resume_from_checkpoint=ckpt)
    return time.time() - t0
