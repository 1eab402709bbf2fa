"""Can more puzzle data late in pretraining give zebra and Countdown RL headroom? A diagnostic for issue 11.

``anneal`` continues the pretraining of the tiny model that the kit would use now (``RLKIT_TINY_RECIPE`` picks
the recipe; it is built first if missing) on another mixture of the corpus' documents, with ``rlkit.tiny.pretrain``
and a fresh optimizer, and saves the result as that recipe's model in another cache folder. 01_sft then runs on it
unchanged::

    python scripts/anneal_probe.py anneal /tmp/zb '{"zebra": 6000, "form": 4000, "arithmetic": 2000, "instruct": 500}'
    RLKIT_CACHE=/tmp/zb papermill notebooks/01_sft.ipynb out.ipynb --cwd notebooks -p PROFILE cpu \\
        -p OUTPUT_DIR /tmp/zb/01 -p HEADROOM_TASKS zebra,arithmetic

The mixture names corpus entries of ``rlkit.tiny`` (task families and exercises) and two exercises of this
script's own: ``shuffle``, a list, then its items each once in a random order (a test of whether writing each item
once can be taught by itself), and ``recall``, two or three lettered lists, then one of them asked for by its letter
and written again (a look-up by key, then a copy), and ``clue_recall``, a zebra question, then one of its clues asked
for by its number and written again (the same look-up among sentences that share most of their words, as the quoting
worksheets of recipe 20 need). ``--seq-len`` packs longer blocks than the recipe's, for longer worksheets. The
``recall`` command counts the recall (or ``--exercise clue_recall``) exercises a saved model completes exactly::

    python scripts/anneal_probe.py recall /tmp/zb/tiny-qwen2-... [--exercise clue_recall]

``levels`` prints the headroom table of one family per difficulty level of a saved
model (01's ``model`` folder)::

    python scripts/anneal_probe.py levels /tmp/zb/01/model zebra 2 3 4

About 0.12 s per annealing step on 2 cores with AVX-512; ``levels`` takes a few minutes per level.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil


def shuffle_exercise(rng: random.Random) -> tuple[str, str]:
    """2-5 names, numbers or grid values, then the same items each once in a random order."""
    from rlkit.puzzles import KK_NAMES, ZEBRA_CATEGORIES

    pool = rng.choice([list(KK_NAMES), [str(i) for i in range(1, 21)], [str(i) for i in range(1, 101)],
                       [v for values in ZEBRA_CATEGORIES.values() for v in values]])
    items = rng.sample(pool, rng.randint(2, 5))
    order = items[:]
    rng.shuffle(order)
    return f"Items: {', '.join(items)}.\nEach once, in any order: ", ", ".join(order) + "\n"


def recall_exercise(rng: random.Random) -> tuple[str, str]:
    """Two or three lists of 3-8 names, numbers or grid values, then one of them, asked for by its letter, again:
    a look-up by key (which list) followed by a copy (its items in order)."""
    from rlkit.puzzles import KK_NAMES, ZEBRA_CATEGORIES

    pool = list(KK_NAMES) + [str(i) for i in range(1, 21)] + [v for values in ZEBRA_CATEGORIES.values() for v in values]
    letters = "ABC"[: rng.randint(2, 3)]
    lists = {k: rng.sample(pool, rng.randint(3, 8)) for k in letters}
    ask = rng.choice(letters)
    text = "".join(f"List {k}: {', '.join(v)}.\n" for k, v in lists.items())
    return text + f"List {ask} again:", " " + ", ".join(lists[ask]) + ".\n"  # the space with the answer, as tokenized


def clue_recall_exercise(rng: random.Random) -> tuple[str, str]:
    """A training-side zebra question of 2-3 houses (its clues and choices, without the answer line), then one of its
    clues, asked for by its number, again: the look-up that the quoting worksheets (recipe 20) make before each step,
    among sentences that share most of their words."""
    from rlkit.data import generate_rows, question_of

    row = generate_rows("zebra", 1, seed=rng.randrange(2**31), held_out=False, levels=(2, 3))[0]
    question = question_of(row).split("\nAnswer with")[0]
    clues = [line.split(". ", 1) for line in question.split("Clues:\n")[1].split("\nChoices:")[0].split("\n")]
    number, text = rng.choice(clues)
    return question + f"\nClue {number} again:", " " + text + "\n"  # the space with the answer, as tokenized


EXERCISES = {"shuffle": shuffle_exercise, "recall": recall_exercise, "clue_recall": clue_recall_exercise}


def anneal(args) -> None:
    from transformers import AutoTokenizer, Qwen2ForCausalLM

    from rlkit import tiny

    mixture = json.loads(args.mixture)
    for name, make in EXERCISES.items():
        tiny.EXERCISES.setdefault(name, make)
    recipe = tiny.active_recipe()
    base = tiny.ensure_tiny_model(recipe)
    out = args.out_cache / base.name
    if out.exists():
        raise SystemExit(f"{out} exists: choose another folder")
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = Qwen2ForCausalLM.from_pretrained(base)
    phase = {**recipe, "steps": args.steps, "learning_rate": args.lr, "warmup_steps": args.warmup}  # batches: recipe's seed
    docs = tiny.build_corpus({**phase, "corpus": mixture, "seed": args.seed})  # the documents: --seed
    print(f"annealing {base.name} on {len(docs)} documents {mixture}: {args.steps} steps at {args.lr}")
    losses = tiny.pretrain(model, tiny.pack(docs, tokenizer, args.seq_len or recipe["seq_len"]), phase, log_every=100)
    shutil.copytree(base, out)
    model.save_pretrained(out)
    info = json.loads((base / "rlkit_recipe.json").read_text())
    info["anneal_probe"] = {"corpus": mixture, "corpus_seed": args.seed, "steps": args.steps,
                            "learning_rate": args.lr, "warmup_steps": args.warmup, "final_loss": losses[-1]}
    (out / "rlkit_recipe.json").write_text(json.dumps(info, indent=2))
    print(f"saved {out}: use it with RLKIT_CACHE={args.out_cache}")


def levels(args) -> None:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rlkit.config import task_budget
    from rlkit.data import generate_rows
    from rlkit.testbed import measure

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model).eval()
    budget = task_budget("grpo", args.task)  # 01's headroom table's budget
    for level in args.levels:
        rows = generate_rows(args.task, args.n, seed=1, held_out=True, levels=(level, level))
        row = measure(model, tokenizer, args.task, Dataset.from_list(rows), max_new_tokens=budget, batch_size=64).row()
        print(f"{args.task} level {level}: " + ", ".join(f"{k} {v:.3f}" if k != "n" else f"n {v}" for k, v in row.items()),
              flush=True)


def recall(args) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model).eval()
    rng, exact, first = random.Random(args.seed), 0, 0
    for _ in range(args.n):
        context, target = EXERCISES[args.exercise](rng)
        ids = tokenizer(context, return_tensors="pt")
        out = model.generate(**ids, max_new_tokens=48, do_sample=False)
        text = tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).split("\n")[0] + "\n"
        exact += text == target
        first += text.split(",")[0] == target.split(",")[0]
    print(f"{args.model}: {exact} of {args.n} {args.exercise} exercises completed exactly, the first item (up to a "
          f"comma) right in {first}")


def main() -> None:
    from pathlib import Path

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("anneal", help="continue pretraining on a mixture; save as a cache folder")
    a.add_argument("out_cache", type=Path)
    a.add_argument("mixture", help='JSON: {"zebra": 6000, "form": 4000, ...}')
    a.add_argument("--steps", type=int, default=800)
    a.add_argument("--lr", type=float, default=1e-3)
    a.add_argument("--warmup", type=int, default=30)
    a.add_argument("--seed", type=int, default=77)
    a.add_argument("--seq-len", type=int, default=0, help="block length (default: the recipe's), for longer worksheets")
    a.set_defaults(run=anneal)
    v = sub.add_parser("levels", help="one family's headroom per difficulty level")
    v.add_argument("model", type=Path)
    v.add_argument("task")
    v.add_argument("levels", type=int, nargs="+")
    v.add_argument("--n", type=int, default=200)
    v.set_defaults(run=levels)
    r = sub.add_parser("recall", help="how many new recall exercises a model (worksheet form) completes exactly")
    r.add_argument("model", type=Path)
    r.add_argument("--n", type=int, default=100)
    r.add_argument("--seed", type=int, default=999)
    r.add_argument("--exercise", choices=["recall", "clue_recall"], default="recall")
    r.set_defaults(run=recall)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
