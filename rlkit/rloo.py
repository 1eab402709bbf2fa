"""RLOO's maths (REINFORCE Leave-One-Out, Ahmadian et al. 2024; paper P1), written out once.

04_rloo builds the baseline by hand on 4 numbers, then batched, and shows it equals these functions;
``tests/test_rloo_matches_trl.py`` proves they equal TRL's RLOOTrainer on identical tensors.

For ``k`` samples of one prompt with rewards R_1..R_k:

    b_i = (sum_j R_j - R_i) / (k - 1)        (the mean of the *other* samples: no sample is its own baseline)
    A_i = R_i - b_i = k / (k - 1) * (R_i - mean(R))

Unlike GRPO the whole completion is one action: the ratio is between sequence probabilities,

    rho = exp(log pi(y|x) - log pi_old(y|x)),     L = -mean_i min(rho_i A_i, clip(rho_i, 1-eps, 1+eps) A_i)

and the KL to the reference enters the *reward*: R_i <- R_i - beta * sum_t (log pi_old(y_t) - log pi_ref(y_t)).
"""

from __future__ import annotations

import torch


def loo_baselines(rewards: torch.Tensor, k: int) -> torch.Tensor:
    """The leave-one-out baseline of each sample, rewards laid out prompt by prompt: ``(N,) -> (N,)``.

    >>> [round(b, 4) for b in loo_baselines(torch.tensor([1., 0., 0., 1.]), 4).tolist()]
    [0.3333, 0.6667, 0.6667, 0.3333]
    """
    if k < 2:
        raise ValueError("The leave-one-out baseline needs at least 2 samples per prompt (k >= 2).")
    grouped = rewards.view(-1, k)  # (B, k)
    others = grouped.sum(dim=1, keepdim=True) - grouped  # (B, k): sum of the k-1 other rewards
    return (others / (k - 1)).reshape(-1)  # (N,)


def rloo_advantages(rewards: torch.Tensor, k: int, normalize: bool = False) -> torch.Tensor:
    """A_i = R_i - b_i; ``normalize`` then rescales the whole batch to mean 0, std 1 (TRL's option).

    >>> [round(a, 4) for a in rloo_advantages(torch.tensor([1., 0., 0., 1.]), 4).tolist()]
    [0.6667, -0.6667, -0.6667, 0.6667]
    """
    advantages = rewards - loo_baselines(rewards, k)  # (N,)
    if normalize:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-4)
    return advantages


def kl_penalized_rewards(rewards, old_logps, ref_logps, mask, beta: float):
    """Rewards minus beta times the sequence's summed log-ratio to the reference: ``(N,), (N, T) -> (N,)``."""
    if beta == 0.0:
        return rewards
    return rewards - beta * ((old_logps - ref_logps) * mask).sum(-1)


def rloo_loss(logps, old_logps, advantages, mask, epsilon_low: float = 0.2, epsilon_high: float = 0.2):
    """The clipped sequence-level surrogate. ``logps``/``old_logps`` are per token ``(N, T)``, ``advantages`` (N,)."""
    seq_logps = (logps * mask).sum(-1)  # (N,): log pi(y|x) of the whole completion
    seq_old = (old_logps * mask).sum(-1)  # (N,)
    ratio = torch.exp(seq_logps - seq_old)  # (N,)
    clipped = torch.clamp(ratio, 1 - epsilon_low, 1 + epsilon_high)  # (N,)
    return -torch.min(ratio * advantages, clipped * advantages).mean()
