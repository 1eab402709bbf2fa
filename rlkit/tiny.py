"""The offline tiny model: a small Qwen2 the kit builds for itself, never downloaded.

Same class as Qwen2.5-0.5B (``Qwen2ForCausalLM``), same special tokens and ChatML chat template,
a byte-level BPE tokenizer trained here that splits digits one by one (as Qwen2's does), and a warm
start: a few CPU minutes of plain-text pretraining on the offline task corpus. It is built
deterministically from :data:`RECIPE` and cached under ``$RLKIT_CACHE`` (default
``~/.cache/rlkit``); changing the recipe changes its hash and so rebuilds it.

The pretraining corpus is the training side of every offline task family written as worksheets
(a question, then a worked solution in ``<think>``/``<answer>`` tags, as reasoning traces appear in
modern pretraining data) plus short ChatML chats of the kit's instruction task. So the tiny model is a
"base" model that has seen the tags and the chat format, but never a task question inside a chat:
01_sft teaches it to answer there. Pretraining runs in fp32 on every CPU, so two machines build the
same model up to floating-point rounding (bf16 autocast would give a different model wherever the
CPU lacks bf16 instructions, and on such CPUs it is many times slower).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from rlkit.recipes import (  # noqa: F401
    NEXT_RECIPE,
    RECIPE,
    RECIPE_11,
    RECIPE_13,
    RECIPE_15,
    RECIPE_16,
    RECIPE_17,
    RECIPE_18,
    RECIPE_19,
    RECIPE_20,
    RECIPES,
    active_recipe,
    recipe_hash,
)

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{%- endif %}"
)

# The recipes (what determines each build) live in rlkit.recipes, below rlkit.data, whose task rows depend on them.


def cache_root() -> Path:
    return Path(os.environ.get("RLKIT_CACHE", Path.home() / ".cache" / "rlkit"))


def shown(path: Path) -> str:
    """``path`` as a message shows it: under ``$RLKIT_CACHE`` or the home folder rather than as this machine's
    absolute path (so that stored notebook outputs and logs stay portable).

    >>> shown(cache_root() / "tiny-qwen2-0123")[-16:]
    '/tiny-qwen2-0123'
    """
    path = Path(path)
    for root, name in ((os.environ.get("RLKIT_CACHE"), "$RLKIT_CACHE"), (str(Path.home()), "~")):
        if root and path.is_relative_to(root):
            return str(Path(name) / path.relative_to(root))
    return str(path)


def model_dir(recipe: dict = RECIPE) -> Path:
    return cache_root() / f"tiny-qwen2-{recipe_hash(recipe)}"


# ---------------------------------------------------------------- corpus
def _plain_doc(row: dict, rng: random.Random) -> tuple[str, str]:
    """A training-side task row as a pretraining document ``(context, target)``.

    Task rows become worksheets (``Problem: <question>`` then the worked solution with its tags);
    instruction rows become short ChatML chats, so the base model knows the chat format too.
    """
    from rlkit.data import question_of

    question = question_of(row)
    if row["task"] == "instruct":
        return f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n", f"{row['answer']}<|im_end|>"
    return f"{rng.choice(['Problem:', 'Q:', 'Exercise:'])} {question}\n", row["completion"][0]["content"]


def copy_exercise(rng: random.Random) -> tuple[str, str]:
    """A list of 2-5 items (names, numbers or grid values), sometimes followed by sentences that mention its
    items out of order, then the list written back in its own order, one numbered item per line.

    The puzzles need this skill: a knights-and-knaves answer names every inhabitant in the order the question
    introduced them, although the statements in between mention them in another order.

    >>> copy_exercise(random.Random(2))
    ('List: Noah, Sam.\\n', '(1) Noah\\n(2) Sam\\n')
    """
    from rlkit.puzzles import KK_NAMES, ZEBRA_CATEGORIES

    pool = rng.choice([list(KK_NAMES), [str(i) for i in range(1, 101)],
                       [v for values in ZEBRA_CATEGORIES.values() for v in values]])
    items = rng.sample(pool, rng.randint(2, 5))
    header = rng.choice(["Names:", "List:", "Items:", "Copy:", "You meet"])
    context = f"{header} {', '.join(items)}.\n"
    if rng.random() < 0.6:
        frames = ["{a} is next to {b}.", "Look at {a}.", "{a} came with {b}.", "{a} said that {b} is here.",
                  "Then {a}."]
        context += " ".join(rng.choice(frames).format(a=rng.choice(items), b=rng.choice(items))
                            for _ in range(rng.randint(1, 4))) + "\n"
    return context, "".join(f"({i + 1}) {x}\n" for i, x in enumerate(items))


def form_exercise(rng: random.Random) -> tuple[str, str]:
    """A grid form (2-4 houses, 2-3 categories) filled with the listed choices, each used once, in a random
    arrangement: the layout of a logic-grid answer without the clues that decide it (tried in recipe 11,
    docs/testbed.md).

    >>> json.loads(form_exercise(random.Random(0))[1])["House 3"]
    {'Name': 'Carol', 'Pet': 'horse', 'Drink': 'cocoa'}
    """
    from rlkit.puzzles import zebra_answer, zebra_form, zebra_grid

    n_houses = rng.randint(2, 4)
    categories, grid = zebra_grid(rng, n_houses, rng.randint(2, 3))
    choices = "".join(f"{cat}: {', '.join(sorted(values))}\n" for cat, values in zip(categories, grid))
    return (f"Choices:\n{choices}Fill in every ___ with a choice, each once: {zebra_form(categories)}\n",
            json.dumps(zebra_answer(categories, grid)))


def facts_exercise(rng: random.Random) -> tuple[str, str]:
    """Eight one-operation facts in the notation of the Countdown search (``data.countdown_search``): two numbers
    of 1-20, or a number of 10-100 and one of 1-20, under +, -, * or / (the larger first for - and /, a quotient
    only where it divides).

    Chain sums teach the tiny model to add one digit at a time; a Countdown search also subtracts, multiplies and
    divides numbers up to 20 and targets up to 100, and without these facts a search's results were right 69% of
    the time (teacher-forced), with them 93%.

    >>> facts_exercise(random.Random(1))[1].splitlines()[:3]
    ['3 + 9 = 12', '22 + 16 = 38', '59 + 14 = 73']
    """
    from rlkit.data import pair_results  # the search's own steps, so the notation cannot drift apart

    lines = []
    while len(lines) < 8:
        a, b = (rng.randint(1, 20), rng.randint(1, 20)) if rng.random() < 0.6 else (rng.randint(10, 100),
                                                                                   rng.randint(1, 20))
        op = rng.choice("+-*/")
        for step, value, _ in pair_results((a, str(a)), (b, str(b)), op):  # none for a quotient that does not divide
            lines.append(f"{step} = {value}")
    return "Facts:\n", "\n".join(lines) + "\n"


# corpus entries that are exercises, not task rows
EXERCISES = {"copy": copy_exercise, "form": form_exercise, "facts": facts_exercise}


def build_corpus(recipe: dict = RECIPE) -> list[tuple[str, str]]:
    """``(context, target)`` documents from the training side of every offline task (never held-out questions)."""
    from rlkit.data import building, generate_rows

    rng = random.Random(recipe["seed"])
    docs = []
    for task, n in recipe["corpus"].items():
        if task in EXERCISES:
            docs.extend(EXERCISES[task](rng) for _ in range(n))
            continue
        with building(recipe):
            rows = generate_rows(task, n, seed=recipe["seed"], held_out=False)
        docs.extend(_plain_doc(r, rng) for r in rows)
    rng.shuffle(docs)
    return docs


# ---------------------------------------------------------------- tokenizer
def phrases() -> list[str]:
    """Sentences every prompt of a task repeats word for word, each made one token of the tiny tokenizer.

    A real tokenizer spends its 150k entries on common words; the tiny one has 1024, and the puzzles'
    fixed wording (P3's knights-and-knaves preamble, the system prompt, the answer tags) would otherwise
    cost a few hundred tokens per prompt of pretraining, SFT and RL compute on a laptop CPU.
    """
    from rlkit.codetasks import CODE_TEST_HEADER, CODE_THINK
    from rlkit.data import SYSTEM_PROMPT
    from rlkit.puzzles import ZEBRA_INSTRUCTION

    return [SYSTEM_PROMPT, "You are a helpful assistant.",
            "A very special island is inhabited only by knights and knaves.",
            " Knights always tell the truth, and knaves always lie.", " So who is a knight and who is a knave?",
            "State the final answer to the following arithmetic problem:", "Using the numbers",
            ", create an equation that equals",
            " You can use basic arithmetic operations (+, -, *, /) and each number can only be used once.",
            " from left to right. Each house has a different", ZEBRA_INSTRUCTION, "Check each clue against the answer.",
            "Write a Python function solve(", CODE_TEST_HEADER, CODE_THINK,
            "\n    ",  # a new code line and its indent as one token: split, samples at T = 1 broke the indent
            "<think>", "</think>", "<answer>", "</answer>"]


def train_tokenizer(corpus: list[str], vocab_size: int):
    """Byte-level BPE with single-digit pre-tokens, Qwen's special tokens and a ChatML template."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"\p{N}"), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator([context + target for context, target in corpus], trainer)
    tok.add_tokens(phrases())  # whole phrases, matched before the byte-level split
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>"], chat_template=CHAT_TEMPLATE, model_max_length=1024,
    )


