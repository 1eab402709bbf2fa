"""DPO's maths and its preference pairs, written out once.

02_dpo builds each piece in visible steps and shows it equals these functions;
``tests/test_dpo_matches_trl.py`` proves :func:`dpo_loss` equals TRL's DPOTrainer on identical tensors.

Notation: a batch of ``B`` pairs (prompt x, chosen y_w, rejected y_l), ``T`` tokens, ``V`` vocabulary.

    log pi(y|x)  = sum_t log pi(y_t | x, y_<t)                      (completion tokens only)
    r(x, y)      = beta * (log pi(y|x) - log pi_ref(y|x))            (the implicit reward)
    L            = -log sigmoid(r(x, y_w) - r(x, y_l))              (mean over pairs)

When the policy equals the reference, every implicit reward is 0 and L = log 2.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from rlkit.errors import RlkitError

PAIR_COLUMNS = ("prompt", "chosen", "rejected")


def sequence_logps(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, completion_mask: torch.Tensor):
    """log pi(completion | prompt), summed over the completion tokens: ``(B, L) -> (B,)``.

    ``completion_mask`` is 1 on the completion's tokens of ``input_ids`` and 0 on prompt and padding.
    """
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1]  # (B, L-1, V): t predicts t+1
    logprobs = torch.log_softmax(logits.float(), dim=-1)  # (B, L-1, V)
    token_logps = logprobs.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # (B, L-1)
    return (token_logps * completion_mask[:, 1:]).sum(-1)  # (B,)


@dataclass
class DPOOutput:
    loss: torch.Tensor  # scalar
    chosen_rewards: torch.Tensor  # (B,) beta * log-ratio of the chosen completion (detached)
    rejected_rewards: torch.Tensor  # (B,)

    @property
    def margins(self) -> torch.Tensor:
        return self.chosen_rewards - self.rejected_rewards

    @property
    def accuracy(self) -> float:
        """Fraction of pairs whose chosen completion has the larger implicit reward."""
        return (self.chosen_rewards > self.rejected_rewards).float().mean().item()


def dpo_loss(chosen_logps, rejected_logps, ref_chosen_logps, ref_rejected_logps, beta: float = 0.1) -> DPOOutput:
    """The sigmoid DPO loss (Rafailov et al. 2023) from sequence log-probs, all ``(B,)``.

    >>> z = torch.zeros(3)
    >>> round(dpo_loss(z, z, z, z).loss.item(), 4)  # policy == reference: log 2
    0.6931
    """
    chosen_rewards = beta * (chosen_logps - ref_chosen_logps)  # (B,)
    rejected_rewards = beta * (rejected_logps - ref_rejected_logps)  # (B,)
    loss = -F.logsigmoid(chosen_rewards - rejected_rewards).mean()
    return DPOOutput(loss, chosen_rewards.detach(), rejected_rewards.detach())


# ---------------------------------------------------------------- pairs
def _assistant(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def _pair(row: dict, chosen: list[dict], rejected: list[dict]) -> dict:
    """A conversational preference row; the source row's other columns (``answer``...) are kept."""
    extra = {k: v for k, v in row.items() if k not in ("completion", *PAIR_COLUMNS)}
    return {"prompt": row["prompt"], "chosen": chosen, "rejected": rejected, **extra}


def verifier_pairs(rows, completions: list[list[str]], scores: list[list[float]], seed: int = 0,
                   correct_at: float = 1.0) -> list[dict]:
    """P2's rule for verifiable tasks: chosen = a random correct sample, rejected = a random incorrect one.

    ``completions[i]`` and ``scores[i]`` are the samples of ``rows[i]`` and their verifier scores; a sample
    is correct when its score is at least ``correct_at``. Prompts whose samples are all correct or all wrong
    give no pair and are skipped. Rows keep their other columns (``answer``...), so pairs stay verifiable.
    """
    rng = random.Random(seed)
    pairs = []
    for row, texts, row_scores in zip(rows, completions, scores, strict=True):
        good = [t for t, s in zip(texts, row_scores) if s >= correct_at]
        bad = [t for t, s in zip(texts, row_scores) if not s >= correct_at]  # NaN (unscorable) counts as wrong
        if not good or not bad:
            continue
        pairs.append(_pair(row, _assistant(rng.choice(good)), _assistant(rng.choice(bad))))
    return pairs


def gold_pairs(rows, completions: list[list[str]], scores: list[list[float]], seed: int = 0,
               correct_at: float = 1.0) -> list[dict]:
    """chosen = the row's gold ``completion``, rejected = a random incorrect sample of the policy.

    Useful when the policy is rarely right (P2's rule then finds few prompts with both kinds): the
    rejected side still shows the mistakes this policy actually makes.
    """
    rng = random.Random(seed)
    pairs = []
    for row, texts, row_scores in zip(rows, completions, scores, strict=True):
        bad = [t for t, s in zip(texts, row_scores) if not s >= correct_at]
        if not bad:
            continue
        pairs.append(_pair(row, row["completion"], _assistant(rng.choice(bad))))
    return pairs


