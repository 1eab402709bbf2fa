"""The offline tiny model and the one loading function (4-bit NF4 + LoRA on CPU)."""

import json
import re

import pytest
import torch

from rlkit import modeling, tiny
from rlkit.errors import RlkitError
from tests.conftest import MINI_RECIPE


def test_tiny_model_is_a_qwen2_with_qwen_tokens(mini_model):
    from transformers import AutoConfig, AutoTokenizer

    assert AutoConfig.from_pretrained(mini_model).architectures == ["Qwen2ForCausalLM"]
    tok = AutoTokenizer.from_pretrained(mini_model)
    for special in ("<|endoftext|>", "<|im_start|>", "<|im_end|>"):
        assert special in tok.get_vocab()
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    assert tok.tokenize("x 2026")[-4:] == ["2", "0", "2", "6"]  # digits one by one, as Qwen2
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text == ("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
                    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    info = json.loads((mini_model / "rlkit_recipe.json").read_text())
    assert info["recipe_hash"] == tiny.recipe_hash(MINI_RECIPE)


def test_build_refuses_a_tokenizer_that_loads_back_differently(monkeypatch, tmp_path):
    """transformers may rebuild a saved Qwen2 tokenizer with Qwen's own pre-tokenizer instead of the one in
    tokenizer.json; a model pretrained on one split and used with another would be broken without a sign."""
    from tokenizers import Regex, pre_tokenizers
    from transformers import AutoTokenizer

    real = AutoTokenizer.from_pretrained

    def reloaded_otherwise(path, **kwargs):
        tok = real(path, **kwargs)
        tok.backend_tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(r"\w"), behavior="isolated"),  # letters one by one: no merge applies
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
        return tok

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", reloaded_otherwise)
    with pytest.raises(RuntimeError, match="splits text differently once saved and loaded"):
        tiny.build(MINI_RECIPE, tmp_path / "model", verbose=False)
    assert not (tmp_path / "model").exists()