# ---------------------------------------------------------------- model
def tiny_config(recipe: dict, tokenizer):
    from transformers import Qwen2Config

    return Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=recipe["hidden_size"], num_hidden_layers=recipe["num_hidden_layers"],
        num_attention_heads=recipe["num_attention_heads"], num_key_value_heads=recipe["num_key_value_heads"],
        intermediate_size=recipe["intermediate_size"], max_position_embeddings=recipe["max_position_embeddings"],
        tie_word_embeddings=True, rope_theta=10000.0, bos_token_id=None,
        eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"), pad_token_id=tokenizer.pad_token_id,
    )


def pack(corpus: list[tuple[str, str]], tokenizer, seq_len: int):
    """Whole documents, each ended by <|endoftext|>, packed into ``(N, seq_len)`` blocks, and their labels.

    A document never straddles two blocks (a puzzle's answer must be read next to its question), so the
    end of a block is padding, which the labels mask with -100. Longer documents are cut at ``seq_len``.
    The loss covers the whole document, question included: in calibration runs, masking the questions
    (training on the solutions only) left the tiny model unable to copy the operands of an arithmetic
    question into its working (held-out accuracy near 0 instead of 0.6 in worksheet form).
    """
    import torch

    blocks, current = [], []
    for context, target in corpus:
        ids = tokenizer(context + target)["input_ids"][: seq_len - 1] + [tokenizer.pad_token_id]  # <|endoftext|> ends it
        if len(current) + len(ids) > seq_len:
            blocks.append(current)
            current = []
        current = current + ids
    blocks.append(current)
    input_ids = torch.full((len(blocks), seq_len), tokenizer.pad_token_id)  # (N, seq_len)
    labels = torch.full((len(blocks), seq_len), -100)  # (N, seq_len): -100 on the padding
    for i, block in enumerate(blocks):
        input_ids[i, : len(block)] = labels[i, : len(block)] = torch.tensor(block)
    return input_ids, labels


