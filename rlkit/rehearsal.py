"""A hub mirror with the real shapes and schemas, for rehearsing the ``gpu`` profile without network.

``build_mirror(root)`` writes, under ``root`` (the layout of :mod:`rlkit.mirror`):

- ``Qwen/Qwen2.5-0.5B`` and ``Qwen/Qwen2.5-0.5B-Instruct``: a ``Qwen2ForCausalLM`` with **random weights**
  and Qwen2.5-0.5B's configuration (hidden 896, 14 query heads, 2 key/value heads, FFN 4864, a
  151,936-row tied embedding, rope theta 1e6), only ``layers`` decoder layers of its 24. Its tokenizer is a
  ``Qwen2Tokenizer`` with Qwen's pre-tokenizer (one digit per token), a small byte-level BPE padded with
  unreachable entries to Qwen's 151,643 regular tokens, then Qwen's 22 special tokens at their real ids
  (``<|endoftext|>`` 151643, ``<|im_start|>`` 151644, ``<|im_end|>`` 151645, ...), a ChatML template with
  Qwen's default system message, and each model's real ``generation_config.json`` (the Instruct one samples
  by default: temperature 0.7, top-p 0.8, top-k 20, repetition penalty 1.1).
- ``microsoft/deberta-v3-base``: a ``DebertaV2Model`` with random weights and deberta-v3-base's shapes
  (hidden 768, 12 heads, FFN 3072, 128,100-row embedding, relative attention with 256 buckets), ``layers``
  of its 12 layers, and a Unigram ``DebertaV2Tokenizer`` whose special tokens sit at the real ids
  (``[PAD]`` 0, ``[CLS]`` 1, ``[SEP]`` 2, ``[UNK]`` 3, ``[MASK]`` 128000).
- the hub datasets of :mod:`rlkit.hub`, a few dozen rows per split, with each dataset's exact splits, column
  names and value formats: GSM8K's ``<<a*b=c>>`` annotations and ``#### n`` answers, MATH-500's LaTeX and
  ``subject``/``level``/``unique_id``, Countdown's ``nums``/``target``, smol-smoltalk's ``messages``/``source``,
  UltraFeedback's six splits with message lists, ``prompt_id`` and 1-10 scores, MBPP's "full" config (four splits,
  task ids by the paper's split, code with Windows line ends, three asserts, ``test_setup_code``,
  ``challenge_test_list``) and HumanEval's ``test`` split (stub, indented canonical body, ``check(candidate)``
  after ``METADATA``, ``entry_point``); the code problems are the kit's own and their gold solutions pass.

The weights are random, so a rehearsal checks that the code runs (shapes, dtypes, 4-bit, LoRA, chat
templates, special ids, dataset schemas, trainers, evaluation, plots), never what it learns. The facts
(sizes, ids, splits, columns) are the public configurations of those models and datasets.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import random
from pathlib import Path

QWEN_BASE, QWEN_INSTRUCT, DEBERTA = "Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-0.5B-Instruct", "microsoft/deberta-v3-base"

QWEN_REGULAR_TOKENS = 151_643  # ids 0..151642 are BPE tokens; the special tokens follow
QWEN_SPECIAL_TOKENS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
    "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>",
]
QWEN_CONFIG = {  # Qwen2.5-0.5B's config.json, but num_hidden_layers (set by build_mirror)
    "vocab_size": 151_936, "hidden_size": 896, "intermediate_size": 4864, "num_attention_heads": 14,
    "num_key_value_heads": 2, "max_position_embeddings": 32_768, "rope_theta": 1_000_000.0, "rms_norm_eps": 1e-6,
    "hidden_act": "silu", "tie_word_embeddings": True, "use_sliding_window": False, "sliding_window": 32_768,
    "attention_dropout": 0.0, "initializer_range": 0.02, "bos_token_id": 151_643,
}
QWEN_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
# ChatML as Qwen2.5 writes it (the tool-calling branches left out): its default system message when none is given.
QWEN_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}"
    "{{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}"
    "{%- else %}{{- '<|im_start|>system\\n" + QWEN_SYSTEM + "<|im_end|>\\n' }}{%- endif %}"
    "{%- for message in messages %}{%- if not (loop.first and message['role'] == 'system') %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)
QWEN_GENERATION = {  # each model's generation_config.json on the Hub
    QWEN_BASE: {"bos_token_id": 151_643, "eos_token_id": 151_643, "do_sample": False, "max_new_tokens": 2048},
    QWEN_INSTRUCT: {"bos_token_id": 151_643, "pad_token_id": 151_643, "eos_token_id": [151_645, 151_643],
                    "do_sample": True, "repetition_penalty": 1.1, "temperature": 0.7, "top_p": 0.8, "top_k": 20},
}
DEBERTA_CONFIG = {  # deberta-v3-base's config.json, but num_hidden_layers
    "vocab_size": 128_100, "hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12,
    "max_position_embeddings": 512, "relative_attention": True, "position_buckets": 256, "norm_rel_ebd": "layer_norm",
    "share_att_key": True, "pos_att_type": ["p2c", "c2p"], "layer_norm_eps": 1e-7, "max_relative_positions": -1,
    "position_biased_input": False, "type_vocab_size": 0, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1, "pad_token_id": 0,
}
DEBERTA_VOCAB = 128_000  # Unigram pieces [PAD] [CLS] [SEP] [UNK] ... ; [MASK] is added at 128000

# ---------------------------------------------------------------- dataset fixtures
_NAMES = ["Natalia", "Weng", "Betty", "Julie", "James", "Albert", "Ken", "Alexis", "Tina", "Randy"]
_ITEMS = ["clips", "apples", "books", "marbles", "stickers", "pencils", "cupcakes", "stamps"]


def gsm8k_row(rng: random.Random) -> dict:
    """A GSM8K-style problem: a worked answer with ``<<expr=value>>`` calculator annotations and ``#### n``."""
    name, item = rng.choice(_NAMES), rng.choice(_ITEMS)
    a, k, price = rng.randint(12, 96) * 2, rng.randint(2, 9), rng.randint(2, 15)
    half, total = a // 2, a + a // 2
    question = (f"{name} sold {item} to {a} of her friends in April, and then she sold half as many {item} in May. "
                f"Each of the {item} costs ${price}. How much money did {name} make in April and May?")
    if rng.random() < 0.5:
        answer = (f"{name} sold {a}/2 = <<{a}/2={half}>>{half} {item} in May.\n"
                  f"{name} sold {a}+{half} = <<{a}+{half}={total}>>{total} {item} altogether in April and May.\n"
                  f"So she made {total}*{price} = <<{total}*{price}={total * price}>>{total * price} dollars.\n"
                  f"#### {total * price}")
    else:
        question = f"{name} buys {k} boxes of {item} with {a} {item} in each. How many {item} does {name} have?"
        answer = f"{name} has {k} * {a} = <<{k}*{a}={k * a}>>{k * a} {item}.\n#### {k * a}"
    return {"question": question, "answer": answer}