def test_build_is_deterministic(mini_model, tmp_path):
    from safetensors.torch import load_file

    again = tiny.build(MINI_RECIPE, tmp_path / "again", verbose=False)
    a, b = load_file(mini_model / "model.safetensors"), load_file(again / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_build_records_its_weights_and_the_machine_that_built_them(mini_model):
    """The same recipe builds other weights on another kind of CPU (README, reproducibility), so a build names its
    weights' sha256 and the kernels, threads and versions that made them; the banner reads it back."""
    info = json.loads((mini_model / "rlkit_recipe.json").read_text())
    assert info["weights_sha256"] == tiny.weights_sha256(mini_model)
    assert len(info["weights_sha256"]) == 64
    assert info["built_with"]["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert info["built_with"]["threads"] == torch.get_num_threads() and info["built_with"]["torch"] == torch.__version__
    line = tiny.provenance(mini_model)
    assert info["weights_sha256"][:12] in line and f"built with {torch.backends.cpu.get_cpu_capability()}" in line


def test_the_banner_names_the_cpu_kernels_and_the_tiny_build(monkeypatch, tmp_path, capsys, mini_model):
    import shutil

    from rlkit.config import make_config
    from rlkit.runtime import setup

    monkeypatch.setenv("RLKIT_CACHE", str(tmp_path))
    monkeypatch.delenv("RLKIT_TINY_RECIPE", raising=False)
    info = setup(make_config("sft", "smoke"))
    out = capsys.readouterr().out
    assert f"CPU kernels: {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads" in out
    assert "tiny model: not built yet" in out and info["tiny_model"].startswith("not built yet")
    cached = tiny.model_dir(tiny.active_recipe())  # an older build, without the record: its sha256 is computed
    shutil.copytree(mini_model, cached)
    record = json.loads((cached / "rlkit_recipe.json").read_text())
    del record["weights_sha256"], record["built_with"]
    (cached / "rlkit_recipe.json").write_text(json.dumps(record))
    setup(make_config("sft", "smoke"))
    out = capsys.readouterr().out
    assert f"weights sha256 {tiny.weights_sha256(mini_model)[:12]}, build machine not recorded" in out


def test_recipe_change_changes_the_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("RLKIT_CACHE", str(tmp_path))
    changed = {**MINI_RECIPE, "steps": 4}
    assert tiny.model_dir(MINI_RECIPE) != tiny.model_dir(changed)
    assert tiny.model_dir(MINI_RECIPE).parent == tmp_path


def test_pretraining_corpus_never_contains_held_out_questions():
    from rlkit.data import generate_rows, question_of

    corpus = tiny.build_corpus({**MINI_RECIPE, "corpus": {"arithmetic": 2000}})
    # a document is (context, target): "Problem: State ... problem: 3 + 4 =\n" -> "3 + 4 ="
    in_corpus = {context.rsplit(":", 1)[-1].strip() for context, _ in corpus}
    held_out = {question_of(r).rsplit(":", 1)[-1].strip() for r in generate_rows("arithmetic", 500, 0, True)}
    assert len(in_corpus) == 2000 and in_corpus.isdisjoint(held_out)


@pytest.mark.parametrize("task", ["countdown", "knights_knaves", "zebra"])
def test_pretraining_corpus_never_contains_held_out_puzzles(task):
    from rlkit.data import generate_rows, question_of

    corpus = tiny.build_corpus({**MINI_RECIPE, "corpus": {task: 200}})
    text = "\n".join(context for context, _ in corpus)
    held_out = [question_of(r) for r in generate_rows(task, 100, 0, True)]
    assert len(corpus) == 200 and not [q for q in held_out if q in text]


def test_copy_exercises_join_the_corpus_and_write_back_their_list_in_order():
    corpus = tiny.build_corpus({**MINI_RECIPE, "corpus": {"copy": 300}})
    assert len(corpus) == 300
    for context, target in corpus:
        listed = context.split("\n")[0].split(" ", 1)[1].removeprefix("meet ").rstrip(".").split(", ")
        assert target == "".join(f"({i + 1}) {item}\n" for i, item in enumerate(listed))
    assert any(context.count("\n") == 2 for context, _ in corpus)  # some carry sentences that mention the items


def test_form_exercises_fill_the_form_with_each_listed_choice_once():
    import random

    for seed in range(50):
        context, target = tiny.form_exercise(random.Random(seed))
        choices = dict(line.split(": ", 1) for line in context.splitlines()[1:-1])
        grid = json.loads(target)
        assert list(grid) == [f"House {h + 1}" for h in range(len(grid))]
        for category, listed in choices.items():
            assert sorted(house[category] for house in grid.values()) == listed.split(", ")
        assert all(list(house) == list(choices) for house in grid.values())


def test_facts_exercises_are_right_and_in_the_searches_notation():
    """Recipe 15's one-operation facts: right, the larger number first for - and /, a quotient only where it
    divides, numbers in the ranges a Countdown search meets."""
    corpus = tiny.build_corpus({**MINI_RECIPE, "corpus": {"facts": 200}})
    ops = {"+": int.__add__, "-": int.__sub__, "*": int.__mul__, "/": int.__floordiv__}
    seen = set()
    for context, target in corpus:
        assert context == "Facts:\n" and target.endswith("\n") and len(target.splitlines()) == 8
        for line in target.splitlines():
            a, op, b, eq, c = line.split()
            a, b, c = int(a), int(b), int(c)
            assert eq == "=" and ops[op](a, b) == c and 1 <= b <= 20 and 1 <= a <= 100, line
            if op in "-/":
                assert a >= b and (op == "-" or (b > 1 and a % b == 0)), line
            seen.add(op)
    assert seen == set(ops)


def test_the_recipe_is_chosen_by_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("RLKIT_CACHE", str(tmp_path))
    monkeypatch.delenv("RLKIT_TINY_RECIPE", raising=False)
    assert tiny.active_recipe() is tiny.RECIPE
    monkeypatch.setenv("RLKIT_TINY_RECIPE", "next")
    assert tiny.active_recipe() is tiny.NEXT_RECIPE and tiny.recipe_hash(tiny.NEXT_RECIPE) != tiny.recipe_hash()
    from rlkit.config import OFFLINE_MODEL
    from rlkit.runtime import describe_model

    assert f"candidate recipe {tiny.NEXT_RECIPE['version']}" in describe_model(OFFLINE_MODEL)
    monkeypatch.setenv("RLKIT_TINY_RECIPE", "11")
    assert tiny.active_recipe() is tiny.RECIPE_11 and tiny.recipe_hash(tiny.RECIPE_11) == "3ab947ad076a"
    assert "candidate recipe 11" in describe_model(OFFLINE_MODEL)
    monkeypatch.setenv("RLKIT_TINY_RECIPE", "15")
    assert tiny.active_recipe() is tiny.RECIPE_15 and tiny.recipe_hash(tiny.RECIPE_15) == "a3da5e620952"
    assert tiny.recipe_hash(tiny.RECIPE_13) == "95087415438b"
    monkeypatch.setenv("RLKIT_TINY_RECIPE", "16")
    assert tiny.active_recipe() is tiny.RECIPE_16 and tiny.RECIPE_16["countdown_think"] == "regular"
    monkeypatch.setenv("RLKIT_TINY_RECIPE", "17")
    assert tiny.active_recipe() is tiny.RECIPE_17 and tiny.recipe_hash(tiny.RECIPE_17) == "d18e958f16c2"
    monkeypatch.setenv("RLKIT_TINY_RECIPE", "18")
    assert tiny.active_recipe() is tiny.RECIPE_18 and tiny.RECIPE_18["hidden_size"] == 192
    monkeypatch.setenv("RLKIT_TINY_RECIPE", "19")
    assert tiny.active_recipe() is tiny.RECIPE_19 and tiny.RECIPE_19["zebra_think"] == "deduce"
    monkeypatch.setenv("RLKIT_TINY_RECIPE", "20")
    assert tiny.active_recipe() is tiny.RECIPE_20 and tiny.RECIPE_20["zebra_think"] == "quote"
    monkeypatch.setenv("RLKIT_TINY_RECIPE", "v9")
    choices = "'11', '13', '15', '16', '17', '18', '19', '20', 'default', 'next'"
    with pytest.raises(RlkitError, match=f"RLKIT_TINY_RECIPE='v9'.*{choices}"):
        tiny.active_recipe()


def test_an_sft_model_of_another_tiny_build_is_refused(monkeypatch, tmp_path):
    from rlkit.sft import check_same_base

    monkeypatch.setenv("RLKIT_CACHE", str(tmp_path))
    monkeypatch.delenv("RLKIT_TINY_RECIPE", raising=False)
    model = tmp_path / "01_sft" / "model"
    (model / "adapter").mkdir(parents=True)
    check_same_base(model)  # no adapter config: nothing to compare
    for base, refused in ((tiny.model_dir(), False), (tmp_path / "tiny-qwen2-000000000000", True),
                          (tmp_path / "Qwen2.5-0.5B", False)):
        (model / "adapter" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(base)}))
        if refused:
            with pytest.raises(RlkitError, match="tiny-qwen2-000000000000.*Move the folder"):
                check_same_base(model)
        else:
            check_same_base(model)


