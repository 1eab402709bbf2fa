"""rlkit.grpo (what 03_grpo teaches) equals TRL's GRPOTrainer on identical tensors.

The loss test runs TRL's own ``GRPOTrainer._compute_loss`` with a stand-in ``self`` whose
log-prob function returns our tensors, so the code under comparison is TRL's, line for line.
The advantage test trains a real GRPOTrainer for one step and recomputes its logged advantages.
"""

from types import SimpleNamespace

import pytest
import torch
from trl import GRPOTrainer

from rlkit import grpo


class _OneProcess:
    """The bits of accelerate.Accelerator that _compute_loss touches, for a single process."""

    num_processes = 1
    sync_gradients = True

    def gather(self, x):
        return x

    gather_for_metrics = gather

    def reduce(self, x, reduction="sum"):
        return x


def _trl_loss(inputs, logps, *, loss_type, beta, eps_low=0.2, eps_high=0.28, max_len=12):
    entropies = torch.zeros_like(logps)
    fake = SimpleNamespace(
        top_entropy_quantile=1.0, off_policy_mask_threshold=None, importance_sampling_level="token", beta=beta,
        loss_type=loss_type, epsilon_low=eps_low, epsilon_high=eps_high, use_vllm=False,
        vllm_importance_sampling_correction=False, _entropy_bonus_enabled=False, aux_loss_enabled=False,
        model=SimpleNamespace(training=True), current_gradient_accumulation_steps=1, max_completion_length=max_len,
        accelerator=_OneProcess(), _metrics={"train": __import__("collections").defaultdict(list)},
        args=SimpleNamespace(use_bias_correction_kl=False, delta=None, steps_per_generation=1),
        _get_per_token_logps_and_entropies=lambda *a, **k: (logps, entropies, None),
    )
    return GRPOTrainer._compute_loss(fake, None, inputs)


def _batch(seed, n=6, t=12, vocab=50):
    g = torch.Generator().manual_seed(seed)
    mask = (torch.arange(t)[None] < torch.randint(3, t + 1, (n, 1), generator=g)).float()  # (N, T), ragged
    return dict(
        prompt_ids=torch.randint(vocab, (n, 4), generator=g), prompt_mask=torch.ones(n, 4),
        completion_ids=torch.randint(vocab, (n, t), generator=g), completion_mask=mask,
        advantages=torch.randn(n, generator=g),
        old_per_token_logps=-torch.rand(n, t, generator=g) * 3,
        ref_per_token_logps=-torch.rand(n, t, generator=g) * 3,
        num_items_in_batch=mask.sum(),
    )


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
@pytest.mark.parametrize("beta", [0.0, 0.04])
@pytest.mark.parametrize("seed", [0, 1])
def test_loss_and_gradient_equal_trl(loss_type, beta, seed):
    inputs = _batch(seed)
    # Policy log-probs near the old ones so that some ratios fall outside the clip range and some inside.
    noise = torch.randn(inputs["old_per_token_logps"].shape, generator=torch.Generator().manual_seed(seed + 9)) * 0.3
    ours_in = (inputs["old_per_token_logps"] + noise).requires_grad_()
    trl_in = ours_in.detach().clone().requires_grad_()

    ours = grpo.grpo_loss(ours_in, inputs["old_per_token_logps"], inputs["advantages"], inputs["completion_mask"],
                          ref_logps=inputs["ref_per_token_logps"], beta=beta, epsilon_low=0.2, epsilon_high=0.28,
                          loss_type=loss_type, max_completion_length=12)
    theirs = _trl_loss(inputs, trl_in, loss_type=loss_type, beta=beta)
    torch.testing.assert_close(ours, theirs)
    ours.backward(), theirs.backward()
    torch.testing.assert_close(ours_in.grad, trl_in.grad)
    assert ours_in.grad.abs().sum() > 0


def test_first_pass_ratio_is_one_and_loss_is_minus_mean_advantage():
    """On-policy (old = current), the surrogate's value is -mean(A): ~0 with centred advantages."""
    inputs = _batch(3)
    logps = inputs["old_per_token_logps"]
    loss = grpo.grpo_loss(logps, logps, inputs["advantages"], inputs["completion_mask"], loss_type="grpo")
    torch.testing.assert_close(loss, -inputs["advantages"].mean())
    centred = grpo.group_advantages(torch.tensor([1.0, 0.0, 0.0, 0.0, 1.0, 1.0]), 3)
    assert abs(float(grpo.grpo_loss(logps, logps, centred, inputs["completion_mask"], loss_type="grpo"))) < 1e-6


def test_token_logps_match_trl_selective_log_softmax():
    from trl.trainer.utils import selective_log_softmax

    g = torch.Generator().manual_seed(0)
    logits, ids = torch.randn(3, 5, 11, generator=g), torch.randint(11, (3, 5), generator=g)
    torch.testing.assert_close(grpo.token_logps(logits, ids, temperature=0.7),
                               selective_log_softmax(logits, ids, temperature=0.7))


@pytest.mark.parametrize("scale", ["group", "none", "batch"])
def test_advantages_equal_a_real_grpo_trainer(mini_model, tmp_path, scale):
    """One real GRPOTrainer step; its logged rewards -> our advantages == its logged advantages."""
    from trl import GRPOConfig

    from rl_helpers import one_step_trainer

    trainer = one_step_trainer(GRPOTrainer, GRPOConfig, mini_model, tmp_path, scale_rewards=scale)
    trainer.train()
    rewards = torch.tensor(list(trainer._logs["rewards"]["wiggly_reward"]))
    logged = torch.tensor(list(trainer._logs["advantages"]))
    assert rewards.numel() == 8 and rewards.std() > 0
    torch.testing.assert_close(grpo.group_advantages(rewards, 4, scale=scale), logged, atol=1e-5, rtol=1e-4)


def test_group_advantages_sum_to_zero_per_group():
    r = torch.tensor([0.0, 1.0, 1.0, 0.1, 0.1, 0.1, 0.1, 0.1])
    adv = grpo.group_advantages(r, 4)
    torch.testing.assert_close(adv.view(2, 4).sum(1), torch.zeros(2), atol=1e-5, rtol=0)
    assert torch.all(adv[4:] == 0)  # a group with equal rewards teaches nothing
