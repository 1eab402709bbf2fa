"""rlkit.dpo (what 02_dpo teaches) equals TRL's DPOTrainer on identical tensors.

The loss test runs TRL's own ``DPOTrainer._compute_loss`` with a stand-in ``self`` and a stand-in
model that returns our per-token log-probs, so the code under comparison is TRL's, line for line.
The end-to-end test builds a real DPOTrainer on the mini model and checks that, on one collated
batch, its loss equals ours computed from our own forward passes (policy and LoRA-free reference).
"""

from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
from trl import DPOTrainer

from rlkit import checks, dpo
from rlkit.errors import RlkitError


class _OneProcess:
    num_processes = 1
    device = torch.device("cpu")

    def gather(self, x):
        return x

    gather_for_metrics = gather


def _trl_loss(per_token_logps, completion_mask, ref_chosen, ref_rejected, beta):
    """TRL's _compute_loss; the model returns ``per_token_logps`` aligned with completion_mask[:, 1:].

    Like TRL's fused LM head, the stand-in model gives log-probs only where the label is not -100.
    """
    b2, t = per_token_logps.shape
    per_token_logps = per_token_logps * completion_mask[:, 1:]

    def fake_model(**kwargs):
        return SimpleNamespace(log_probs=per_token_logps, entropy=torch.zeros(b2, t), mean_logits=torch.zeros(b2, t),
                               is_top1=torch.zeros(b2, t, dtype=torch.bool))

    fake = SimpleNamespace(
        model=SimpleNamespace(training=True), accelerator=_OneProcess(), aux_loss_enabled=False, ld_alpha=None,
        precompute_ref_logps=True, f_divergence_type="reverse_kl", loss_types=["sigmoid"], loss_weights=[1.0],
        beta=beta, use_weighting=False, _metrics={"train": defaultdict(list)}, _total_train_tokens=0, _tp_size=1,
    )
    inputs = {"input_ids": torch.zeros(b2, t + 1, dtype=torch.long), "attention_mask": torch.ones(b2, t + 1),
              "completion_mask": completion_mask, "ref_chosen_logps": ref_chosen, "ref_rejected_logps": ref_rejected}
    return DPOTrainer._compute_loss(fake, fake_model, inputs, return_outputs=False), fake._metrics["train"]


@pytest.mark.parametrize("beta", [0.01, 0.1, 0.5])
@pytest.mark.parametrize("seed", [0, 1])
def test_loss_gradient_and_logged_rewards_equal_trl(beta, seed):
    g = torch.Generator().manual_seed(seed)
    b, t = 5, 9
    completion_mask = (torch.arange(t + 1)[None] >= torch.randint(2, 5, (2 * b, 1), generator=g)).long()
    completion_mask[:, -2:] *= torch.randint(0, 2, (2 * b, 1), generator=g)  # some padded tails
    completion_mask[:, -3] = 1
    token_logps = (-torch.rand(2 * b, t, generator=g) * 4) * completion_mask[:, 1:]  # 0 where not completion
    ref_chosen, ref_rejected = -torch.rand(b, generator=g) * 20, -torch.rand(b, generator=g) * 20

    ours_in, trl_in = token_logps.clone().requires_grad_(), token_logps.clone().requires_grad_()
    seq = (ours_in * completion_mask[:, 1:]).sum(-1)
    ours = dpo.dpo_loss(seq[:b], seq[b:], ref_chosen, ref_rejected, beta=beta)
    theirs, metrics = _trl_loss(trl_in, completion_mask, ref_chosen, ref_rejected, beta)

    torch.testing.assert_close(ours.loss, theirs)
    ours.loss.backward(), theirs.backward()
    torch.testing.assert_close(ours_in.grad, trl_in.grad)
    assert ours_in.grad.abs().sum() > 0
    assert metrics["rewards/chosen"][0] == pytest.approx(ours.chosen_rewards.mean().item(), rel=1e-5)
    assert metrics["rewards/rejected"][0] == pytest.approx(ours.rejected_rewards.mean().item(), rel=1e-5)
    assert metrics["rewards/margins"][0] == pytest.approx(ours.margins.mean().item(), rel=1e-5, abs=1e-6)
    assert metrics["rewards/accuracies"][0] == pytest.approx(ours.accuracy)


def test_policy_equal_to_reference_gives_log_2_and_pushes_chosen_up():
    lp = torch.tensor([-3.0, -7.0, -1.5], requires_grad=True)
    rej = torch.tensor([-4.0, -2.0, -6.0], requires_grad=True)
    out = dpo.dpo_loss(lp, rej, lp.detach(), rej.detach(), beta=0.1)
    torch.testing.assert_close(out.loss, torch.log(torch.tensor(2.0)))
    out.loss.backward()
    assert torch.all(lp.grad < 0) and torch.all(rej.grad > 0)  # descent raises chosen, lowers rejected
    # the gradient is beta * sigmoid(-margin) / B = 0.1 * 0.5 / 3 per pair at the start
    torch.testing.assert_close(lp.grad, torch.full((3,), -0.1 * 0.5 / 3))