def _lora_grads(lm):
    return {n: p.grad for n, p in lm.named_parameters() if "lora_" in n}


@pytest.mark.parametrize("load_in_4bit", [True, False])
@pytest.mark.parametrize("checkpointing", [True, False])
def test_lora_weights_receive_gradients(mini_model, load_in_4bit, checkpointing):
    lm, tok = modeling.load_policy(str(mini_model), load_in_4bit=load_in_4bit, lora_r=4, lora_alpha=8,
                                   gradient_checkpointing=checkpointing)
    if load_in_4bit:
        assert any(type(m).__name__ == "Linear4bit" for m in lm.modules())
    frozen = [n for n, p in lm.named_parameters() if p.requires_grad and "lora_" not in n]
    assert frozen == []  # only adapters train
    ids = tok(["12 + 7 = 19", "reverse: olleh"], return_tensors="pt", padding=True)
    lm.eval()
    with torch.inference_mode():  # evaluate first, as the notebooks do, then train
        lm.generate(**ids, max_new_tokens=2, do_sample=False, pad_token_id=tok.pad_token_id)
    lm.train()
    opt = torch.optim.SGD([p for p in lm.parameters() if p.requires_grad], lr=0.1)
    for _ in range(2):  # lora_B starts at zero, so lora_A gets gradient from the second step on
        opt.zero_grad()
        lm(**ids, labels=ids["input_ids"]).loss.backward()
        opt.step()
    grads = _lora_grads(lm)
    assert len(grads) == 2 * 2 * 7  # layers x (A, B) x seven projections
    dead = [n for n, g in grads.items() if g is None or g.abs().sum() == 0]
    assert dead == []