def math500_row(rng: random.Random, index: int) -> dict:
    """A MATH-500-style row: LaTeX problem and solution, a LaTeX answer, subject, level 1-5, unique_id."""
    a, b, c = rng.randint(2, 9), rng.randint(2, 9), rng.randint(10, 99)
    if index % 2:
        problem = f"Simplify $\\frac{{{a}}}{{{a * b}}} + \\frac{{1}}{{{b}}}$."
        solution = (f"We have $\\frac{{{a}}}{{{a * b}}} = \\frac{{1}}{{{b}}}$, so the sum is "
                    f"$\\frac{{1}}{{{b}}} + \\frac{{1}}{{{b}}} = \\boxed{{\\frac{{2}}{{{b}}}}}$.")
        answer, subject = f"\\frac{{2}}{{{b}}}", "Prealgebra"
    else:
        problem = f"What is the value of $x$ if ${a}x + {c} = {a * b + c}$?"
        solution = f"Subtracting {c} gives ${a}x = {a * b}$, so $x = \\boxed{{{b}}}$."
        answer, subject = str(b), "Algebra"
    return {"problem": problem, "solution": solution, "answer": answer, "subject": subject,
            "level": rng.randint(1, 5), "unique_id": f"test/{subject.lower()}/{100 + index}.json"}


