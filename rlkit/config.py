"""Profiles and typed run configs.

One parameter, ``PROFILE``, picks the scale of a notebook:

=========  ==========================================  =====================================
profile    model                                        data
=========  ==========================================  =====================================
smoke      the offline tiny model                       offline tasks, a few dozen rows
cpu        the offline tiny model                       offline tasks, a few hundred rows
gpu        ``Qwen/Qwen2.5-0.5B-Instruct`` (4-bit+LoRA)  hub datasets
=========  ==========================================  =====================================

``"auto"`` means ``gpu`` when CUDA is available, else ``cpu``; the ``RLKIT_PROFILE`` environment
variable replaces ``"auto"`` (tests set it to ``smoke``). An explicit profile always wins.
Every single setting can still be overridden by its own notebook parameter.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field

from rlkit.errors import RlkitError

PROFILES = ("smoke", "cpu", "gpu")
METHODS = ("setup", "sft", "dpo", "grpo", "rloo", "reward", "online_dpo", "best_of_n")
OFFLINE_MODEL = "offline:tiny-qwen2"  # built locally by rlkit.tiny, never downloaded
GPU_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"  # RL lessons: follows the <think>/<answer> format from the start
GPU_BASE_MODEL = "Qwen/Qwen2.5-0.5B"  # 01_sft starts from the base model, as paper P1 does


def name_list(value) -> list[str]:
    """The names a list-valued notebook parameter gives: a comma-separated string (papermill's ``-p ARMS "a, b"``)
    or a list of names, each stripped, empty ones dropped.

    >>> name_list("grpo, online"), name_list(["code", "arithmetic"]), name_list("")
    (['grpo', 'online'], ['code', 'arithmetic'], [])
    """
    parts = value.split(",") if isinstance(value, str) else value
    return [str(name).strip() for name in parts if str(name).strip()]


def resolve_profile(profile: str = "auto", cuda_available: bool | None = None) -> tuple[str, str]:
    """Return ``(profile, reason)``: which profile runs and why.

    >>> resolve_profile("cpu")
    ('cpu', 'PROFILE="cpu" was set explicitly')
    """
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    if profile in PROFILES:
        return profile, f'PROFILE="{profile}" was set explicitly'
    if profile != "auto":
        raise RlkitError(f"Unknown PROFILE={profile!r}. Use one of {PROFILES} or 'auto'.")
    env = os.environ.get("RLKIT_PROFILE", "").strip()
    if env:
        if env not in PROFILES:
            raise RlkitError(f"Unknown RLKIT_PROFILE={env!r} in the environment. Use one of {PROFILES}.")
        return env, f'PROFILE="auto" and the environment sets RLKIT_PROFILE={env}'
    if cuda_available:
        return "gpu", 'PROFILE="auto" and a CUDA GPU is available'
    return "cpu", 'PROFILE="auto" and no CUDA GPU was found (the offline tiny model runs on CPU)'


@dataclass
class RunConfig:
    """Every setting of one notebook run. Build it with :func:`make_config`."""

    method: str
    profile: str
    profile_reason: str = ""
    model: str = OFFLINE_MODEL  # hub id, local folder, or OFFLINE_MODEL
    task: str = "arithmetic"  # a name in rlkit.data.TASKS
    levels: tuple[int, int] | None = None  # offline: difficulty range of the task (None: its default_levels)
    load_in_4bit: bool = True  # NF4 weights via bitsandbytes (works on CPU too)
    gradient_checkpointing: bool = False  # recompute activations in the backward pass (gpu: the policy's training)
    lora_r: int = 16  # LoRA rank; 0 = full fine-tune
    lora_alpha: int = 32
    learning_rate: float = 1e-4
    max_steps: int = 100
    batch_size: int = 16  # per-device batch (for GRPO/RLOO: completions, i.e. prompts x group)
    grad_accum: int = 1
    num_generations: int = 8  # group size G for GRPO/RLOO
    max_prompt_length: int = 384
    max_completion_length: int = 64  # offline profiles: the task's own budget unless set (data.completion_budget)
    temperature: float = 1.0  # sampling temperature during RL rollouts
    beta: float = 0.0  # KL (GRPO/RLOO) or DPO beta
    n_train: int = 1000  # training rows generated or taken
    n_eval: int = 500  # held-out rows for the before/after metric (>= 500 in the cpu profile: intervals ~ +-0.04)
    eval_batch_size: int = 64
    save_steps: int = 50  # checkpoint every N optimizer steps
    seed: int = 0
    output_dir: str = "outputs/run"
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_config(self)

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def _positive(cfg: RunConfig, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not value > 0:
            raise RlkitError(f"{name.upper()}={value!r} must be > 0.")


def check_config(cfg: RunConfig) -> None:
    """Raise :class:`RlkitError` with the fix when a setting cannot work."""
    if cfg.method not in METHODS:
        raise RlkitError(f"Unknown method {cfg.method!r}; use one of {METHODS}.")
    if cfg.profile not in PROFILES:
        raise RlkitError(f"Unknown PROFILE={cfg.profile!r}. Use one of {PROFILES} or 'auto'.")
    _positive(cfg, ("learning_rate", "max_steps", "batch_size", "grad_accum", "n_eval", "save_steps"))
    _positive(cfg, ("max_prompt_length", "max_completion_length", "temperature", "eval_batch_size"))
    if cfg.lora_r < 0:
        raise RlkitError(f"LORA_R={cfg.lora_r} must be >= 0 (0 means a full fine-tune without LoRA).")
    if cfg.load_in_4bit and cfg.lora_r == 0:
        raise RlkitError("4-bit weights cannot be trained directly: set LORA_R > 0 or LOAD_IN_4BIT=False.")
    if cfg.method in ("grpo", "rloo"):
        check_group_size(cfg.batch_size, cfg.num_generations)


def check_group_size(batch_size: int, num_generations: int) -> None:
    """GRPO/RLOO score completions in groups, so a batch must hold whole groups.

    >>> check_group_size(16, 8)
    >>> check_group_size(6, 4)
    Traceback (most recent call last):
    ...
    rlkit.errors.RlkitError: BATCH_SIZE=6 is not divisible by the group size NUM_GENERATIONS=4. ...
    """
    if num_generations < 2:
        raise RlkitError(
            f"NUM_GENERATIONS={num_generations}: group-relative methods need at least 2 completions per "
            "prompt to have a baseline. Set NUM_GENERATIONS to 2 or more (4-8 is typical)."
        )
    if batch_size % num_generations:
        lower = max(num_generations, batch_size - batch_size % num_generations)
        divisors = [g for g in range(2, batch_size + 1) if batch_size % g == 0]
        raise RlkitError(
            f"BATCH_SIZE={batch_size} is not divisible by the group size NUM_GENERATIONS={num_generations}. "
            f"Each batch must hold whole groups: set BATCH_SIZE={lower} or {lower + num_generations}, "
            f"or NUM_GENERATIONS to one of {divisors}."
        )


# Profile defaults per method. Only what differs from RunConfig's defaults is listed. On gpu the policy trains with
# gradient checkpointing (as TRL's configs default to): without it, activations of Qwen2.5-0.5B's 24 layers at these
# lengths were estimated above a T4's 16 GB (README, Hardware notes). Not for the reward models: the kit's Siamese
# design does not support it, and TRL turns checkpointing off while it generates, so sampling keeps its KV cache.
_COMMON = {
    "smoke": dict(n_train=48, n_eval=16, max_steps=4, save_steps=2, eval_batch_size=16, batch_size=8),
    "cpu": dict(),
    "gpu": dict(model=GPU_MODEL, task="gsm8k", max_prompt_length=512, eval_batch_size=64),
}
DEFAULTS: dict[str, dict[str, dict]] = {
    "setup": {"smoke": {}, "cpu": {}, "gpu": {}},
    "sft": {
        "smoke": dict(learning_rate=3e-3),
        # cpu: full precision. NF4 on CPU costs ~2 s per step without AVX-512 (00_setup measures it), and
        # the smoke profile keeps exercising the 4-bit path in the tests.
        "cpu": dict(learning_rate=3e-3, max_steps=150, batch_size=32, n_train=4000, save_steps=50,
                    load_in_4bit=False),
        "gpu": dict(model=GPU_BASE_MODEL, learning_rate=2e-4, max_steps=300, batch_size=8, grad_accum=2, n_train=4000,
                    n_eval=300, max_completion_length=384, save_steps=100, gradient_checkpointing=True),
    },
    "grpo": {
        "smoke": dict(num_generations=4),
        "cpu": dict(learning_rate=3e-4, max_steps=200, batch_size=64, num_generations=8, n_train=4000, save_steps=25,
                    load_in_4bit=False),  # re-quantizing 01's merged model loses part of SFT (01_sft, section 7)
        "gpu": dict(learning_rate=1e-5, max_steps=200, batch_size=16, grad_accum=4, num_generations=8,
                    n_train=2000, n_eval=300, max_completion_length=384, save_steps=25, beta=0.0,
                    gradient_checkpointing=True),
    },
    "dpo": {
        "smoke": dict(beta=0.1, learning_rate=2e-4),
        "cpu": dict(learning_rate=1e-4, max_steps=150, batch_size=16, beta=0.1, n_train=1000, save_steps=50,
                    load_in_4bit=False),  # as grpo's cpu default
        "gpu": dict(learning_rate=5e-6, max_steps=300, batch_size=4, grad_accum=4, beta=0.1, n_train=5000,
                    task="ultrafeedback", max_completion_length=384, max_prompt_length=512, save_steps=100,
                    gradient_checkpointing=True),
    },
    "online_dpo": {  # 05_online_dpo: every arm (offline/semi-online/online DPO, GRPO) takes these settings
        "smoke": dict(beta=0.1, learning_rate=2e-4),
        "cpu": dict(learning_rate=1e-4, max_steps=80, beta=0.1, n_train=1000, load_in_4bit=False),
        "gpu": dict(task="gsm8k", learning_rate=5e-6, max_steps=100, beta=0.1, n_train=2000, n_eval=300,
                    max_completion_length=384, eval_batch_size=32, gradient_checkpointing=True),
    },
    "reward": {  # the Bradley-Terry reward model 04_rloo trains: a full fine-tune of a small encoder
        # offline, n_train / n_eval count prompts; each gives at most one pair (04_rloo, section 1)
        "smoke": dict(model="offline:minilm", task="arithmetic", lora_r=0, load_in_4bit=False, learning_rate=1e-4),
        "cpu": dict(model="offline:minilm", task="arithmetic", lora_r=0, load_in_4bit=False, learning_rate=1e-4,
                    max_steps=150, batch_size=32, n_train=1500, n_eval=500, save_steps=50),
        "gpu": dict(model="microsoft/deberta-v3-base", task="ultrafeedback", lora_r=0, load_in_4bit=False,
                    learning_rate=2e-5, max_steps=600, batch_size=16, n_train=20000, n_eval=1000, save_steps=200,
                    max_completion_length=512),
    },
    "best_of_n": {  # 06_best_of_n: num_generations = n samples per prompt (best-of-N up to N = n / 2), n_eval prompts
        "smoke": dict(num_generations=8, n_eval=8, load_in_4bit=False),
        "cpu": dict(num_generations=128, n_eval=200, load_in_4bit=False, eval_batch_size=8),
        "gpu": dict(task="countdown_hub", num_generations=128, n_eval=200, max_completion_length=384,
                    eval_batch_size=4),
    },
    "rloo": {
        "smoke": dict(task="arithmetic", num_generations=4, learning_rate=2e-4),
        "cpu": dict(task="arithmetic", learning_rate=2e-4, max_steps=150, batch_size=32, num_generations=4,
                    n_train=2000, save_steps=50, beta=0.05,
                    load_in_4bit=False),  # re-quantizing 01's merged model loses part of SFT (01_sft, section 7)
        "gpu": dict(learning_rate=1e-5, max_steps=200, batch_size=16, grad_accum=4, num_generations=4, n_train=5000,
                    task="ultrafeedback", max_completion_length=256, beta=0.05, save_steps=50,
                    gradient_checkpointing=True),
    },
}


# Where one offline task needs other settings than its method's profile defaults (measured, not tuned to pass).
# GRPO on code, cpu: at 200 steps it mostly traded one operation for another the model cannot tell apart (`min`
# for `max`) and greedy accuracy stayed inside the noise in six of seven runs; at 400 steps three of six runs (three
# 01 models) learned both and rose, in 13 min without AVX-512 (README, the code paragraph; docs/testbed.md).
TASK_DEFAULTS: dict[tuple[str, str, str], dict] = {
    ("grpo", "cpu", "code"): {"max_steps": 400},
}


def task_budget(method: str, task: str) -> int:
    """Offline new-token budget: the task's own, or for SFT (which trains on every family) the largest.

    >>> task_budget("grpo", "zebra") > task_budget("grpo", "arithmetic")
    True
    """
    from rlkit.data import completion_budget, get_task, warm_start_tasks

    tasks = warm_start_tasks(task) if method == "sft" and get_task(task).offline else [task]
    return max(completion_budget(t) for t in tasks)


def profile_path(path: str, profile: str) -> str:
    """``path`` with ``{profile}`` replaced by the profile that runs, so that runs of different profiles
    (the tests run every notebook in ``smoke``) never share, or refuse, each other's checkpoints.

    >>> profile_path("outputs/{profile}/03_grpo", "cpu")
    'outputs/cpu/03_grpo'
    """
    return str(path).replace("{profile}", profile)


def make_config(method: str, profile: str = "auto", output_dir: str | None = None, **overrides) -> RunConfig:
    """Profile defaults for ``method``, then every override that is not ``None``.

    >>> make_config("grpo", "smoke").num_generations
    4
    >>> make_config("grpo", "smoke", num_generations=2, batch_size=6).batch_size
    6
    >>> make_config("grpo", "smoke", output_dir="outputs/{profile}/03_grpo").output_dir
    'outputs/smoke/03_grpo'
    >>> make_config("grpo", "cpu", task="code").max_steps  # TASK_DEFAULTS: code needs more GRPO steps
    400
    """
    if method not in DEFAULTS:
        raise RlkitError(f"Unknown method {method!r}; use one of {tuple(DEFAULTS)}.")
    resolved, reason = resolve_profile(profile)
    known = {f.name for f in dataclasses.fields(RunConfig)} - {"method", "profile", "profile_reason"}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise RlkitError(f"Unknown setting(s) {unknown}. Valid settings: {sorted(known)}.")
    values = {**_COMMON[resolved], **DEFAULTS[method][resolved]}
    task = overrides.get("task") or values.get("task", "arithmetic")
    values.update(TASK_DEFAULTS.get((method, resolved, task), {}))
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "max_completion_length" not in values and resolved != "gpu":
        values["max_completion_length"] = task_budget(method, values.get("task", "arithmetic"))
    if values.get("levels") is not None:
        from rlkit.data import check_levels

        values["levels"] = check_levels(values.get("task", "arithmetic"), values["levels"])
    if output_dir is not None:
        values["output_dir"] = profile_path(output_dir, resolved)
    return RunConfig(method=method, profile=resolved, profile_reason=reason, **values)