def test_unreachable_hub_model_suggests_the_offline_profile():
    with pytest.raises(RlkitError, match=r"(?s)Could not load model 'Qwen/Qwen2.5-0.5B'.*PROFILE='cpu'"):
        modeling.load_tokenizer("Qwen/Qwen2.5-0.5B")
    with pytest.raises(RlkitError, match="PROFILE='cpu'"):
        modeling.load_model("Qwen/Qwen2.5-0.5B")


def test_4bit_without_bitsandbytes_says_how_to_fix(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "bitsandbytes" else real(name, *a))
    with pytest.raises(RlkitError, match=r"pip install bitsandbytes.*LOAD_IN_4BIT=False"):
        modeling.quantization_config(True, torch.float32)


def test_save_merged_keeps_what_was_learned(mini_model, tmp_path):
    lm, tok = modeling.load_policy(str(mini_model), load_in_4bit=False, lora_r=4, lora_alpha=8)
    with torch.no_grad():
        for n, p in lm.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05)  # pretend training happened
    ids = tok(["3 + 4 = 7"], return_tensors="pt")
    lm.eval()
    expected = lm(**ids).logits
    out = modeling.save_merged(lm, tok, tmp_path / "merged")
    merged = modeling.load_model(str(out))
    assert torch.allclose(merged(**ids).logits, expected, atol=1e-4)
    assert hasattr(lm, "peft_config")  # the caller's model is untouched


def test_save_merged_of_a_4bit_policy_computes_what_the_trained_model_computed(mini_model, tmp_path):
    """QLoRA: the adapter was trained against the NF4 weights, so it is merged into their dequantized values."""
    lm, tok = modeling.load_policy(str(mini_model), load_in_4bit=True, lora_r=4, lora_alpha=8)
    with torch.no_grad():
        for n, p in lm.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.05, generator=torch.Generator().manual_seed(len(n)))
    ids = tok(["3 + 4 = 7", "12 - 5 = 7"], return_tensors="pt", padding=True)
    lm.eval()
    with torch.no_grad():
        expected = lm(**ids).logits
    out = modeling.save_merged(lm, tok, tmp_path / "merged")
    merged = modeling.load_model(str(out))  # full precision
    with torch.no_grad():
        got = merged(**ids).logits
        original_base = modeling.load_model(str(mini_model))
    assert torch.allclose(got, expected, atol=1e-3), (got - expected).abs().max()
    # merging into the original (not dequantized) weights would give a different model:
    from peft import PeftModel

    wrong = PeftModel.from_pretrained(original_base, out / "adapter").merge_and_unload()
    with torch.no_grad():
        assert (wrong(**ids).logits - expected).abs().max() > 10 * (got - expected).abs().max()


# ---------------------------------------------------------------- the precision rule (fake GPUs)
GPUS = {  # name: (compute capability, what a bf16 tensor on it does: T4 and V100 emulate bf16, slowly)
    "Tesla T4": ((7, 5), "emulated"),
    "Tesla V100-SXM2-16GB": ((7, 0), "emulated"),
    "NVIDIA A100-SXM4-40GB": ((8, 0), "native"),
    "NVIDIA H100 80GB HBM3": ((9, 0), "native"),
}


def fake_gpu(monkeypatch, name: str | None) -> None:
    """Make torch report the GPU ``name`` (None: no CUDA and no MPS), as torch 2.x answers on that card."""
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    if name is None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
        return
    capability, bf16 = GPUS[name]

    def is_bf16_supported(including_emulation: bool = True) -> bool:  # torch's signature and answers
        return bf16 == "native" or including_emulation

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a: name)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", is_bf16_supported)


@pytest.mark.parametrize("gpu, dtype, flags", [
    ("Tesla T4", torch.float16, {"bf16": False, "fp16": True}),
    ("Tesla V100-SXM2-16GB", torch.float16, {"bf16": False, "fp16": True}),
    ("NVIDIA A100-SXM4-40GB", torch.bfloat16, {"bf16": True, "fp16": False}),
    ("NVIDIA H100 80GB HBM3", torch.bfloat16, {"bf16": True, "fp16": False}),
    (None, torch.float32, {"bf16": False, "fp16": False}),
])
def test_precision_rule_weights_and_trainer_flags_agree(monkeypatch, gpu, dtype, flags):
    from rlkit.config import make_config
    from rlkit.training import common_args

    fake_gpu(monkeypatch, gpu)
    rule = modeling.precision()
    assert (rule.device, rule.dtype) == ("cuda" if gpu else "cpu", dtype)
    assert rule.trainer_flags == flags
    for method in ("sft", "dpo", "grpo", "reward", "rloo"):  # every trainer the kit builds reads these flags
        args = common_args(make_config(method, "smoke"))
        assert {k: args[k] for k in flags} == flags, method
        assert args["use_cpu"] is (gpu is None)
    # LoRA keeps the frozen base in the autocast dtype; a model trained whole under fp16 keeps fp32 weights
    assert rule.weights_dtype(trained_whole=False) == dtype
    assert rule.weights_dtype(trained_whole=True) == (torch.float32 if dtype == torch.float16 else dtype)
    if gpu:
        assert gpu in rule.reason and "native bf16" in rule.reason


