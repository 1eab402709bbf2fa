"""The one setup call each notebook makes: seeds, device, versions, and the banner saying what runs."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import random

from rlkit.config import OFFLINE_MODEL, RunConfig

PACKAGES = ("torch", "transformers", "trl", "peft", "bitsandbytes", "datasets", "accelerate", "math-verify",
            "reasoning-gym")


def versions() -> dict[str, str]:
    """Installed versions of the packages the kit is built on."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def describe_model(model: str) -> str:
    if model == OFFLINE_MODEL:
        from rlkit.recipes import RECIPE, active_recipe

        recipe = active_recipe()
        if recipe is not RECIPE:  # a candidate recipe chosen through RLKIT_TINY_RECIPE: the banner says so
            return f"the kit's offline tiny Qwen2, candidate recipe {recipe['version']} (built locally, no download)"
        return "the kit's offline tiny Qwen2 (built locally, no download)"
    return model


def cpu_kernels() -> dict:
    """The instruction set torch's CPU kernels use here (AVX512, AVX2, ...) and its threads: the same run gives
    other numbers, and takes other times, on another kind of CPU (README, times per CPU kind)."""
    import torch

    return {"cpu_kernels": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}


def tiny_model_line() -> str:
    """Which tiny build the offline runs stand on, or that it is built on first use."""
    from rlkit import tiny

    folder = tiny.model_dir(tiny.active_recipe())
    if not (folder / "rlkit_recipe.json").exists():
        return "not built yet: built on first use from the recipe (minutes), then cached"
    return tiny.provenance(folder)


def _mirror() -> str | None:
    from rlkit.mirror import mirror_root

    root = mirror_root()
    return str(root) if root else None


def setup(cfg: RunConfig, quiet: bool = False) -> dict:
    """Seed everything, pick the device, print one banner; returns what it printed as a dict."""
    from rlkit.modeling import precision

    seed_everything(cfg.seed)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    rule = precision()
    device = rule.device
    info = {"profile": cfg.profile, "why": cfg.profile_reason, "device": device,
            "dtype": str(rule.dtype).split(".")[-1], "precision": rule.reason, "hub_mirror": _mirror(),
            "model": describe_model(cfg.model), "task": cfg.task, "4-bit": cfg.load_in_4bit,
            "lora_r": cfg.lora_r, "seed": cfg.seed, "output_dir": cfg.output_dir, **cpu_kernels(), **versions()}
    if cfg.model == OFFLINE_MODEL:
        info["tiny_model"] = tiny_model_line()
    if not quiet:
        line = "=" * 78
        print(f"{line}\nrlkit · {cfg.method} · PROFILE={cfg.profile}  ({cfg.profile_reason})")
        print(f"model: {info['model']} | task: {cfg.task} | 4-bit: {cfg.load_in_4bit} | LoRA r: {cfg.lora_r}")
        print(f"device: {device} ({info['dtype']}: {rule.reason}) | CPU kernels: {info['cpu_kernels']}, "
              f"{info['threads']} threads | seed: {cfg.seed} | outputs: {cfg.output_dir}")
        if cfg.model == OFFLINE_MODEL:
            print(f"tiny model: {info['tiny_model']}")
        if info["hub_mirror"]:
            print(f"hub ids read from the local mirror {info['hub_mirror']} (RLKIT_HUB_MIRROR), not the Hub")
        print(" | ".join(f"{k} {v}" for k, v in versions().items()))
        print(line)
    return info
