"""TRL trainer plumbing: reward checks, SFT masking = TRL's, interrupt and resume, pre-flight."""

import json

import pytest
import torch
from datasets import Dataset
from rl_helpers import wiggly_reward
from transformers import TrainerCallback

from rlkit import checks, config, modeling, preflight, rewards, sft, training
from rlkit.data import task_splits
from rlkit.errors import RlkitError


def _data(n=16):
    train, _ = task_splits("arithmetic", n, 1, seed=0)
    return train


def test_reward_without_kwargs_names_the_fix():
    def strict(completions, answer):
        return [0.0] * len(completions)

    with pytest.raises(RlkitError, match=r"does not accept \*\*kwargs.*add \*\*kwargs"):
        checks.check_reward_funcs([strict], _data())


def test_reward_without_completions_names_the_fix():
    def wrong(texts, **kwargs):
        return [0.0] * len(texts)

    with pytest.raises(RlkitError, match=r"no 'completions' parameter.*def wrong\(completions, \*\*kwargs\)"):
        checks.check_reward_funcs([wrong], _data())


def test_reward_needing_a_missing_column_names_it():
    with pytest.raises(RlkitError, match=r"countdown_reward needs column\(s\) \['numbers', 'target'\]"):
        checks.check_reward_funcs([rewards.countdown_reward], _data())
    checks.check_reward_funcs([rewards.math_reward, rewards.format_reward], _data())  # these fit


def test_completion_mask_equals_trl(mini_model, tmp_path):
    lm, tok = modeling.load_policy(str(mini_model), lora_r=4, lora_alpha=8)
    data = sft.sft_mix("arithmetic", 6, seed=0)
    cfg = config.make_config("sft", "smoke", output_dir=str(tmp_path))
    trainer = training.sft_trainer(lm, tok, data, cfg)
    for i in range(len(data)):
        ours = sft.completion_mask(tok, data[i]["prompt"], data[i]["completion"])
        assert trainer.train_dataset[i]["input_ids"] == ours["input_ids"]
        assert trainer.train_dataset[i]["labels"] == sft.masked_labels(ours["input_ids"], ours["completion_mask"])
    assert any(label == -100 for label in trainer.train_dataset[0]["labels"])  # the prompt is masked


def _trainable_dtypes(model) -> set:
    return {p.dtype for p in model.parameters() if p.requires_grad}


@pytest.mark.parametrize("method", ["sft", "grpo", "dpo", "rloo"])
def test_a_4bit_policy_keeps_fp32_adapters_in_every_trainer_unless_the_rule_is_bf16(mini_model, tmp_path, method):
    """TRL casts a quantized model's adapters to bf16 in each trainer's __init__; fp16 autocast (a T4) cannot
    unscale bf16 gradients, so unless the precision rule is bf16 the kit puts them back in fp32."""
    def build(out):
        cfg = config.make_config(method, "smoke", output_dir=str(out), model=str(mini_model), load_in_4bit=True,
                                 lora_r=4, lora_alpha=8)
        lm, tok = modeling.load_policy(cfg.model, load_in_4bit=True, lora_r=4, lora_alpha=8)
        assert _trainable_dtypes(lm) == {torch.float32}  # as PEFT creates them
        if method == "sft":
            return training.sft_trainer(lm, tok, sft.sft_mix("arithmetic", 4, seed=0), cfg)
        if method == "dpo":
            pairs = Dataset.from_list([{"prompt": r["prompt"], "chosen": r["completion"],
                                        "rejected": [{"role": "assistant", "content": "<answer>0</answer>"}]}
                                       for r in _data(4)])
            return training.dpo_trainer(lm, tok, pairs, cfg)
        build_rl = training.grpo_trainer if method == "grpo" else training.rloo_trainer
        return build_rl(lm, tok, _data(), [rewards.math_reward], cfg)

    assert _trainable_dtypes(build(tmp_path / "fp32").model) == {torch.float32}  # this machine: the fp32 rule
    # TRL's own cast is what this undoes (if TRL stops casting, this test says so):
    rule_bf16 = modeling.Precision("cpu", torch.bfloat16, "a faked bf16 rule")
    common_args = training.common_args  # the real one, under the faked rule without bf16 autocast on this CPU
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(modeling, "precision", lambda: rule_bf16)
        patch.setattr(training, "common_args", lambda cfg: {**common_args(cfg), "bf16": False})
        assert _trainable_dtypes(build(tmp_path / "bf16").model) == {torch.bfloat16}  # QLoRA as TRL does it


class _Interrupt(TrainerCallback):
    """Raise in the middle of training, after a checkpoint was written: a crash or Ctrl-C."""

    def __init__(self, at_step):
        self.at_step = at_step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.at_step:
            raise KeyboardInterrupt


class _CountSteps(TrainerCallback):
    def __init__(self):
        self.steps = []

    def on_step_end(self, args, state, control, **kwargs):
        self.steps.append(state.global_step)