def test_the_banner_says_which_precision_ran(monkeypatch, capsys):
    from rlkit.config import make_config
    from rlkit.runtime import setup

    fake_gpu(monkeypatch, "Tesla T4")
    info = setup(make_config("grpo", "smoke"))
    assert info["dtype"] == "float16" and "Tesla T4" in capsys.readouterr().out


@pytest.mark.parametrize("method", ["sft", "dpo", "grpo", "online_dpo", "rloo", "reward", "best_of_n"])
def test_the_gpu_profile_trains_the_policy_with_gradient_checkpointing_and_nothing_else_changes(method):
    """On a T4 the policy's activations were estimated above 16 GB without it (README, Hardware notes); TRL turns it
    off while generating. The reward models keep it off (the Siamese design does not support it), and the offline
    profiles are as they were, so their stored results still hold."""
    from rlkit.config import make_config
    from rlkit.training import common_args

    policy_training = method not in ("reward", "best_of_n")
    args = common_args(make_config(method, "gpu"))
    assert args["activation_checkpointing"] is policy_training
    assert args["activation_checkpointing_kwargs"] == ({"use_reentrant": False} if policy_training else None)
    for offline in ("smoke", "cpu"):
        args = common_args(make_config(method, offline))
        assert args["activation_checkpointing"] is False and args["activation_checkpointing_kwargs"] is None


@pytest.mark.parametrize("profile", ["cpu", "gpu"])
def test_trainer_settings_use_no_name_transformers_deprecates(profile, tmp_path):
    """transformers 5.23 renamed ``gradient_checkpointing`` to ``activation_checkpointing`` and warns on the old
    name; a learner saw that FutureWarning in every training cell. The kit's settings use the new names."""
    import warnings

    from trl import SFTConfig

    from rlkit.config import make_config
    from rlkit.training import common_args

    cfg = make_config("sft", profile, output_dir=str(tmp_path))
    args = {**common_args(cfg), "use_cpu": True, "bf16": False, "fp16": False}  # buildable on this CPU
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        built = SFTConfig(**args)
    assert built.activation_checkpointing is cfg.gradient_checkpointing


def test_a_recipe_chooses_its_puzzle_demonstrations(monkeypatch, tmp_path):
    """Knights and knaves solved by cases where a recipe says ``"puzzle_think": "cases"``: in the corpus of the recipe
    being built whatever recipe is active, and in the task rows (01's SFT data) and token budget of the active one."""
    from rlkit.data import PUZZLE_THINK, completion_budget, generate_rows, question_of

    monkeypatch.setenv("RLKIT_CACHE", str(tmp_path))
    monkeypatch.delenv("RLKIT_TINY_RECIPE", raising=False)
    worked = {**MINI_RECIPE, "corpus": {"knights_knaves": 30}, "puzzle_think": "cases"}
    direct = {**worked, "puzzle_think": None}

    def solutions(recipe):
        return [target for _, target in tiny.build_corpus(recipe)]

    assert all(" says " in t and t.count("yes.") == 1 for t in solutions(worked))
    assert all(PUZZLE_THINK in t for t in solutions(direct))
    row = generate_rows("knights_knaves", 1, 0, held_out=False)[0]
    assert PUZZLE_THINK in row["completion"][0]["content"] and completion_budget("knights_knaves") == 64
    monkeypatch.setitem(tiny.RECIPES, "next", worked)
    monkeypatch.setenv("RLKIT_TINY_RECIPE", "next")
    same = generate_rows("knights_knaves", 1, 0, held_out=False)[0]
    assert question_of(same) == question_of(row) and " says " in same["completion"][0]["content"]
    assert completion_budget("knights_knaves") == 400 and completion_budget("arithmetic") == 64
    assert all(PUZZLE_THINK in t for t in solutions(direct))  # the recipe built, not the active one


