"""GRPO's maths, written out once. 03_grpo builds each piece in visible steps and then shows it
equals these functions; ``tests/test_grpo_matches_trl.py`` proves these equal TRL's GRPOTrainer.

Notation: ``B`` prompts, ``G`` completions per prompt (the group), ``N = B*G``, ``T`` completion tokens,
``V`` vocabulary size.

    A_i   = (r_i - mean(r_group)) / (std(r_group) + 1e-4)       (std division optional: Dr. GRPO, P2 drop it)
    rho_t = exp(log pi(o_t) - log pi_old(o_t))                  (token ratio; = 1 on the first pass)
    L_t   = -min(rho_t A, clip(rho_t, 1-eps_lo, 1+eps_hi) A) + beta * KL_t
    KL_t  = exp(ref_t - logp_t) - (ref_t - logp_t) - 1          (the k3 estimator, >= 0)
"""

from __future__ import annotations

import torch

LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo")
SCALES = ("group", "batch", "none")


def group_advantages(rewards: torch.Tensor, num_generations: int, scale: str = "group") -> torch.Tensor:
    """Group-relative advantages for rewards laid out prompt by prompt, ``(N,) -> (N,)``.

    >>> group_advantages(torch.tensor([1., 0., 0., 1.]), 2, scale="none").tolist()
    [0.5, -0.5, -0.5, 0.5]
    """
    if scale not in SCALES:
        raise ValueError(f"scale={scale!r}; use one of {SCALES}")
    grouped = rewards.view(-1, num_generations)  # (B, G)
    centred = grouped - grouped.mean(dim=1, keepdim=True)  # (B, G): each prompt is its own baseline
    if scale == "group":
        centred = centred / (grouped.std(dim=1, keepdim=True) + 1e-4)  # unbiased std, as TRL
    elif scale == "batch":
        centred = centred / (rewards.std() + 1e-4)
    return centred.reshape(-1)  # (N,)


def token_logps(logits: torch.Tensor, token_ids: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log pi(token) under the sampling distribution (logits / temperature), ``(N, T, V) -> (N, T)``."""
    logprobs = torch.log_softmax(logits.float() / temperature, dim=-1)  # (N, T, V)
    return logprobs.gather(-1, token_ids.unsqueeze(-1)).squeeze(-1)  # (N, T)


def completion_logps(model, input_ids, attention_mask, n_completion_tokens: int, temperature: float = 1.0):
    """Per-token log-probs of the last ``n_completion_tokens`` of each sequence, ``(N, P+T) -> (N, T)``."""
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits  # (N, P+T, V)
    logits = logits[:, -n_completion_tokens - 1 : -1]  # (N, T, V): position t predicts token t+1
    return token_logps(logits, input_ids[:, -n_completion_tokens:], temperature)


def k3_kl(logps: torch.Tensor, ref_logps: torch.Tensor) -> torch.Tensor:
    """Per-token KL(pi || pi_ref) estimate exp(d) - d - 1 with d = ref - logp; (N, T)."""
    delta = ref_logps - logps
    return torch.exp(delta) - delta - 1


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, loss_type: str, max_completion_length: int | None = None):
    """Average per-token losses into one number; the loss types differ only here."""
    if loss_type == "grpo":  # mean over each sequence's tokens, then over sequences (length-biased)
        return ((per_token * mask).sum(-1) / mask.sum(-1).clamp(min=1.0)).mean()
    if loss_type in ("bnpo", "dapo"):  # mean over every token of the batch
        return (per_token * mask).sum() / mask.sum().clamp(min=1.0)
    if loss_type == "dr_grpo":  # a constant denominator: no length bias at all
        return (per_token * mask).sum() / (per_token.size(0) * max_completion_length)
    raise ValueError(f"loss_type={loss_type!r}; use one of {LOSS_TYPES}")


def grpo_loss(logps, old_logps, advantages, mask, *, ref_logps=None, beta: float = 0.0, epsilon_low: float = 0.2,
              epsilon_high: float = 0.2, loss_type: str = "dapo", max_completion_length: int | None = None):
    """The clipped surrogate with optional KL, aggregated per ``loss_type``. Shapes: (N, T), adv (N,)."""
    ratio = torch.exp(logps - old_logps)  # (N, T)
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)  # (N, T)
    adv = advantages.unsqueeze(1)  # (N, 1)
    per_token = -torch.min(ratio * adv, clipped * adv)  # (N, T)
    if beta != 0.0:
        per_token = per_token + beta * k3_kl(logps, ref_logps)
    return aggregate(per_token, mask, loss_type, max_completion_length)
