"""Input checks that run before TRL sees the data: preference pairs, reward functions, reward-model tokenizers.

Each one raises :class:`~rlkit.errors.RlkitError` with what to change, instead of letting a bad dataset or a
reward with the wrong signature fail deep inside a trainer. They live below every lesson module (rlkit.dpo,
rlkit.reward_model and rlkit.training all use them, and re-export the ones their lessons call).
"""

from __future__ import annotations

from rlkit.errors import RlkitError

TRL_REWARD_KWARGS = {"prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric",
                     "environments"}


def is_reward_model(func) -> bool:
    """A reward *model* (a network TRL scores with its own tokenizer), not a reward function."""
    return hasattr(func, "config")


def check_reward_funcs(reward_funcs, dataset) -> None:
    """Fail early, with the fix, when a reward cannot be called the way TRL calls it.

    TRL calls ``f(prompts=..., completions=..., completion_ids=..., trainer_state=..., **columns)``, so a
    reward must take ``completions``, end with ``**kwargs``, and name only columns the dataset has.
    """
    import inspect

    columns = set(dataset.column_names)
    for func in reward_funcs:
        if not callable(func) or is_reward_model(func):
            continue
        name = getattr(func, "__name__", repr(func))
        params = inspect.signature(func).parameters
        if "completions" not in params:
            raise RlkitError(f"Reward function {name}{inspect.signature(func)} has no 'completions' parameter. "
                             f"TRL passes completions by keyword: define it as def {name}(completions, **kwargs).")
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            raise RlkitError(f"Reward function {name}{inspect.signature(func)} does not accept **kwargs. TRL also "
                             f"passes prompts, completion_ids, trainer_state and every dataset column: add **kwargs.")
        needed = [p for p, v in params.items() if v.default is v.empty and v.kind is v.POSITIONAL_OR_KEYWORD
                  and p not in TRL_REWARD_KWARGS]
        missing = [p for p in needed if p not in columns]
        if missing:
            raise RlkitError(f"Reward function {name} needs column(s) {missing} that the dataset lacks (it has "
                             f"{sorted(columns)}). Add them to the dataset or use a reward that fits this task.")


def check_pairs(dataset, purpose: str = "DPO") -> None:
    """Raise a clear error when a preference dataset cannot be trained on."""
    names = set(dataset.column_names if hasattr(dataset, "column_names") else dataset[0].keys())
    missing = [c for c in ("chosen", "rejected") if c not in names]
    if missing:
        hint = ""
        if {"completion", "label"} <= names:
            hint = (" It looks like an unpaired (KTO-style) dataset: pair a good and a bad completion of the same "
                    "prompt, or use TRL's KTOTrainer.")
        elif "completion" in names:
            hint = (" It holds one completion per prompt (SFT data): sample several completions per prompt and "
                    "build pairs with rlkit.dpo.verifier_pairs (a verifier) or best_worst_pairs (a reward model).")
        raise RlkitError(f"{purpose} needs preference pairs with columns 'chosen' and 'rejected' (and usually "
                         f"'prompt'); this dataset lacks {missing} (it has {sorted(names)}).{hint} To rename "
                         f"existing columns use dataset.rename_column(old, 'chosen').")
    if len(dataset) == 0:
        raise RlkitError(f"The {purpose} preference dataset is empty. With verifier pairs this means every prompt's "
                         "samples were all correct or all wrong: sample more completions per prompt (N_SAMPLES), "
                         "raise the sampling temperature, or use harder/easier prompts.")
    same = sum(1 for row in dataset.select(range(min(len(dataset), 200))) if row["chosen"] == row["rejected"])
    if same:
        raise RlkitError(f"{same} of the first {min(len(dataset), 200)} pairs have chosen == rejected, which teaches "
                         "nothing (their DPO gradient is 0): drop them before training.")


def check_reward_tokenizer(tokenizer, texts: list[str] | None = None, max_unknown: float = 0.05) -> None:
    """Refuse a reward-model tokenizer that the trainers cannot use, with what to change.

    RewardTrainer and RLOOTrainer pad batches (a pad token is needed), render conversations with
    the tokenizer's chat template, and the scores only mean something if the tokenizer can spell
    the policy's text: when more than ``max_unknown`` of the tokens of ``texts`` are the unknown
    token, the reward model is blind to what it judges.
    """
    name = type(tokenizer).__name__
    if tokenizer.pad_token is None and tokenizer.eos_token is None:
        raise RlkitError(f"The reward model's tokenizer ({name}) has neither a pad token nor an eos token, and "
                         "batches of pairs must be padded. Set one, e.g. tokenizer.pad_token = tokenizer.unk_token, "
                         "or add one with tokenizer.add_special_tokens({'pad_token': '[PAD]'}) and "
                         "model.resize_token_embeddings(len(tokenizer)).")
    if not getattr(tokenizer, "chat_template", None):
        raise RlkitError(f"The reward model's tokenizer ({name}) has no chat template, but the prompts are "
                         "conversations. Load it with rlkit.reward_model.load_reward_model (which gives encoders "
                         "one), or set tokenizer.chat_template = rlkit.reward_model.encoder_chat_template(tokenizer).")
    if texts and tokenizer.unk_token_id is not None:
        ids = [i for t in texts for i in tokenizer(t, add_special_tokens=False)["input_ids"]]
        frac = sum(i == tokenizer.unk_token_id for i in ids) / max(1, len(ids))
        if frac > max_unknown:
            raise RlkitError(f"The reward model's tokenizer ({name}) maps {frac:.0%} of the policy's text to its "
                             f"unknown token {tokenizer.unk_token!r}, so it cannot tell those completions apart. "
                             "Use a reward model whose vocabulary covers the policy's language and symbols.")