def pretrain(model, blocks, recipe: dict, log_every: int = 50) -> list[float]:
    """Plain next-token training in fp32 with AdamW and a cosine schedule; returns the loss curve."""
    import torch

    gen = torch.Generator().manual_seed(recipe["seed"])
    opt = torch.optim.AdamW(model.parameters(), lr=recipe["learning_rate"], weight_decay=0.01, betas=(0.9, 0.95))
    steps, warm = recipe["steps"], recipe["warmup_steps"]
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    model.train()
    losses, t0 = [], time.time()
    input_ids, labels = blocks
    for step in range(steps):
        pick = torch.randint(len(input_ids), (recipe["batch_size"],), generator=gen)
        loss = model(input_ids=input_ids[pick], labels=labels[pick]).loss  # (B, seq_len) blocks
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step(), sched.step(), opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"  pretrain step {step:4d}/{steps}  loss {loss.item():.3f}  ({time.time() - t0:.0f}s)", flush=True)
    return losses


def build(recipe: dict = RECIPE, out_dir: Path | None = None, verbose: bool = True) -> Path:
    """Build the tiny model from scratch into ``out_dir`` (default: the cache folder)."""
    import torch
    from transformers import Qwen2ForCausalLM

    out_dir = Path(out_dir or model_dir(recipe))
    t0 = time.time()
    torch.manual_seed(recipe["seed"])
    corpus = build_corpus(recipe)
    tokenizer = train_tokenizer(corpus, recipe["vocab_size"])
    model = Qwen2ForCausalLM(tiny_config(recipe, tokenizer))
    with tempfile.TemporaryDirectory() as probe:  # what AutoTokenizer will read, checked before minutes of pretraining
        model.config.save_pretrained(probe)
        tokenizer.save_pretrained(probe)
        check_reloaded_tokenizer(tokenizer, Path(probe), corpus)
    blocks = pack(corpus, tokenizer, recipe["seq_len"])
    if verbose:
        n_params = sum(p.numel() for p in model.parameters())
        print(f"Building the offline tiny model ({n_params / 1e6:.1f}M parameters, {len(corpus)} documents, "
              f"{int((blocks[1] != -100).sum()) / 1e6:.1f}M tokens in {len(blocks[0])} blocks) into {shown(out_dir)}")
    losses = pretrain(model, blocks, recipe, log_every=100 if verbose else 0)
    model.generation_config.eos_token_id = [tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>")]
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    tmp = Path(tempfile.mkdtemp(dir=out_dir.parent if out_dir.parent.exists() else None))
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    info = {"recipe": recipe, "recipe_hash": recipe_hash(recipe), "final_loss": losses[-1],
            "build_seconds": round(time.time() - t0, 1), "weights_sha256": weights_sha256(tmp),
            "built_with": build_context()}
    (tmp / "rlkit_recipe.json").write_text(json.dumps(info, indent=2))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.move(str(tmp), out_dir)  # appears only when complete: an interrupted build never leaves half a model
    if verbose:
        print(f"Built in {info['build_seconds']}s, final pretraining loss {losses[-1]:.3f}")
    return out_dir


def weights_sha256(folder: Path) -> str:
    """sha256 of a saved model's weights file: the same recipe built on another kind of CPU can differ."""
    digest = hashlib.sha256()
    with open(Path(folder) / "model.safetensors", "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def build_context() -> dict:
    """What a build's floating-point results depend on besides the recipe: the CPU kernels torch dispatched to
    (AVX-512 and AVX2 machines round differently, so they build different weights from one recipe), its threads,
    and the library versions."""
    import tokenizers
    import torch
    import transformers

    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
            "torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__}


def provenance(folder: Path) -> str:
    """One line naming a built tiny model: its recipe, its weights' sha256 and what it was built with.

    Builds cached before the kit recorded this say so; their sha256 is computed here."""
    info = json.loads((Path(folder) / "rlkit_recipe.json").read_text())
    sha = info.get("weights_sha256") or weights_sha256(folder)
    built = info.get("built_with")
    how = (f"built with {built['cpu_capability']} kernels, {built['threads']} threads, torch {built['torch']}"
           if built else "build machine not recorded (built before the kit recorded it)")
    return f"recipe {info['recipe']['version']} ({info['recipe_hash']}), weights sha256 {sha[:12]}, {how}"


def check_reloaded_tokenizer(tokenizer, folder: Path, corpus: list[tuple[str, str]], n_docs: int = 300) -> None:
    """Raise if the tokenizer saved in ``folder`` splits corpus documents differently once loaded back.

    transformers loads it as a ``Qwen2Tokenizer``, which may rebuild the pre-tokenizer with Qwen's own pattern
    instead of the saved one: a recipe that splits text otherwise (one tried joining a space to the digit after it)
    would then pretrain the model on one tokenization while every later step uses another.
    """
    from transformers import AutoTokenizer

    loaded = AutoTokenizer.from_pretrained(folder)
    for context, target in random.Random(0).sample(corpus, min(n_docs, len(corpus))):
        text = context + target
        if tokenizer(text)["input_ids"] != loaded(text)["input_ids"]:
            raise RuntimeError(
                f"The tiny tokenizer splits text differently once saved and loaded ({type(loaded).__name__}): "
                f"{tokenizer.tokenize(text)[:12]} became {loaded.tokenize(text)[:12]}. Keep the pre-tokenizer "
                "compatible with Qwen2's (digits alone, the space before a number its own token).")


_announced: list[bool] = []  # the candidate recipe is announced once per process


def ensure_tiny_model(recipe: dict | None = None, verbose: bool = True) -> Path:
    """Path of the cached tiny model, building it first if it is missing or its recipe changed (default: the
    :func:`active_recipe`)."""
    recipe = recipe or active_recipe()
    name = next((key for key, value in RECIPES.items() if value is recipe and value is not RECIPE), None)
    if name and verbose and not _announced:
        _announced.append(True)
        print(f"Tiny model: candidate recipe {recipe['version']} (RLKIT_TINY_RECIPE={name}), not the default "
              f"{RECIPE['version']}: numbers from this run belong to that recipe.")
    path = model_dir(recipe)
    if (path / "rlkit_recipe.json").exists():
        return path
    cache_root().mkdir(parents=True, exist_ok=True)
    return build(recipe, path, verbose=verbose)
