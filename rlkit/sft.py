"""Supervised fine-tuning pieces: completion-only masking, the SFT data mix, and the warm start.

01_sft builds the completion mask from scratch and shows it equals :func:`completion_mask` and
what TRL's SFTTrainer computes; later lessons call :func:`ensure_sft_model` to start from 01's
artefact, or to build the same warm start in place when it is missing. Both paths go through
:func:`start`, so the same seed gives bit-identical weights (``tests/test_sft.py`` compares them).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rlkit.config import RunConfig, make_config
from rlkit.data import SFT_SHARES, warm_start_tasks
from rlkit.errors import RlkitError

IGNORE_INDEX = -100  # label value that cross-entropy skips
INSTRUCT_FRACTION = 0.2  # share of instruction rows mixed into SFT (P1 mixes smol-smoltalk into its SFT data)
# Share of worked solutions among the SFT rows of tasks that have a terse style (data.Task.terse); the rest
# skip the working. Worked answers are the more reliable kind, yet the SFT model picks terse ones for most
# questions (01_sft, section 1): RL then has a better behaviour to find and amplify.
WORKED_FRACTION = 0.5


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


def with_styles(rows, task: str, worked_fraction: float, seed: int):
    """``rows`` with all but ``worked_fraction`` of them (chosen by ``seed``) rewritten in the task's terse style."""
    import random

    from datasets import Dataset

    from rlkit.data import get_task

    terse = get_task(task).terse
    if terse is None or worked_fraction >= 1.0:
        return rows
    n_terse = round(len(rows) * (1.0 - worked_fraction))
    picked = set(random.Random(seed).sample(range(len(rows)), n_terse))
    return Dataset.from_list([terse(row) if i in picked else row for i, row in enumerate(rows)])


def sft_mix(task: str, n_train: int, seed: int, instruct_fraction: float = INSTRUCT_FRACTION,
            worked_fraction: float = WORKED_FRACTION):
    """SFT rows (``prompt``/``completion``): ``n_train`` task rows shared over :func:`warm_start_tasks` (``SFT_SHARES``)
    (worked and terse solutions mixed, :func:`with_styles`), plus ``instruct_fraction`` as many instruction
    rows (the kit's offline, smol-smoltalk on the hub), shuffled."""
    from datasets import concatenate_datasets

    from rlkit.data import get_task
    from rlkit.hub import load_splits

    if not 0.0 <= instruct_fraction < 1.0:
        raise RlkitError(f"INSTRUCT_FRACTION={instruct_fraction} must be in [0, 1).")
    if not 0.0 <= worked_fraction <= 1.0:
        raise RlkitError(f"WORKED_FRACTION={worked_fraction} must be between 0 and 1.")
    columns = ["prompt", "completion"]
    tasks = warm_start_tasks(task)
    shares = {t: SFT_SHARES[t] for t in tasks} if len(tasks) > 1 else {tasks[0]: 1.0}
    counts = {t: round(n_train * shares[t]) for t in tasks}  # a tiny n_train may leave a family out
    parts = [with_styles(load_splits(t, n, 0, seed)[0], t, worked_fraction, seed).select_columns(columns)
             for t, n in counts.items() if n > 0]
    n_instruct = int(n_train * instruct_fraction)
    if n_instruct:
        instruct = "instruct" if get_task(task).offline else "smoltalk"
        parts.append(load_splits(instruct, n_instruct, 0, seed)[0].select_columns(columns))
    return concatenate_datasets(parts).shuffle(seed=seed)


def held_out_sets(task: str, n_eval: int, seed: int) -> dict:
    """``{task: held-out Dataset}`` for every task SFT trains on, ``n_eval`` rows each."""
    from rlkit.hub import load_splits

    return {t: load_splits(t, 0, n_eval, seed)[1] for t in warm_start_tasks(task)}


def warm_start_config(profile: str, output_dir: str, seed: int = 0) -> RunConfig:
    """The settings 01_sft uses by default in ``profile``: one place, so 02-04 build the same model."""
    return make_config("sft", profile, output_dir=output_dir, seed=seed)


def start(cfg: RunConfig):
    """``(train_rows, policy, tokenizer)`` for an SFT run: the one code path 01_sft and :func:`build_sft_model`
    share, so the same seed gives bit-identical weights (LoRA is initialised right after seeding; the
    trainer seeds data order and everything after)."""
    from rlkit import modeling

    train = sft_mix(cfg.task, cfg.n_train, cfg.seed, cfg.extra.get("instruct_fraction", INSTRUCT_FRACTION),
                    cfg.extra.get("worked_fraction", WORKED_FRACTION))
    policy, tokenizer = modeling.load_policy(cfg.model, load_in_4bit=cfg.load_in_4bit, lora_r=cfg.lora_r,
                                             lora_alpha=cfg.lora_alpha, seed=cfg.seed)
    return train, policy, tokenizer


def build_sft_model(cfg: RunConfig) -> Path:
    """Run 01_sft's recipe headlessly and save the merged model to ``<output_dir>/model``."""
    from rlkit import modeling, training

    t0 = time.time()
    train, policy, tokenizer = start(cfg)
    trainer = training.sft_trainer(policy, tokenizer, train, cfg)
    training.train(trainer, cfg)
    out = modeling.save_merged(policy, tokenizer, Path(cfg.output_dir) / "model")
    (out / "rlkit_sft.json").write_text(json.dumps({"settings": cfg.as_dict(), "seconds": time.time() - t0}))
    return out


def check_same_base(model_dir: Path) -> None:
    """Raise if the SFT model in ``model_dir`` was trained on another build of the offline tiny model than the one
    the kit builds now (its LoRA adapter names the base folder, whose name carries the recipe's hash): a lesson
    would otherwise compare a model of one recipe with a reference of another."""
    from rlkit.recipes import active_recipe
    from rlkit.tiny import model_dir as tiny_dir

    adapter = Path(model_dir) / "adapter" / "adapter_config.json"
    if not adapter.exists():
        return
    base = Path(json.loads(adapter.read_text()).get("base_model_name_or_path") or "").name
    expected = tiny_dir(active_recipe()).name
    if base.startswith("tiny-qwen2-") and base != expected:
        raise RlkitError(
            f"01_sft's model at {model_dir} was trained on the tiny model {base}, but the kit's recipe now builds "
            f"{expected} (the recipe changed, or RLKIT_TINY_RECIPE differs from that run's). Move the folder "
            f"{Path(model_dir).parent} away and run 01_sft again, or let this lesson build its warm start in place.")


def sft_model_dir(sft_dir: str, profile: str) -> Path:
    """Where 01_sft's merged model lives under ``sft_dir`` (``{profile}`` in it becomes ``profile``)."""
    from rlkit.config import profile_path

    return Path(profile_path(sft_dir, profile)) / "model"


def ensure_sft_model(sft_dir: str, profile: str, seed: int = 0) -> str:
    """The SFT artefact at ``sft_dir`` (``{profile}`` in it becomes ``profile``); if it is missing, build the
    same warm start there and say so."""
    model_dir = sft_model_dir(sft_dir, profile)
    if (model_dir / "config.json").exists():
        check_same_base(model_dir)
        print(f"Starting from 01_sft's model: {model_dir}")
        return str(model_dir)
    cfg = warm_start_config(profile, str(model_dir.parent), seed)
    print(f"01_sft's model was not found at {model_dir}: building the same SFT warm start here "
          f"({cfg.max_steps} steps on {', '.join(warm_start_tasks(cfg.task))}, profile {cfg.profile}, seed {seed}). "
          "Run 01_sft to see it taught step by step.")
    return str(build_sft_model(cfg))
