"""rlkit.rloo (what 04_rloo teaches) equals TRL's RLOOTrainer on identical tensors.

The advantage test trains a real RLOOTrainer for one step with a deterministic reward and
recomputes the advantages it fed its loss from the rewards it logged. The loss test runs TRL's own
``RLOOTrainer._compute_loss`` with a stand-in ``self`` returning our per-token log-probs.
"""

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
from trl import RLOOTrainer

from rlkit import rloo


def test_by_hand_on_four_numbers():
    r = torch.tensor([1.0, 0.0, 0.5, 0.5])
    # b_1 = (0 + .5 + .5)/3 = 1/3, b_2 = (1 + .5 + .5)/3 = 2/3, b_3 = b_4 = (1 + 0 + .5)/3 = 1/2
    torch.testing.assert_close(rloo.loo_baselines(r, 4), torch.tensor([1 / 3, 2 / 3, 0.5, 0.5]))
    adv = rloo.rloo_advantages(r, 4)
    torch.testing.assert_close(adv, torch.tensor([2 / 3, -2 / 3, 0.0, 0.0]))
    torch.testing.assert_close(adv, 4 / 3 * (r - r.mean()))  # k/(k-1) times the mean-centred reward
    assert abs(adv.sum()) < 1e-6


class _OneProcess:
    num_processes = 1

    def gather(self, x):
        return x

    gather_for_metrics = gather

    def reduce(self, x, reduction="sum"):
        return x


@pytest.mark.parametrize("eps", [(0.2, 0.2), (0.2, 0.28)])
@pytest.mark.parametrize("seed", [0, 1])
def test_loss_and_gradient_equal_trl(eps, seed):
    g = torch.Generator().manual_seed(seed)
    n, t = 8, 7
    mask = (torch.arange(t)[None] < torch.randint(2, t + 1, (n, 1), generator=g)).float()
    old = -torch.rand(n, t, generator=g) * 2
    new = old + torch.randn(n, t, generator=g) * 0.3  # some sequence ratios inside the clip range, some out
    adv = rloo.rloo_advantages(torch.rand(n, generator=g), 4)
    ours_in, trl_in = new.clone().requires_grad_(), new.clone().requires_grad_()

    fake = SimpleNamespace(
        epsilon_low=eps[0], epsilon_high=eps[1], aux_loss_enabled=False, model=SimpleNamespace(training=True),
        accelerator=_OneProcess(), _metrics={"train": defaultdict(list)},
        _get_per_token_logps_and_entropies=lambda *a, **k: (trl_in, torch.zeros(n, t), None),
    )
    inputs = {"prompt_ids": torch.zeros(n, 3, dtype=torch.long), "prompt_mask": torch.ones(n, 3),
              "completion_ids": torch.zeros(n, t, dtype=torch.long), "completion_mask": mask,
              "old_logps": (old * mask).sum(-1), "advantages": adv}
    theirs = RLOOTrainer._compute_loss(fake, None, inputs)
    ours = rloo.rloo_loss(ours_in, old, adv, mask, epsilon_low=eps[0], epsilon_high=eps[1])
    torch.testing.assert_close(ours, theirs)
    ours.backward(), theirs.backward()
    torch.testing.assert_close(ours_in.grad, trl_in.grad)
    assert ours_in.grad.abs().sum() > 0
    assert 0 < fake._metrics["train"]["clip_ratio/region_mean"][0] < 1  # the clip was exercised


@pytest.mark.parametrize("normalize", [False, True])
def test_advantages_equal_a_real_rloo_trainer(mini_model, tmp_path, normalize):
    """One real RLOOTrainer step: its logged rewards -> our advantages == its advantages, logged and used."""
    from trl import RLOOConfig

    from rl_helpers import one_step_trainer

    trainer = one_step_trainer(RLOOTrainer, RLOOConfig, mini_model, tmp_path, normalize_advantages=normalize,
                               beta=0.0)
    seen = []
    original = trainer._compute_loss
    trainer._compute_loss = lambda model, inputs: seen.append(inputs["advantages"].detach().clone()) or original(
        model, inputs)
    trainer.train()
    rewards = torch.tensor(list(trainer._logs["rewards"]["wiggly_reward"]))
    assert rewards.numel() == 8 and rewards.std() > 0
    ours = rloo.rloo_advantages(rewards, 4, normalize=normalize)
    logged = torch.tensor(list(trainer._logs["advantages"]))  # in generation order, as the rewards
    torch.testing.assert_close(ours, logged, atol=1e-5, rtol=1e-4)
    used = torch.cat(seen)  # what the loss received: the same values, shuffled into mini-batches
    torch.testing.assert_close(used.sort().values, ours.sort().values, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("beta", [0.05, 0.5])
def test_kl_in_the_reward_equals_a_real_rloo_trainer(mini_model, tmp_path, beta):
    """beta > 0: TRL's advantages == ours from its raw rewards, minus beta x the summed log-ratio of the policy that
    sampled to the reference (the adapters switched off), both read from the same step."""
    from trl import RLOOConfig

    from rl_helpers import nudge_lora, one_step_trainer

    trainer = one_step_trainer(RLOOTrainer, RLOOConfig, mini_model, tmp_path, beta=beta, max_completion_length=16)
    nudge_lora(trainer.model)  # PEFT starts at the reference exactly; this makes the KL term non-zero
    logps, batches = [], []
    per_token = trainer._get_per_token_logps_and_entropies
    trainer._get_per_token_logps_and_entropies = lambda *a, **k: logps.append(per_token(*a, **k)) or logps[-1]
    generate = trainer._generate_and_score_completions
    trainer._generate_and_score_completions = lambda inputs: batches.append(generate(inputs)) or batches[-1]
    trainer.train()

    (batch,) = batches
    old, ref = logps[0][0], logps[1][0]  # the two calls made while scoring the samples: policy, then reference
    mask = batch["completion_mask"].float()
    kl = ((old - ref) * mask).sum(-1)
    assert kl.abs().min() > 1e-4  # the term is exercised on every sample
    torch.testing.assert_close(batch["old_logps"], (old * mask).sum(-1))  # the batch's own record of the policy
    raw = torch.tensor(list(trainer._logs["rewards"]["wiggly_reward"]))
    ours = rloo.rloo_advantages(rloo.kl_penalized_rewards(raw, old, ref, mask, beta), 4)
    torch.testing.assert_close(ours, batch["advantages"], atol=1e-5, rtol=1e-4)
    without = rloo.rloo_advantages(raw, 4)
    assert (without - batch["advantages"]).abs().max() > 100 * 1e-5  # leaving the term out would have failed


def test_kl_penalty_enters_the_reward_as_a_sequence_sum():
    r = torch.tensor([1.0, 0.0])
    old, ref = torch.tensor([[-1.0, -2.0, -9.0], [-1.0, -1.0, -1.0]]), torch.tensor([[-1.5, -2.5, 0.0], [-1.0] * 3])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    torch.testing.assert_close(rloo.kl_penalized_rewards(r, old, ref, mask, beta=0.1), torch.tensor([0.9, 0.0]))
    assert rloo.kl_penalized_rewards(r, old, ref, mask, beta=0.0) is r
