"""Helpers shared by the tests that run one real TRL RL step (not fixtures: imported by name)."""


def wiggly_reward(completions, **kwargs):
    """A deterministic reward with spread within groups and, now and then, a tied group."""
    return [float(len(c[0]["content"]) % 3) for c in completions]


def one_step_trainer(trainer_cls, config_cls, model_path, output_dir, **settings):
    """A real TRL RL trainer (GRPO or RLOO) set up for one step of 2 prompts x 4 completions on the mini model.

    Returns the trainer untrained, so a test can wrap its methods before calling ``train()``.
    """
    from datasets import Dataset

    from rlkit import modeling

    lm, tok = modeling.load_policy(str(model_path), lora_r=4, lora_alpha=8)
    prompts = [[{"role": "user", "content": f"{a} + {a} ="}] for a in range(4)]
    args = config_cls(output_dir=str(output_dir), max_steps=1, per_device_train_batch_size=8, num_generations=4,
                      report_to="none", use_cpu=True, seed=0, logging_steps=1, save_strategy="no",
                      **{"learning_rate": 1e-4, "max_completion_length": 8, **settings})
    return trainer_cls(model=lm, reward_funcs=wiggly_reward, args=args, processing_class=tok,
                       train_dataset=Dataset.from_dict({"prompt": prompts}))


def nudge_lora(model, seed: int = 0, scale: float = 0.05) -> dict:
    """Give every LoRA ``B`` matrix small random values (PEFT starts them at 0, where ``A`` gets no gradient and
    the adapted model equals its reference), and return a copy of the trainable weights."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.copy_(torch.randn(param.shape, generator=g, dtype=param.dtype) * scale)
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