def countdown_row(rng: random.Random) -> dict:
    """A Countdown-Tasks-3to4 row: ``target`` and 3-4 ``nums`` that can reach it."""
    nums = [rng.randint(1, 99) for _ in range(rng.choice((3, 4)))]
    reached = nums[0] + nums[1] - nums[2]
    return {"target": reached if reached > 0 else sum(nums[:3]), "nums": nums}


def _chat(rng: random.Random) -> tuple[str, str, str]:
    topic = rng.choice(["photosynthesis", "a haiku about rain", "binary search", "the French revolution",
                        "how to boil an egg", "compound interest"])
    prompt = f"Can you explain {topic} in two sentences?"
    good = f"Sure. Here is {topic} in brief: it is explained step by step, with one clear example at the end."
    bad = f"{topic}? No idea."
    return prompt, good, bad


def smoltalk_row(rng: random.Random) -> dict:
    """A smol-smoltalk row: ``messages`` (role/content dicts, sometimes a system turn first) and ``source``."""
    prompt, good, _ = _chat(rng)
    messages = [{"content": prompt, "role": "user"}, {"content": good, "role": "assistant"}]
    if rng.random() < 0.3:
        messages.insert(0, {"content": "You are a concise assistant.", "role": "system"})
    return {"messages": messages, "source": rng.choice(["smol-magpie-ultra", "everyday-conversations"])}


def ultrafeedback_row(rng: random.Random) -> dict:
    """An ultrafeedback_binarized row: prompt, prompt_id (sha256), chosen/rejected/messages as message lists,
    score_chosen > score_rejected on UltraFeedback's 1-10 scale."""
    prompt, good, bad = _chat(rng)
    prompt = f"{prompt} (#{rng.randint(0, 10**6)})"
    chosen = [{"content": prompt, "role": "user"}, {"content": good, "role": "assistant"}]
    rejected = [{"content": prompt, "role": "user"}, {"content": bad, "role": "assistant"}]
    score = rng.choice([7.0, 7.5, 8.0, 8.5, 9.0, 10.0])
    return {"prompt": prompt, "prompt_id": hashlib.sha256(prompt.encode()).hexdigest(), "chosen": chosen,
            "rejected": rejected, "messages": chosen, "score_chosen": score,
            "score_rejected": score - rng.choice([1.0, 2.5, 4.0])}


# MBPP ("full") and HumanEval: small problems of the kit's own in their schemas. Every assert's expected value is
# computed here by plain Python (never by running the gold code), and tests/test_hub.py runs each gold solution
# against its tests in the sandbox.
_WORDS = ["banana", "Python", "level", "programming", "moon", "assert", "Mississippi", "tree", "orange", "kayak"]


def _numbers(rng: random.Random, low: int = 1, high: int = 60) -> list[int]:
    return [rng.randint(low, high) for _ in range(rng.randint(3, 7))]


def _asserts(name: str, cases: list[tuple[tuple, object]]) -> list[str]:
    """``assert name(args) == expected`` for each ``(args, expected)``."""
    return [f"assert {name}({', '.join(map(repr, args))}) == {expected!r}" for args, expected in cases]


# An MBPP problem: (text, gold code with Windows line ends, 4 asserts, test_setup_code).
MbppProblem = tuple[str, str, list[str], str]


def _mbpp_divisible(rng: random.Random) -> MbppProblem:
    d = rng.randint(2, 7)
    code = f"def count_divisible(nums):\r\n    return len([n for n in nums if n % {d} == 0])"
    cases = [((xs,), sum(n % d == 0 for n in xs)) for xs in (_numbers(rng) for _ in range(4))]
    return (f"Write a function to count the numbers in a list that are divisible by {d}.", code,
            _asserts("count_divisible", cases), "")