def test_real_dpo_trainer_loss_equals_ours_on_one_batch(mini_model):
    from datasets import Dataset
    from trl import DPOConfig

    from rlkit import modeling

    lm, tok = modeling.load_policy(str(mini_model), lora_r=4, lora_alpha=8)
    rows = [{"prompt": [{"role": "user", "content": f"{a} + {a} ="}],
             "chosen": [{"role": "assistant", "content": f"<answer>{2 * a}</answer>"}],
             "rejected": [{"role": "assistant", "content": f"<answer>{2 * a + 1} wrong</answer>"}]} for a in range(4)]
    args = DPOConfig(output_dir="unused", per_device_train_batch_size=4, beta=0.1, report_to="none", use_cpu=True,
                     max_length=64, disable_dropout=True)
    trainer = DPOTrainer(model=lm, args=args, processing_class=tok, train_dataset=Dataset.from_list(rows))
    batch = next(iter(trainer.get_train_dataloader()))
    with torch.no_grad():  # as if training had moved the adapters: now policy != reference (the start)
        for name, p in lm.named_parameters():
            if "lora_B" in name and ".ref." not in name:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(len(name)))
    lm.eval()
    with torch.no_grad():
        theirs = trainer.compute_loss(lm, batch)
        seq = dpo.sequence_logps(lm, batch["input_ids"], batch["attention_mask"], batch["completion_mask"])
        with lm.disable_adapter():
            ref = dpo.sequence_logps(lm, batch["input_ids"], batch["attention_mask"], batch["completion_mask"])
    ours = dpo.dpo_loss(seq[:4], seq[4:], ref[:4], ref[4:], beta=0.1)
    assert abs(ours.loss.item() - torch.log(torch.tensor(2.0)).item()) > 1e-4  # not the trivial start
    torch.testing.assert_close(ours.loss, theirs, atol=1e-5, rtol=1e-4)


def test_verifier_pairs_follow_p2s_rule():
    rows = [{"prompt": [{"role": "user", "content": q}], "answer": a} for q, a in (("a", "1"), ("b", "2"), ("c", "3"))]
    texts = [["x1", "x2", "x3"], ["y1", "y2"], ["z1", "z2"]]
    scores = [[1.0, 0.0, 0.0], [1.0, 1.0], [0.0, float("nan")]]  # mixed, all correct, all wrong
    pairs = dpo.verifier_pairs(rows, texts, scores, seed=0)
    assert len(pairs) == 1
    assert pairs[0]["chosen"][0]["content"] == "x1" and pairs[0]["rejected"][0]["content"] in ("x2", "x3")
    assert pairs[0]["answer"] == "1"
    best = dpo.best_worst_pairs(rows, [["p", "q", "r"], ["s", "t"], ["u", "v"]], [[0.1, 0.9, -2.0], [1, 1], [0, 3]])
    assert [(p["chosen"][0]["content"], p["rejected"][0]["content"]) for p in best] == [("q", "r"), ("v", "u")]


def test_sampled_verifier_pairs_are_labelled_by_the_verifier(mini_model, capsys):
    from datasets import Dataset

    from rlkit import data, modeling, rewards

    lm, tok = modeling.load_policy(str(mini_model), lora_r=0)
    rows = Dataset.from_list(data.generate_rows("arithmetic", 6, 1, held_out=False))
    pairs = dpo.sample_verifier_pairs(lm, tok, rows, rewards.math_reward, n_samples=3, max_new_tokens=12,
                                      batch_size=6, seed=0, gold_when_all_wrong=True)
    assert "6 prompts x 3 samples" in capsys.readouterr().out
    assert pairs, "an untrained model is wrong on every prompt, so each prompt must give a gold pair"
    for pair in pairs:
        verdict = rewards.math_reward([pair["chosen"], pair["rejected"]], answer=[pair["answer"]] * 2)
        assert verdict[0] == 1.0 and verdict[1] != 1.0  # chosen verified right, rejected not
    assert all("gold" not in pair for pair in pairs)
    marked = dpo.sample_verifier_pairs(lm, tok, rows, rewards.math_reward, n_samples=3, max_new_tokens=12,
                                       batch_size=6, seed=0, gold_when_all_wrong=True, mark_gold=True)
    assert [p["gold"] for p in marked] == [p["chosen"] == r["completion"] for p, r in zip(marked, [
        next(r for r in rows if r["prompt"] == p["prompt"]) for p in marked])]


def test_bad_preference_datasets_get_errors_that_say_what_to_change():
    from datasets import Dataset

    sft_rows = Dataset.from_dict({"prompt": ["q"], "completion": ["a"]})
    with pytest.raises(RlkitError, match="lacks \\['chosen', 'rejected'\\].*verifier_pairs"):
        checks.check_pairs(sft_rows)
    with pytest.raises(RlkitError, match="lacks \\['rejected'\\].*rename_column"):
        checks.check_pairs(Dataset.from_dict({"prompt": ["q"], "chosen": ["a"], "better": ["b"]}))
    with pytest.raises(RlkitError, match="empty"):
        checks.check_pairs(Dataset.from_dict({"prompt": [], "chosen": [], "rejected": []}))
    with pytest.raises(RlkitError, match="chosen == rejected"):
        checks.check_pairs(Dataset.from_dict({"prompt": ["q"], "chosen": ["a"], "rejected": ["a"]}))
    checks.check_pairs(Dataset.from_dict({"prompt": ["q"], "chosen": ["a"], "rejected": ["b"]}))
