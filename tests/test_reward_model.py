"""The reward model 04_rloo trains: offline loading, its own tokenizer, checks with fixes, win rate."""

import copy

import pytest
import torch

from rlkit import data, reward_model
from rlkit.errors import RlkitError


@pytest.fixture(scope="module")
def minilm():
    return reward_model.load_reward_model(reward_model.OFFLINE_REWARD_MODEL, device="cpu")


def test_offline_reward_model_loads_from_the_installed_package_with_one_output(minilm):
    model, tok = minilm
    assert model.config.num_labels == 1 and model.config.pad_token_id == tok.pad_token_id
    assert 20e6 < sum(p.numel() for p in model.parameters()) < 25e6  # MiniLM-L6: ~22.7M
    batch = tok(["[CLS] a [SEP] b [SEP]"], return_tensors="pt", add_special_tokens=False)
    assert model(**batch).logits.shape == (1, 1)


def test_chat_template_drops_the_system_prompt_and_separates_question_and_answer(minilm):
    _, tok = minilm
    row = data.generate_rows("instruct", 1, 0, held_out=False)[0]
    text = reward_model.render(tok, row["prompt"], row["completion"])
    assert text.startswith("[CLS]") and text.count("[SEP]") == 2
    assert data.SYSTEM_PROMPT not in text and row["prompt"][-1]["content"] in text
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id  # special tokens survive lower-casing


def test_a_tokenizer_the_trainers_cannot_use_is_refused_with_the_fix(minilm):
    _, tok = minilm
    no_pad = copy.deepcopy(tok)
    no_pad.pad_token = None
    no_pad.eos_token = None
    with pytest.raises(RlkitError, match="neither a pad token nor an eos token.*pad_token"):
        reward_model.check_reward_tokenizer(no_pad)
    no_template = copy.deepcopy(tok)
    no_template.chat_template = None
    with pytest.raises(RlkitError, match="no chat template.*encoder_chat_template"):
        reward_model.check_reward_tokenizer(no_template)
    with pytest.raises(RlkitError, match="unknown token.*cannot tell"):
        reward_model.check_reward_tokenizer(tok, ["\U0001F600\U0001F680 \U0001F9EA\U0001F9F2 \U0001F6F8"] * 3)
    reward_model.check_reward_tokenizer(tok, ["<answer>elppa</answer>", "1, 5, 9"])


def test_uncased_tokenizer_cannot_see_a_case_only_difference(minilm):
    from datasets import Dataset

    _, tok = minilm
    p = [{"role": "user", "content": "Write the word apple in capital letters."}]
    pairs = Dataset.from_list([
        {"prompt": p, "chosen": [{"role": "assistant", "content": "APPLE"}],
         "rejected": [{"role": "assistant", "content": "apple"}]},
        {"prompt": p, "chosen": [{"role": "assistant", "content": "APPLE"}],
         "rejected": [{"role": "assistant", "content": "APPL"}]},
    ])
    assert reward_model.distinguishable(tok, pairs) == [False, True]


def test_win_rate_counts_ties_half_and_a_policy_against_itself_is_half():
    assert reward_model.win_rate([1.0, 0.0, 2.0, 5.0], [0.0, 1.0, 2.0, 1.0]) == pytest.approx(0.625)
    s = torch.randn(50).tolist()
    assert reward_model.win_rate(s, s) == 0.5
    with pytest.raises(ValueError):
        reward_model.win_rate([1.0], [])


def test_plausible_mistakes_are_wrong_by_the_verifier():
    from rlkit import rewards

    pairs = data.generate_rows("instruct_pairs", 200, 3, held_out=False)
    good = rewards.exact_reward([p["chosen"] for p in pairs], answer=[p["answer"] for p in pairs])
    bad = rewards.exact_reward([p["rejected"] for p in pairs], answer=[p["answer"] for p in pairs])
    assert good == [1.0] * 200
    # "capital letters" mistakes differ only in case, which exact_reward ignores; every other mistake is wrong
    for p, b in zip(pairs, bad):
        assert b == 0.0 or p["prompt"][-1]["content"].startswith("Write the word")
    assert sum(bad) < 40


def test_rloo_trainer_refuses_a_reward_model_without_its_tokenizer(minilm, mini_model, tmp_path):
    from datasets import Dataset

    from rlkit import config, modeling, training

    model, _ = minilm
    lm, tok = modeling.load_policy(str(mini_model), lora_r=4, lora_alpha=8)
    cfg = config.make_config("rloo", "smoke", output_dir=str(tmp_path))
    prompts = Dataset.from_dict({"prompt": [[{"role": "user", "content": "hi"}]] * 4})
    with pytest.raises(RlkitError, match="reward_processing_classes=\\[rm_tokenizer\\]"):
        training.rloo_trainer(lm, tok, prompts, [model], cfg)
