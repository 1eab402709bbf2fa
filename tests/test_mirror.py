"""RLKIT_HUB_MIRROR: hub ids of models and datasets read from a local folder, through the same loading code."""

import json
import shutil

import pytest
import torch

from rlkit import hub, mirror, modeling
from rlkit.errors import RlkitError
from rlkit.rewards import get_reward


@pytest.fixture
def mirror_dir(monkeypatch, tmp_path, offline_empty_cache):
    """A mirror folder set in RLKIT_HUB_MIRROR, the Hub offline and its caches empty."""
    root = tmp_path / "mirror"
    root.mkdir()
    monkeypatch.setenv(mirror.MIRROR_ENV, str(root))
    return root


def write_split(root, hub_id, config, split, rows):
    folder = mirror.dataset_folder(hub_id, config, root)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


GSM8K = [{"question": "Tom has 3 apples and buys 4 more. How many apples does he have?",
          "answer": "He has 3 + 4 = <<3+4=7>>7 apples.\n#### 7"},
         {"question": "A box holds 12 eggs. How many eggs are in 100 boxes?",
          "answer": "100 * 12 = <<100*12=1200>>1200\n#### 1,200"}]


def test_a_model_id_loads_from_the_mirror_without_network(mirror_dir, mini_model):
    shutil.copytree(mini_model, mirror_dir / "Qwen" / "Qwen2.5-0.5B")
    lm = modeling.load_model("Qwen/Qwen2.5-0.5B")
    tok = modeling.load_tokenizer("Qwen/Qwen2.5-0.5B")
    reference = modeling.load_model(str(mini_model))
    ids = tok("1 + 2 =", return_tensors="pt")["input_ids"]
    with torch.no_grad():
        assert torch.equal(lm(ids).logits, reference(ids).logits)


def test_a_model_the_mirror_lacks_names_the_folder_it_expected(mirror_dir):
    with pytest.raises(RlkitError, match=r"RLKIT_HUB_MIRROR is set .* no model 'Qwen/Qwen2.5-0.5B-Instruct'") as caught:
        modeling.load_model("Qwen/Qwen2.5-0.5B-Instruct")
    assert str(mirror_dir / "Qwen" / "Qwen2.5-0.5B-Instruct") in str(caught.value)
    with pytest.raises(RlkitError, match="no model 'microsoft/deberta-v3-base'"):
        from rlkit.reward_model import load_reward_model

        load_reward_model("microsoft/deberta-v3-base")


def test_without_the_setting_ids_and_local_folders_pass_through(monkeypatch, tmp_path):
    monkeypatch.delenv(mirror.MIRROR_ENV, raising=False)
    assert mirror.mirror_root() is None
    assert mirror.model_path("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"
    monkeypatch.setenv(mirror.MIRROR_ENV, str(tmp_path))
    assert mirror.model_path(str(tmp_path)) == str(tmp_path)  # a local folder is never looked up in the mirror


def test_a_mirror_setting_that_is_not_a_folder_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv(mirror.MIRROR_ENV, str(tmp_path / "missing"))
    with pytest.raises(RlkitError, match="is not a folder.*unset it"):
        modeling.resolve_model_path("Qwen/Qwen2.5-0.5B")


def test_a_hub_dataset_loads_from_the_mirror_through_its_mapper(mirror_dir):
    write_split(mirror_dir, "openai/gsm8k", "main", "train", GSM8K)
    write_split(mirror_dir, "openai/gsm8k", "main", "test", GSM8K[:1])
    rows = hub.load_hub_task("gsm8k", "train", n=2, seed=0)
    assert sorted(rows["answer"]) == ["1200", "7"]
    assert all("<<" not in r["completion"][0]["content"] for r in rows)  # the mapper ran: annotations gone
    scores = get_reward("math")(completions=rows["completion"], answer=rows["answer"])
    assert scores == [1.0, 1.0]
    train, held_out = hub.load_splits("gsm8k", 2, 1, seed=0)
    assert len(train) == 2 and len(held_out) == 1


def test_a_dataset_with_its_own_split_names_and_message_lists(mirror_dir):
    prompt = "Name a primary colour."
    row = {"prompt": prompt, "prompt_id": "x",
           "chosen": [{"role": "user", "content": prompt}, {"role": "assistant", "content": "Red."}],
           "rejected": [{"role": "user", "content": prompt}, {"role": "assistant", "content": "Green."}],
           "messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": "Red."}],
           "score_chosen": 9.0, "score_rejected": 3.5}
    write_split(mirror_dir, "HuggingFaceH4/ultrafeedback_binarized", None, "train_prefs", [row])
    rows = hub.load_hub_task("ultrafeedback", "train")
    assert rows[0]["chosen"] == [{"role": "assistant", "content": "Red."}]
    with pytest.raises(RlkitError, match=r"no split 'test_prefs' .*splits there: train_prefs"):
        hub.load_hub_task("ultrafeedback", "test")


def test_a_dataset_the_mirror_lacks_is_an_error_not_a_download(mirror_dir):
    with pytest.raises(RlkitError, match=r"no split 'test' of 'HuggingFaceH4/MATH-500'.*default/test.jsonl"):
        hub.load_hub_task("math500", "test")


def test_the_banner_says_the_mirror_is_in_use(mirror_dir, capsys):
    from rlkit.config import make_config
    from rlkit.runtime import setup

    info = setup(make_config("sft", "smoke"))
    assert info["hub_mirror"] == str(mirror_dir) and "RLKIT_HUB_MIRROR" in capsys.readouterr().out
