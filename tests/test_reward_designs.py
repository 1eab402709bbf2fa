"""The three reward-model designs of 04_rloo, section 10: the Siamese split, what each design can see, and
that TRL's trainers take all three (training, checkpoint and resume)."""

import pytest
import torch
from datasets import Dataset

from rlkit import config, reward_designs, reward_model, training
from rlkit.errors import RlkitError


@pytest.fixture(scope="module")
def siamese():
    return reward_designs.load_design("siamese", encoder=reward_model.OFFLINE_REWARD_MODEL, policy="", device="cpu")


def _conversation(question, answer):
    return [{"role": "user", "content": question}], [{"role": "assistant", "content": answer}]


def test_split_handles_both_padding_sides_and_a_missing_separator():
    right = torch.tensor([[101, 7, 8, 102, 9, 102, 0, 0]])
    left = torch.tensor([[0, 0, 101, 7, 8, 102, 9, 102]])
    for ids in (right, left):
        p, pm, a, am = reward_designs.split_at_separator(ids, (ids != 0).long(), sep_id=102, cls_id=101)
        assert (p * pm).tolist() == [[101, 7, 8, 102]] and pm.tolist() == [[1, 1, 1, 1]]
        assert (a * am).tolist() == [[101, 9, 102]] and am.tolist() == [[1, 1, 1]]
    cut = torch.tensor([[101, 7, 8, 9]])  # truncated before any separator: all prompt, the answer is [CLS] alone
    p, pm, a, am = reward_designs.split_at_separator(cut, torch.ones_like(cut), sep_id=102, cls_id=101)
    assert p.tolist() == [[101, 7, 8, 9]] and a.tolist() == [[101]] and am.tolist() == [[1]]


def test_the_siamese_answer_vector_never_sees_the_prompt_but_the_score_does(siamese):
    model, tok = siamese
    model.eval()

    def parts(question, answer):
        prompt, completion = _conversation(question, answer)
        batch = tok([reward_model.render(tok, prompt, completion)], return_tensors="pt", add_special_tokens=False)
        p_ids, p_mask, a_ids, a_mask = reward_designs.split_at_separator(
            batch["input_ids"], batch["attention_mask"], tok.sep_token_id, tok.cls_token_id)
        with torch.no_grad():
            return model.embed(p_ids, p_mask), model.embed(a_ids, a_mask), model(**batch).logits

    u1, v1, s1 = parts("What is 2 + 2?", "<answer>4</answer>")
    u2, v2, s2 = parts("What is 9 - 3 + 1?", "<answer>4</answer>")
    assert torch.allclose(v1, v2, atol=1e-5)  # the same answer embeds the same whatever the question
    assert not torch.allclose(u1, u2) and not torch.allclose(s1, s2)
    # the cross-encoder, by contrast, reads the answer in the light of the question
    cross, cross_tok = reward_model.load_reward_model(reward_model.OFFLINE_REWARD_MODEL, device="cpu")
    hidden = []
    for question in ("What is 2 + 2?", "What is 9 - 3 + 1?"):
        text = reward_model.render(cross_tok, *_conversation(question, "<answer>4</answer>"))
        batch = cross_tok([text], return_tensors="pt", add_special_tokens=False)
        with torch.no_grad():
            hidden.append(cross.bert(**batch).last_hidden_state[0, -3])  # a token of the answer
    assert not torch.allclose(hidden[0], hidden[1], atol=1e-4)


def test_padding_does_not_change_any_design_s_score(siamese, mini_model):
    decoder = reward_designs.load_design("decoder", encoder="", policy=str(mini_model), device="cpu")
    for model, tok in (siamese, decoder):
        model.eval()
        texts = [reward_model.render(tok, *_conversation("What is 1 + 1?", "<answer>2</answer>")),
                 reward_model.render(tok, *_conversation("What is 12 + 30 - 7?", "12 + 30 = 42\n42 - 7 = 35"))]
        with torch.no_grad():
            alone = [model(**tok([t], return_tensors="pt", add_special_tokens=False)).logits.item() for t in texts]
            for side in ("left", "right"):
                tok.padding_side = side
                batch = tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
                together = model(**batch).logits[:, 0].tolist()
                assert together == pytest.approx(alone, abs=1e-4), (type(model).__name__, side)


@pytest.mark.parametrize("design", ["siamese", "decoder"])
def test_reward_trainer_trains_and_resumes_every_design(design, mini_model, tmp_path):
    rows = []
    for i in range(32):
        prompt, good = _conversation(f"What is {i} + 1?", f"<answer>{i + 1}</answer>")
        rows.append({"prompt": prompt, "chosen": good, "rejected": [{"role": "assistant", "content": "no idea"}]})
    pairs = Dataset.from_list(rows)
    model, tok = reward_designs.load_design(design, encoder=reward_model.OFFLINE_REWARD_MODEL, policy=str(mini_model),
                                            device="cpu")
    cfg = config.make_config("reward", "smoke", output_dir=str(tmp_path), max_steps=4, save_steps=2,
                             learning_rate=1e-3, batch_size=8)
    before = reward_model.pairwise_accuracy(model, tok, pairs)
    training.train(training.reward_trainer(model, tok, pairs, cfg), cfg)
    after = reward_model.pairwise_accuracy(model, tok, pairs)
    assert after > before or after == 1.0, (design, before, after)  # a trivially separable preference
    assert training.last_checkpoint(cfg).endswith("checkpoint-4")
    cfg.max_steps = 6  # a second run picks up the checkpoint instead of starting over
    again, again_tok = reward_designs.load_design(design, encoder=reward_model.OFFLINE_REWARD_MODEL,
                                                  policy=str(mini_model), device="cpu")
    trainer = training.reward_trainer(again, again_tok, pairs, cfg)
    training.train(trainer, cfg)
    assert trainer.state.global_step == 6


def test_designs_are_checked_with_what_to_write_instead():
    assert reward_designs.parse_designs("") == [] and reward_designs.parse_designs(None) == []
    assert reward_designs.parse_designs("cross-encoder, decoder") == ["cross-encoder", "decoder"]
    with pytest.raises(RlkitError, match="unknown design.*cross-encoder, siamese, decoder"):
        reward_designs.parse_designs("deberta")
    with pytest.raises(RlkitError, match="Unknown reward-model design 'bilinear'"):
        reward_designs.load_design("bilinear", encoder="", policy="")