def _mbpp_count_char(rng: random.Random) -> MbppProblem:
    words = rng.sample(_WORDS, 4)
    c = rng.choice(words[0])  # at least one word holds it
    code = (f"def count_char(s):\r\n    count = 0\r\n    for ch in s:\r\n        if ch == '{c}':\r\n"
            f"            count += 1\r\n    return count")
    return (f"Write a python function to count the occurrences of the character '{c}' in a string.", code,
            _asserts("count_char", [((w,), w.count(c)) for w in words]), "")


def _mbpp_power_sum(rng: random.Random) -> MbppProblem:
    k = rng.randint(2, 4)
    code = f"def power_sum(n):\r\n    return sum(i ** {k} for i in range(1, n + 1))"
    cases = [((n,), sum(i ** k for i in range(1, n + 1))) for n in rng.sample(range(1, 12), 4)]
    powers = {2: "squares", 3: "cubes", 4: "fourth powers"}[k]
    return (f"Write a function to find the sum of the {powers} of the first n natural numbers.", code,
            _asserts("power_sum", cases), "")


def _mbpp_reverse_words(rng: random.Random) -> MbppProblem:
    sep = rng.choice(["-", " ", "_", ", "])
    code = f"def reverse_words(s):\r\n    return '{sep}'.join(reversed(s.split()))"
    sentences = [" ".join(rng.sample(_WORDS, rng.randint(2, 4))) for _ in range(4)]
    return (f"Write a function to reverse the words of a sentence and join them with '{sep}'.", code,
            _asserts("reverse_words", [((text,), sep.join(reversed(text.split()))) for text in sentences]), "")


def _mbpp_circle_area(rng: random.Random) -> MbppProblem:
    """Its asserts use ``math``, imported by ``test_setup_code`` (as a few MBPP rows do)."""
    code = "import math\r\ndef circle_area(r):\r\n  return math.pi * r * r"
    asserts = [f"assert math.isclose(circle_area({r}), {math.pi * r * r!r}, rel_tol=0.001)"
               for r in rng.sample(range(1, 20), 4)]
    return "Write a function to find the area of a circle.", code, asserts, "import math"


