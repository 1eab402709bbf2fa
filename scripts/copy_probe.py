"""Can the tiny model's architecture learn to copy names out of a list? A diagnostic for issue 11's open families.

Countdown, knights and knaves and zebra have no RL headroom on the tiny model, and the testbed's log
(docs/testbed.md) traces it to copying: the model does not write back an item of a list it was given. This
script pretrains a fresh model of the tiny recipe's shape, with the kit's tokenizer and ``rlkit.tiny.pretrain``,
on copy exercises alone::

    Names: Sofia, Owen, Emma
    (1) Sofia
    (2) Owen
    (3) Emma

and then asks it, greedily, to copy 200 new lists. It prints how many it copied exactly and the mean
negative log-likelihood of each copied name's first token (a model that only knows "one of the names in
the list" sits near log(number of names); one that ignores the list, near log(40), the size of the pool).

    python scripts/copy_probe.py --steps 300 --names 1 1 --lr 1e-3    # one name: a single look-up
    python scripts/copy_probe.py --steps 600 --names 2 4 --lr 3e-3    # the tiny recipe's learning rate

It needs the tiny model built (for its tokenizer) and takes about 25 s per 100 steps on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import random
import time


def exercise(rng: random.Random, n_min: int, n_max: int) -> tuple[str, str, list[str]]:
    from rlkit.puzzles import KK_NAMES

    names = rng.sample(KK_NAMES, rng.randint(n_min, n_max))
    return f"Names: {', '.join(names)}\n", "".join(f"({i + 1}) {n}\n" for i, n in enumerate(names)), names


def main() -> None:
    import torch
    from transformers import AutoTokenizer, Qwen2ForCausalLM

    from rlkit.tiny import RECIPE, ensure_tiny_model, pack, pretrain, tiny_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--names", type=int, nargs=2, default=(2, 4), metavar=("MIN", "MAX"))
    parser.add_argument("--lr", type=float, default=RECIPE["learning_rate"])
    parser.add_argument("--n-test", type=int, default=200)
    args = parser.parse_args()
    if not 1 <= args.names[0] <= args.names[1]:
        parser.error(f"--names MIN MAX needs 1 <= MIN <= MAX; got {args.names}")

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(ensure_tiny_model())
    rng = random.Random(0)
    corpus = [exercise(rng, *args.names)[:2] for _ in range(20000)]
    model = Qwen2ForCausalLM(tiny_config(RECIPE, tokenizer))
    recipe = {**RECIPE, "steps": args.steps, "learning_rate": args.lr}
    started = time.time()
    pretrain(model, pack(corpus, tokenizer, RECIPE["seq_len"]), recipe, log_every=100)
    model.eval()

    test, exact, nll, uniform = random.Random(99), 0, [], []
    for _ in range(args.n_test):
        context, target, names = exercise(test, *args.names)
        ids = tokenizer(context + target, return_tensors="pt")["input_ids"]  # (1, T)
        with torch.no_grad():
            logp = model(ids).logits.log_softmax(-1)[0]  # (T, V)
        text = context
        for i, name in enumerate(names):
            text += f"({i + 1})"
            at = len(tokenizer(text)["input_ids"])  # position of the name's first token
            nll.append(-logp[at - 1, ids[0, at]].item())
            uniform.append(math.log(len(names)))
            text += f" {name}\n"
        prompt = tokenizer(context, return_tensors="pt")["input_ids"]
        out = model.generate(prompt, max_new_tokens=8 * len(names), do_sample=False, pad_token_id=tokenizer.pad_token_id)
        exact += tokenizer.decode(out[0, prompt.shape[1]:]).startswith(target)
    print(f"{args.steps} steps, lr {args.lr:g}, {args.names[0]}-{args.names[1]} names, {time.time() - started:.0f} s: "
          f"copied exactly {exact}/{args.n_test}; NLL of a copied name's first token {sum(nll) / len(nll):.3f} "
          f"(log of the list's length: {sum(uniform) / len(uniform):.3f})")


if __name__ == "__main__":
    main()