def _grpo(mini_model, out, **kw):
    cfg = config.make_config("grpo", "smoke", output_dir=str(out), model=str(mini_model), max_steps=4, save_steps=2,
                             load_in_4bit=False, lora_r=4, lora_alpha=8, **kw)
    lm, tok = modeling.load_policy(cfg.model, load_in_4bit=False, lora_r=cfg.lora_r, lora_alpha=cfg.lora_alpha)
    trainer = training.grpo_trainer(lm, tok, _data(), [wiggly_reward, rewards.math_reward], cfg)
    return cfg, trainer


def test_interrupted_grpo_run_resumes_from_its_checkpoint(mini_model, tmp_path):
    cfg, trainer = _grpo(mini_model, tmp_path)
    trainer.add_callback(_Interrupt(at_step=3))
    with pytest.raises(KeyboardInterrupt):
        training.train(trainer, cfg)
    assert training.last_checkpoint(cfg).endswith("checkpoint-2")
    saved_adapter = {k: v.clone() for k, v in trainer.model.state_dict().items() if "lora_B" in k}

    cfg, trainer = _grpo(mini_model, tmp_path)  # "run the notebook again"
    counter = _CountSteps()
    trainer.add_callback(counter)
    training.train(trainer, cfg)
    assert counter.steps == [3, 4]  # only the missing steps ran
    assert trainer.state.global_step == 4
    logged = [h["step"] for h in trainer.state.log_history if "reward" in h]
    assert logged[:2] == [1, 2]  # the first run's history came back with the checkpoint
    now = {k: v for k, v in trainer.model.state_dict().items() if "lora_B" in k}
    assert any(not torch.equal(saved_adapter[k], now[k]) for k in now)  # and training went on from it


def test_a_finished_run_run_again_loads_its_weights_and_trains_no_further(mini_model, tmp_path):
    cfg, trainer = _grpo(mini_model, tmp_path)
    training.train(trainer, cfg)
    assert trainer.state.global_step == cfg.max_steps
    trained = {k: v.clone() for k, v in trainer.model.state_dict().items() if "lora_" in k}

    cfg, trainer = _grpo(mini_model, tmp_path)  # "run the notebook again": a fresh policy, the same folder
    counter = _CountSteps()
    trainer.add_callback(counter)
    assert training.train(trainer, cfg) == 0.0
    assert counter.steps == [] and trainer.state.global_step == cfg.max_steps  # transformers alone ran one more
    assert training.last_checkpoint(cfg).endswith(f"checkpoint-{cfg.max_steps}")
    now = {k: v for k, v in trainer.model.state_dict().items() if "lora_" in k}
    assert all(torch.equal(trained[k], now[k]) for k in trained)  # the finished run's weights, not fresh ones
    assert any("reward" in h for h in trainer.state.log_history)  # and its history, for the plots


def test_resume_refuses_a_checkpoint_from_other_settings(mini_model, tmp_path):
    cfg, trainer = _grpo(mini_model, tmp_path, learning_rate=1e-4)
    trainer.add_callback(_Interrupt(at_step=3))
    with pytest.raises(KeyboardInterrupt):
        training.train(trainer, cfg)
    cfg2, trainer2 = _grpo(mini_model, tmp_path, learning_rate=3e-4)
    with pytest.raises(RlkitError, match=r"different \['learning_rate'\].*delete that folder or choose another OUTPUT_DIR"):
        training.train(trainer2, cfg2)
    sig = json.loads((training.checkpoint_dir(cfg) / "run_signature.json").read_text())
    assert sig["learning_rate"] == 1e-4


def test_preflight_flags_a_model_that_never_answers(mini_model):
    cfg = config.make_config("grpo", "smoke", model=str(mini_model), max_completion_length=8)
    lm, tok = modeling.load_policy(cfg.model, load_in_4bit=False, lora_r=4, lora_alpha=8)
    report = preflight.preflight(lm, tok, _data(8), [rewards.math_reward], cfg, n_prompts=4)
    by_name = {c.name: c for c in report.checks}
    assert not by_name["format compliance"].ok  # a 3-step-pretrained model writes no <answer> tags
    assert by_name["groups with zero reward variance"].value == 1.0
    assert by_name["LoRA parameters require grad"].ok and by_name["batch holds whole groups"].ok
    assert not report.ready and "FIX" in str(report) and "will probably not learn" in str(report)


def test_preflight_batch_check_reports_the_fix():
    cfg = config.make_config("grpo", "smoke")
    cfg.batch_size = 6  # made invalid after validation, as a user editing the object could
    check = preflight._batch_check(cfg)
    assert not check.ok and "NUM_GENERATIONS" in check.advice


def test_user_dataset_missing_reward_columns_fails_before_training(mini_model, tmp_path):
    data = Dataset.from_list([{"prompt": [{"role": "user", "content": "1 + 1 ="}], "solution": "2"}] * 4)
    cfg = config.make_config("grpo", "smoke", output_dir=str(tmp_path), model=str(mini_model))
    lm, tok = modeling.load_policy(cfg.model, load_in_4bit=False, lora_r=4, lora_alpha=8)
    with pytest.raises(RlkitError, match=r"math_reward needs column\(s\) \['answer'\]"):
        training.grpo_trainer(lm, tok, data, [rewards.math_reward], cfg)