def _frequencies(items: list[int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for x in items:
        counts[x] = counts.get(x, 0) + 1
    return counts


def _mbpp_frequencies(rng: random.Random) -> MbppProblem:
    code = ("def freq_count(items):\r\n    counts = {}\r\n    for x in items:\r\n"
            "        counts[x] = counts.get(x, 0) + 1\r\n    return counts")
    cases = [((xs,), _frequencies(xs)) for xs in (_numbers(rng, 1, 4) for _ in range(4))]
    return "Write a function to get the frequency of the elements in a list.", code, _asserts("freq_count", cases), ""


_MBPP_PROBLEMS = (_mbpp_divisible, _mbpp_count_char, _mbpp_power_sum, _mbpp_reverse_words, _mbpp_circle_area,
                  _mbpp_frequencies)
MBPP_FIRST_TASK_ID = {"prompt": 1, "test": 11, "validation": 511, "train": 601}  # the paper's split by task id


def mbpp_row(rng: random.Random, index: int, split: str) -> dict:
    """An MBPP "full" row: ``task_id``, ``text``, ``code`` (Windows line ends, as in the file), ``test_list``
    (3 asserts), ``test_setup_code`` ("" unless the asserts need an import) and ``challenge_test_list``
    (mostly empty)."""
    text, code, asserts, setup = _MBPP_PROBLEMS[index % len(_MBPP_PROBLEMS)](rng)
    return {"task_id": MBPP_FIRST_TASK_ID[split] + index, "text": text, "code": code, "test_list": asserts[:3],
            "test_setup_code": setup, "challenge_test_list": asserts[3:] if index % 4 == 0 else []}


_HUMANEVAL_METADATA = "\n\nMETADATA = {\n    'author': 'jt',\n    'dataset': 'test'\n}\n"
# A HumanEval problem: (prompt, canonical solution, entry point, the lines of check's body).
HumanEvalProblem = tuple[str, str, str, list[str]]


def _pairwise_sums(numbers: list[int]) -> list[int]:
    return [a + b for a, b in itertools.pairwise(numbers)]


def _humaneval_pairwise(rng: random.Random) -> HumanEvalProblem:
    example = _numbers(rng, 1, 9)[:3]
    prompt = ("from typing import List\n\n\ndef pairwise_sums(numbers: List[int]) -> List[int]:\n"
              "    \"\"\" Return the sums of neighbouring elements of the list, in order.\n"
              f"    >>> pairwise_sums({example})\n    {_pairwise_sums(example)}\n    \"\"\"\n")
    solution = "    return [a + b for a, b in zip(numbers, numbers[1:])]\n"
    checks = [f"assert candidate({xs}) == {_pairwise_sums(xs)}" for xs in
              ([], [rng.randint(1, 9)], *(_numbers(rng) for _ in range(3)))]
    return prompt, solution, "pairwise_sums", checks


def _humaneval_count_upper(rng: random.Random) -> HumanEvalProblem:
    prompt = ("\ndef count_upper(text: str) -> int:\n    \"\"\"Count the upper-case letters in text.\n"
              "    >>> count_upper('Hello World')\n    2\n    \"\"\"\n")
    solution = "    return sum(1 for ch in text if ch.isupper())\n"
    words = [" ".join(rng.sample(_WORDS, 2)) for _ in range(3)]
    checks = ["# Check some simple cases", *(f"assert candidate({w!r}) == {sum(ch.isupper() for ch in w)}"
                                             for w in words),
              'assert True, "This prints if this assert fails 1 (good for debugging!)"', "assert candidate('') == 0"]
    return prompt, solution, "count_upper", checks


def _humaneval_digit_sum(rng: random.Random) -> HumanEvalProblem:
    prompt = ("\ndef digit_sum(n: int) -> int:\n    \"\"\"Return the sum of the decimal digits of a non-negative "
              "integer n.\n    >>> digit_sum(123)\n    6\n    \"\"\"\n")
    solution = "    return sum(int(d) for d in str(n))\n"
    numbers = [rng.randint(10, 10**6) for _ in range(3)]
    checks = [f"assert candidate({n}) == {sum(map(int, str(n)))}" for n in numbers]
    checks += ["for n in range(10):\n        assert candidate(n) == n"]  # a loop of asserts, as some HumanEval tests
    return prompt, solution, "digit_sum", checks


def _humaneval_hypotenuse(rng: random.Random) -> HumanEvalProblem:
    prompt = ("import math\n\n\ndef hypotenuse(a: float, b: float) -> float:\n    \"\"\"Return the length of the "
              "hypotenuse of a right triangle with legs a and b.\n    >>> hypotenuse(3, 4)\n    5.0\n    \"\"\"\n")
    solution = "    return math.sqrt(a * a + b * b)\n"
    legs = [(rng.randint(1, 30), rng.randint(1, 30)) for _ in range(3)]
    checks = [f"assert abs(candidate({a}, {b}) - {math.hypot(a, b)!r}) < 1e-6" for a, b in legs]
    return prompt, solution, "hypotenuse", checks


_HUMANEVAL_PROBLEMS = (_humaneval_pairwise, _humaneval_count_upper, _humaneval_digit_sum, _humaneval_hypotenuse)


def humaneval_row(rng: random.Random, index: int) -> dict:
    """An openai_humaneval row: ``task_id`` "HumanEval/i", ``prompt`` (imports, signature, docstring with
    examples), ``canonical_solution`` (the indented body), ``test`` (``check(candidate)``, often after a
    ``METADATA`` dict) and ``entry_point``."""
    make = _HUMANEVAL_PROBLEMS[index % len(_HUMANEVAL_PROBLEMS)]
    prompt, solution, entry_point, checks = make(rng)
    body = "".join(f"    {line}\n" for line in checks)
    test = (_HUMANEVAL_METADATA if index % 2 == 0 else "") + f"\n\ndef check(candidate):\n{body}\n"
    return {"task_id": f"HumanEval/{index}", "prompt": prompt, "canonical_solution": solution, "test": test,
            "entry_point": entry_point}


# dataset id -> (config or None, {split: rows}); sizes are small, the splits are each dataset's real ones.
def dataset_fixtures(rows: int = 48, seed: int = 0) -> dict[str, tuple[str | None, dict[str, list[dict]]]]:
    rng = random.Random(seed)
    return {
        "openai/gsm8k": ("main", {"train": [gsm8k_row(rng) for _ in range(rows)],
                                  "test": [gsm8k_row(rng) for _ in range(rows)]}),
        "HuggingFaceH4/MATH-500": (None, {"test": [math500_row(rng, i) for i in range(rows)]}),
        "Jiayi-Pan/Countdown-Tasks-3to4": (None, {"train": [countdown_row(rng) for _ in range(4 * rows)]}),
        "HuggingFaceTB/smol-smoltalk": (None, {"train": [smoltalk_row(rng) for _ in range(rows)],
                                               "test": [smoltalk_row(rng) for _ in range(rows)]}),
        "HuggingFaceH4/ultrafeedback_binarized": (None, {
            split: [ultrafeedback_row(rng) for _ in range(rows)]
            for split in ("train_prefs", "test_prefs", "train_sft", "test_sft", "train_gen", "test_gen")}),
        "google-research-datasets/mbpp": ("full", {
            split: [mbpp_row(rng, i, split) for i in range(min(rows, 10) if split == "prompt" else rows)]
            for split in ("train", "test", "validation", "prompt")}),
        "openai/openai_humaneval": (None, {"test": [humaneval_row(rng, i) for i in range(rows)]}),
    }


def _corpus(fixtures) -> list[str]:
    """Text the tokenizers are trained on: every fixture string, and the kit's own prompts."""
    from rlkit.data import SYSTEM_PROMPT, task_splits
    from rlkit.tiny import phrases

    texts = [SYSTEM_PROMPT, QWEN_SYSTEM, *phrases()]
    for _, splits in fixtures.values():
        for rows in splits.values():
            texts.extend(json.dumps(row, ensure_ascii=False) for row in rows)
    for task in ("arithmetic", "countdown", "knights_knaves", "zebra"):
        train, _ = task_splits(task, 40, 1, seed=0)
        texts.extend(r["prompt"][-1]["content"] + r["completion"][0]["content"] for r in train)
    return texts


# ---------------------------------------------------------------- tokenizers
def qwen_tokenizer(corpus: list[str], eos_token: str, bpe_size: int = 4000):
    """A ``Qwen2Tokenizer`` with Qwen's pre-tokenizer, 151,643 regular ids and Qwen's special tokens after them."""
    from tokenizers import Regex, Tokenizer, models, pre_tokenizers, trainers
    from transformers import Qwen2Tokenizer
    from transformers.models.qwen2.tokenization_qwen2 import PRETOKENIZE_REGEX

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(PRETOKENIZE_REGEX), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    bpe.train_from_iterator(corpus, trainers.BpeTrainer(
        vocab_size=bpe_size, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    model = json.loads(bpe.to_str())["model"]
    vocab = dict(model["vocab"])
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model["merges"]]
    for i in range(len(vocab), QWEN_REGULAR_TOKENS):  # unreachable entries: no merge ever builds them
        vocab[f"<filler{i}>"] = i
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges, eos_token="<|endoftext|>", pad_token="<|endoftext|>",
                         chat_template=QWEN_CHAT_TEMPLATE, model_max_length=131_072)
    tok.add_special_tokens({"additional_special_tokens": QWEN_SPECIAL_TOKENS[1:]})
    tok.eos_token = eos_token  # after the ids are fixed: the Instruct tokenizer ends turns with <|im_end|>
    for offset, token in enumerate(QWEN_SPECIAL_TOKENS):
        got = tok.convert_tokens_to_ids(token)
        assert got == QWEN_REGULAR_TOKENS + offset, f"{token} got id {got}"
    return tok


def deberta_tokenizer(corpus: list[str], pieces: int = 4000):
    """A Unigram ``DebertaV2Tokenizer`` with deberta-v3's special ids and 128,000 pieces + ``[MASK]``."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import DebertaV2Tokenizer

    unigram = Tokenizer(models.Unigram())
    unigram.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    unigram.train_from_iterator(corpus, trainers.UnigramTrainer(
        vocab_size=pieces, show_progress=False, special_tokens=["[PAD]", "[CLS]", "[SEP]", "[UNK]"], unk_token="[UNK]"))
    learned = [(piece, score) for piece, score in json.loads(unigram.to_str())["model"]["vocab"]]
    vocab = [("[PAD]", 0.0), ("[CLS]", 0.0), ("[SEP]", 0.0), ("[UNK]", 0.0)]
    vocab += [(p, s) for p, s in learned if p not in {"[PAD]", "[CLS]", "[SEP]", "[UNK]"}]
    vocab += [(f"\u2581filler{i}", -100.0) for i in range(len(vocab), DEBERTA_VOCAB)]
    tok = DebertaV2Tokenizer(vocab=vocab, model_max_length=512)
    tok.add_special_tokens({"mask_token": "[MASK]"})
    assert [tok.pad_token_id, tok.cls_token_id, tok.sep_token_id, tok.unk_token_id, tok.mask_token_id] == \
        [0, 1, 2, 3, DEBERTA_VOCAB]
    return tok


# ---------------------------------------------------------------- the mirror
def write_dataset_fixtures(root: str | Path, rows: int = 48, seed: int = 0) -> dict:
    """Write ``dataset_fixtures(rows, seed)`` into the mirror at ``root``, one JSON-lines file per split (no
    models: enough for the hub tasks' loaders). Returns the fixtures."""
    from rlkit.mirror import dataset_folder

    fixtures = dataset_fixtures(rows, seed)
    for hub_id, (config, splits) in fixtures.items():
        folder = dataset_folder(hub_id, config, Path(root))
        folder.mkdir(parents=True, exist_ok=True)
        for split, split_rows in splits.items():
            (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in split_rows))
    return fixtures


def build_mirror(root: str | Path, layers: int = 2, rows: int = 48, seed: int = 0, verbose: bool = True) -> Path:
    """Write the rehearsal mirror under ``root`` (models with random weights, dataset fixtures); returns ``root``."""
    import torch
    from transformers import DebertaV2Config, DebertaV2Model, GenerationConfig, Qwen2Config, Qwen2ForCausalLM

    root = Path(root)
    fixtures = write_dataset_fixtures(root, rows, seed)
    corpus = _corpus(fixtures)

    torch.manual_seed(seed)
    qwen = Qwen2ForCausalLM(Qwen2Config(num_hidden_layers=layers, max_window_layers=layers, **QWEN_CONFIG))
    qwen = qwen.to(torch.bfloat16)  # the Hub checkpoint is bf16
    for hub_id, eos in ((QWEN_BASE, "<|endoftext|>"), (QWEN_INSTRUCT, "<|im_end|>")):
        out = root / hub_id
        qwen.config.eos_token_id = 151_643 if hub_id == QWEN_BASE else 151_645
        qwen.generation_config = GenerationConfig(**QWEN_GENERATION[hub_id])
        qwen.save_pretrained(out)
        qwen_tokenizer(corpus, eos).save_pretrained(out)
        if verbose:
            print(f"rehearsal mirror: {hub_id} ({layers} of 24 layers, random weights) -> {out}")

    deberta = DebertaV2Model(DebertaV2Config(num_hidden_layers=layers, **DEBERTA_CONFIG))
    deberta.save_pretrained(root / DEBERTA)
    deberta_tokenizer(corpus).save_pretrained(root / DEBERTA)
    if verbose:
        print(f"rehearsal mirror: {DEBERTA} ({layers} of 12 layers, random weights) and "
              f"{len(fixtures)} datasets -> {root}")
    return root