def test_a_recipe_chooses_its_zebra_demonstrations(monkeypatch, tmp_path):
    """Zebra solved by deduction where a recipe says ``"zebra_think": "deduce"`` (recipe 19), in the corpus it builds
    and in the active recipe's task rows and budget; training puzzles the deduction leaves unsolved are left out,
    and the held-out rows are the same under every recipe."""
    from rlkit.data import PUZZLE_THINK, ZEBRA_QUOTE_LINES, completion_budget, generate_rows

    monkeypatch.setenv("RLKIT_CACHE", str(tmp_path))
    monkeypatch.delenv("RLKIT_TINY_RECIPE", raising=False)
    deduced = {**MINI_RECIPE, "corpus": {"zebra": 40}, "zebra_think": "deduce"}
    assert all(t.startswith("<think>Clue ") and PUZZLE_THINK not in t for _, t in tiny.build_corpus(deduced))
    assert all(PUZZLE_THINK in t for _, t in tiny.build_corpus({**deduced, "zebra_think": None}))
    direct_rows = generate_rows("zebra", 60, 0, held_out=False), generate_rows("zebra", 200, 0, held_out=True)
    assert completion_budget("zebra") == 96
    monkeypatch.setitem(tiny.RECIPES, "next", deduced)
    monkeypatch.setenv("RLKIT_TINY_RECIPE", "next")
    train, held_out = generate_rows("zebra", 60, 0, held_out=False), generate_rows("zebra", 200, 0, held_out=True)
    assert [(r["prompt"], r["solution"]) for r in held_out] == [(r["prompt"], r["solution"]) for r in direct_rows[1]]
    assert completion_budget("zebra") == 288
    trained = [r["prompt"] for r in train]
    kept = [row["prompt"] for row in direct_rows[0] if row["prompt"] in trained]
    assert all(" in house " in row["completion"][0]["content"] for row in train) and 30 < len(kept) < 60
    quoted = {**deduced, "zebra_think": "quote"}  # recipe 20: also no training worksheet over ZEBRA_QUOTE_LINES lines
    monkeypatch.setitem(tiny.RECIPES, "next", quoted)
    train, held_out = generate_rows("zebra", 60, 0, held_out=False), generate_rows("zebra", 200, 0, held_out=True)
    assert [(r["prompt"], r["solution"]) for r in held_out] == [(r["prompt"], r["solution"]) for r in direct_rows[1]]
    thinks = [row["completion"][0]["content"].split("</think>")[0] for row in train]
    assert all(re.match(r"<think>\d\. ", t) for t in thinks), thinks[0]
    trained = [r["prompt"] for r in train]
    assert max(t.count("\n") + 1 for t in thinks) <= ZEBRA_QUOTE_LINES
    assert len([row["prompt"] for row in direct_rows[0] if row["prompt"] in trained]) < len(kept)


def test_a_recipe_chooses_its_countdown_demonstrations(monkeypatch, tmp_path):
    """Countdown solved by search where a recipe says ``"countdown_think": "search"`` (recipe 15), else the gold
    expression worked step by step; the token budget follows."""
    from rlkit.data import completion_budget, generate_rows, question_of

    monkeypatch.setenv("RLKIT_CACHE", str(tmp_path))
    monkeypatch.delenv("RLKIT_TINY_RECIPE", raising=False)
    searched = {**MINI_RECIPE, "corpus": {"countdown": 30}, "countdown_think": "search"}
    worked_gold = {**searched, "countdown_think": None}
    assert all(t.count(" yes") == 1 for _, t in tiny.build_corpus(searched))
    assert not any(" to make " in t for _, t in tiny.build_corpus(worked_gold))
    row = generate_rows("countdown", 1, 0, held_out=False)[0]
    assert " to make " not in row["completion"][0]["content"] and completion_budget("countdown") == 72
    monkeypatch.setitem(tiny.RECIPES, "next", searched)
    monkeypatch.setenv("RLKIT_TINY_RECIPE", "next")
    same = generate_rows("countdown", 1, 0, held_out=False)[0]
    assert question_of(same) == question_of(row)
    assert same["completion"][0]["content"].startswith(f"<think>Using the numbers {same['numbers']} to make ")
    assert completion_budget("countdown") == 320 and completion_budget("knights_knaves") == 64
