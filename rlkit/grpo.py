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


def surrogate(logps, old_logps, advantages, *, ref_logps=None, beta: float = 0.0, epsilon_low: float = 0.2,
              epsilon_high: float = 0.2):
    """Per-token loss before averaging: the clipped surrogate, plus ``beta`` times the k3 KL. Shapes (N, T), adv (N,)."""
    ratio = torch.exp(logps - old_logps)  # (N, T)
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)  # (N, T)
    adv = advantages.unsqueeze(1)  # (N, 1)
    per_token = -torch.min(ratio * adv, clipped * adv)  # (N, T)
    if beta != 0.0:
        per_token = per_token + beta * k3_kl(logps, ref_logps)
    return per_token


def grpo_loss(logps, old_logps, advantages, mask, *, ref_logps=None, beta: float = 0.0, epsilon_low: float = 0.2,
              epsilon_high: float = 0.2, loss_type: str = "dapo", max_completion_length: int | None = None):
    """The clipped surrogate with optional KL, aggregated per ``loss_type``. Shapes: (N, T), adv (N,)."""
    per_token = surrogate(logps, old_logps, advantages, ref_logps=ref_logps, beta=beta, epsilon_low=epsilon_low,
                          epsilon_high=epsilon_high)
    return aggregate(per_token, mask, loss_type, max_completion_length)


def accumulated_loss(per_token, mask, loss_type: str, micro_batches: int = 1, max_completion_length: int | None = None):
    """The loss whose gradient one optimizer step follows when the batch is cut into ``micro_batches`` equal,
    consecutive parts that are backpropagated one by one (gradient accumulation), as GRPOTrainer normalises them.

    "dapo" divides every micro-batch by the token count of the *whole* batch, so accumulation changes nothing:
    the result is the full batch's token mean. "grpo", "bnpo" and "dr_grpo" average inside each micro-batch, and
    the micro-batches are then averaged. For "grpo" and "dr_grpo" that is again the full-batch value (each
    sequence weighs the same either way); for "bnpo" it is not, when the parts hold different numbers of tokens.

    >>> per_token, mask = torch.ones(4, 3), torch.tensor([[1., 1., 1.], [1., 1., 1.], [1., 0., 0.], [1., 0., 0.]])
    >>> per_token[:2] = 2.0  # two long sequences with loss 2 per token, two short ones with loss 1
    >>> [round(float(accumulated_loss(per_token, mask, t, 2)), 4) for t in ("dapo", "bnpo", "grpo")]
    [1.75, 1.5, 1.5]
    """
    if loss_type == "dapo" or micro_batches == 1:
        return aggregate(per_token, mask, loss_type, max_completion_length)
    if per_token.size(0) % micro_batches:
        raise ValueError(f"{per_token.size(0)} sequences do not split into {micro_batches} equal micro-batches")
    parts = zip(per_token.chunk(micro_batches), mask.chunk(micro_batches), strict=True)
    return torch.stack([aggregate(p, m, loss_type, max_completion_length) for p, m in parts]).mean()


def grpo_update(model, optimizer, prompt_ids, prompt_mask, completion_ids, completion_mask, rewards, *,
                num_generations: int, temperature: float = 1.0, scale: str = "group", loss_type: str = "dapo",
                epsilon_low: float = 0.2, epsilon_high: float = 0.2, micro_batches: int = 1,
                max_grad_norm: float | None = 1.0, max_completion_length: int | None = None) -> dict:
    """One GRPO optimizer step, written out: the update GRPOTrainer makes from one batch of sampled groups
    (``num_iterations=1``, ``beta=0``; ``tests/test_grpo_matches_trl.py`` checks it leaves the same weights).

    The samples are laid out prompt by prompt: ``prompt_ids``/``prompt_mask`` ``(N, P)`` left-padded,
    ``completion_ids``/``completion_mask`` ``(N, T)`` right-padded, ``rewards`` ``(N,)``. Returns the advantages
    and the loss (a number) for display.
    """
    advantages = group_advantages(rewards, num_generations, scale)  # (N,)
    input_ids = torch.cat([prompt_ids, completion_ids], dim=1)  # (N, P+T)
    attention_mask = torch.cat([prompt_mask, completion_mask], dim=1)  # (N, P+T)
    logps = completion_logps(model, input_ids, attention_mask, completion_ids.size(1), temperature)  # (N, T)
    # On-policy (one pass per batch), old = current: the ratio is 1, but its gradient is the policy gradient.
    per_token = surrogate(logps, logps.detach(), advantages, epsilon_low=epsilon_low, epsilon_high=epsilon_high)
    # One backward of the accumulated loss: the gradient the micro-batches' backward passes would add up to.
    loss = accumulated_loss(per_token, completion_mask.float(), loss_type, micro_batches, max_completion_length)
    loss.backward()
    params = [p for p in model.parameters() if p.requires_grad]
    if max_grad_norm is not None:
        torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()
    optimizer.zero_grad()
    return {"advantages": advantages.detach(), "loss": float(loss.detach())}
