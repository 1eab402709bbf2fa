"""Supervised fine-tuning pieces: completion-only masking, the SFT data mix, and the warm start.

01_sft builds the completion mask from scratch and shows it equals :func:`completion_mask` and
what TRL's SFTTrainer computes; later lessons call :func:`ensure_sft_model` to start from 01's
artefact, or to build the same warm start in place when it is missing.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rlkit.config import RunConfig, make_config
from rlkit.errors import RlkitError

IGNORE_INDEX = -100  # label value that cross-entropy skips
# Share of the offline arithmetic rows whose SFT solution is one line ("4 - 1 - 7 = -4", the answer
# worked out in the head) instead of step by step. Real SFT data mixes both habits; so does 01's, and
# the SFT model keeps both: the RL lessons then measure which one the task's reward favours.
ONE_LINE_FRACTION = 0.5


def completion_mask(tokenizer, prompt: list[dict], completion: list[dict]) -> dict:
    """Token ids of prompt+completion and a 0/1 mask that is 1 on completion tokens only.

    The prompt is rendered with the generation prompt (``<|im_start|>assistant\\n``), the full
    conversation without it; the completion tokens are what the full text adds after the prompt.
    """
    prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=True, return_dict=False)
    full_ids = tokenizer.apply_chat_template(prompt + completion, tokenize=True, return_dict=False)
    if full_ids[: len(prompt_ids)] != prompt_ids:
        raise ValueError("The chat template renders the prompt differently inside the full conversation.")
    return {"input_ids": full_ids, "completion_mask": [0] * len(prompt_ids) + [1] * (len(full_ids) - len(prompt_ids))}


def masked_labels(input_ids: list[int], mask: list[int]) -> list[int]:
    """Labels for causal-LM loss: the token where the mask is 1, IGNORE_INDEX elsewhere."""
    return [tok if keep else IGNORE_INDEX for tok, keep in zip(input_ids, mask)]


def one_line(row: dict) -> dict:
    """An arithmetic row whose solution skips the steps: ``<think>4 - 1 - 7 = -4</think>``."""
    from rlkit.data import arithmetic_expression, tagged

    expression = arithmetic_expression(row)
    return {**row, "completion": [{"role": "assistant", "content": tagged(f"{expression} = {row['answer']}",
                                                                          row["answer"])}]}


def sft_mix(task: str, n_train: int, n_eval: int, seed: int, instruct_fraction: float = 0.2,
            one_line_fraction: float = ONE_LINE_FRACTION):
    """``(train, held_out)``: the task's rows mixed with instruction rows, and the task's held-out rows.

    Instruction rows are the kit's generated ones offline and smol-smoltalk on the hub (as in P1).
    On the offline ``arithmetic`` task, ``one_line_fraction`` of the rows (chosen by ``seed``) show
    the answer in one line instead of step by step (:func:`one_line`).
    """
    import random

    from datasets import Dataset, concatenate_datasets

    from rlkit.data import get_task
    from rlkit.hub import load_splits

    if not 0.0 <= one_line_fraction <= 1.0:
        raise RlkitError(f"ONE_LINE_FRACTION={one_line_fraction} must be between 0 and 1.")
    train, held_out = load_splits(task, n_train, n_eval, seed)
    if task == "arithmetic" and one_line_fraction:
        rng = random.Random(seed)
        picked = set(rng.sample(range(len(train)), round(len(train) * one_line_fraction)))
        train = Dataset.from_list([one_line(row) if i in picked else row for i, row in enumerate(train)])
    columns = ["prompt", "completion"]
    n_instruct = int(n_train * instruct_fraction)
    instruct_task = "instruct" if get_task(task).offline else "smoltalk"
    if task not in ("instruct", "smoltalk") and n_instruct:
        instruct, _ = load_splits(instruct_task, n_instruct, 0, seed)
        train = concatenate_datasets([train.select_columns(columns), instruct.select_columns(columns)])
    return train.select_columns(columns).shuffle(seed=seed), held_out


def warm_start_config(profile: str, output_dir: str, seed: int = 0) -> RunConfig:
    """The settings 01_sft uses by default in ``profile``: one place, so 03 builds the same model."""
    return make_config("sft", profile, output_dir=output_dir, seed=seed,
                       extra={"one_line_fraction": ONE_LINE_FRACTION})


def build_sft_model(cfg: RunConfig) -> Path:
    """Run 01_sft's recipe headlessly and save the merged model to ``<output_dir>/model``."""
    from rlkit import modeling, runtime, training

    t0 = time.time()
    runtime.seed_everything(cfg.seed)  # as 01_sft's setup call does: same LoRA init, same data order
    train, _ = sft_mix(cfg.task, cfg.n_train, 1, cfg.seed,
                       one_line_fraction=cfg.extra.get("one_line_fraction", ONE_LINE_FRACTION))
    lm, tok = modeling.load_policy(cfg.model, load_in_4bit=cfg.load_in_4bit, lora_r=cfg.lora_r,
                                   lora_alpha=cfg.lora_alpha)
    trainer = training.sft_trainer(lm, tok, train, cfg)
    training.train(trainer, cfg)
    out = modeling.save_merged(lm, tok, Path(cfg.output_dir) / "model")
    (out / "rlkit_sft.json").write_text(json.dumps({"settings": cfg.as_dict(), "seconds": time.time() - t0}))
    return out


def ensure_sft_model(sft_dir: str, profile: str, seed: int = 0) -> str:
    """The SFT artefact at ``sft_dir`` (``{profile}`` in it becomes ``profile``); if it is missing, build the
    same warm start there and say so."""
    from rlkit.config import profile_path

    sft_dir = profile_path(sft_dir, profile)
    model_dir = Path(sft_dir) / "model"
    if (model_dir / "config.json").exists():
        print(f"Starting from 01_sft's model: {model_dir}")
        return str(model_dir)
    cfg = warm_start_config(profile, sft_dir, seed)
    print(f"01_sft's model was not found at {model_dir}: building the same SFT warm start here "
          f"({cfg.max_steps} steps on {cfg.task}, profile {cfg.profile}). Run 01_sft to see it taught step by step.")
    return str(build_sft_model(cfg))