def sample_verifier_pairs(model, tokenizer, rows, verifier, *, n_samples: int, max_new_tokens: int,
                          batch_size: int = 32, seed: int = 0, temperature: float = 1.0,
                          gold_when_all_wrong: bool = False, mark_gold: bool = False) -> list[dict]:
    """Sample ``n_samples`` completions per row, score them with ``verifier``, and pair them (P2's rule).

    Prints how many prompts were all correct, all wrong or mixed. With ``gold_when_all_wrong`` a prompt
    whose samples are all wrong still gives a pair: its gold completion vs one of its samples
    (:func:`gold_pairs`), so hard prompts are not lost from the data. ``mark_gold`` adds a ``gold`` key to every
    pair (True for those gold-vs-sample pairs), so a reader can score pairs of two samples apart.
    """
    from rlkit.evaluation import generate, score_completions

    gens = generate(model, tokenizer, rows["prompt"], max_new_tokens=max_new_tokens, temperature=temperature,
                    num_samples=n_samples, batch_size=batch_size, seed=seed, desc="sampling pairs")
    scores = score_completions(rows, gens.texts, verifier, n_samples)
    n_right = [sum(s >= 1.0 for s in row) for row in scores]
    pairs = verifier_pairs(list(rows), gens.texts, scores, seed=seed)
    if mark_gold:
        pairs = [{**p, "gold": False} for p in pairs]
    line = (f"{len(rows)} prompts x {n_samples} samples: all correct {sum(n == n_samples for n in n_right)}, "
            f"all wrong {sum(n == 0 for n in n_right)}, mixed {sum(0 < n < n_samples for n in n_right)} "
            f"-> {len(pairs)} pairs (correct vs incorrect sample)")
    if gold_when_all_wrong:
        wrong = [i for i, n in enumerate(n_right) if n == 0]
        extra = gold_pairs([rows[i] for i in wrong], [gens.texts[i] for i in wrong], [scores[i] for i in wrong],
                           seed=seed)
        pairs += [{**p, "gold": True} for p in extra] if mark_gold else extra
        line += f" + {len(extra)} (gold vs incorrect sample)"
    print(line)
    return pairs


def best_worst_pairs(rows, completions: list[list[str]], scores: list[list[float]]) -> list[dict]:
    """P2's rule for non-verifiable tasks: the highest- vs the lowest-scored sample (by a reward model).

    Prompts whose samples all score the same give no pair.
    """
    pairs = []
    for row, texts, row_scores in zip(rows, completions, scores, strict=True):
        best = max(range(len(texts)), key=lambda i: row_scores[i])
        worst = min(range(len(texts)), key=lambda i: row_scores[i])
        if row_scores[best] == row_scores[worst]:
            continue
        pairs.append(_pair(row, _assistant(texts[best]), _assistant(texts[worst])))
    return pairs


# ---------------------------------------------------------------- measuring a policy on held-out pairs
def _padded(tokenizer, prompts, completions):
    from rlkit.sft import completion_mask

    rows = [completion_mask(tokenizer, p, c) for p, c in zip(prompts, completions, strict=True)]
    width = max(len(r["input_ids"]) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([r["input_ids"] + [pad] * (width - len(r["input_ids"])) for r in rows])
    attn = torch.tensor([[1] * len(r["input_ids"]) + [0] * (width - len(r["input_ids"])) for r in rows])
    mask = torch.tensor([r["completion_mask"] + [0] * (width - len(r["completion_mask"])) for r in rows])
    return ids, attn, mask


def pair_logps(model, tokenizer, pairs, batch_size: int = 32, reference: bool = False):
    """Sequence log-probs ``(chosen, rejected)`` of every pair, each ``(n,)``.

    ``reference=True`` reads them with the LoRA adapters switched off, i.e. under DPO's reference
    policy when training started from fresh adapters (how TRL's DPOTrainer gets it too).
    """
    import contextlib

    if len(pairs) == 0:
        raise RlkitError("No pairs to measure: the preference dataset is empty.")
    device = next(model.parameters()).device
    context = model.disable_adapter() if reference else contextlib.nullcontext()
    was_training, out = model.training, {"chosen": [], "rejected": []}
    model.eval()
    with torch.no_grad(), context:
        for start in range(0, len(pairs), batch_size):
            batch = pairs[start:start + batch_size]
            for side in ("chosen", "rejected"):
                ids, attn, mask = (t.to(device) for t in _padded(tokenizer, batch["prompt"], batch[side]))
                out[side].append(sequence_logps(model, ids, attn, mask).cpu())
    model.train(was_training)
    return torch.cat(out["chosen"]), torch.cat(out["rejected"])


def preference_scores(model, tokenizer, pairs, beta: float = 0.1, batch_size: int = 32) -> list[float]:
    """Per pair: 1.0 when the chosen completion gets the larger implicit reward beta * (log pi - log pi_ref),
    0.0 when the rejected one does, 0.5 for a tie (so the starting policy, pi == pi_ref, scores 0.5)."""
    chosen, rejected = pair_logps(model, tokenizer, pairs, batch_size)
    ref_chosen, ref_rejected = pair_logps(model, tokenizer, pairs, batch_size, reference=True)
    margin = dpo_loss(chosen, rejected, ref_chosen, ref_rejected, beta).margins
    return [0.5 if abs(m) <= 1e-6 else float(m > 0) for m in margin.tolist()]


def preference_accuracy(model, tokenizer, pairs, beta: float = 0.1, batch_size: int = 32) -> float:
    """Held-out preference accuracy: the mean of :func:`preference_scores`."""
    scores = preference_scores(model, tokenizer, pairs, beta, batch_size)
    return sum(scores) / len(scores)
