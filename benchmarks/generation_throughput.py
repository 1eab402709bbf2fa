"""Generation throughput: rlkit.evaluation.generate against a bare ``model.generate`` loop.

Same model, prompts, batch size and token budget, greedy and sampled; the two alternate for several
repeats and the median is reported, with their ratio (kit / bare: 1.0 means no overhead). Prints one
markdown row per configuration, naming the machine.

    python benchmarks/generation_throughput.py            # the offline tiny model, on CPU in seconds
    python benchmarks/generation_throughput.py --model Qwen/Qwen2.5-0.5B-Instruct --n 64 --tokens 256
"""

from __future__ import annotations

import argparse
import time
from statistics import median

from _common import machine, row


def bare_generate(model, tokenizer, prompts, *, max_new_tokens, batch_size, temperature, num_samples):
    """What a user writes without the kit: chat template, left padding, model.generate, decode."""
    import torch

    tokenizer.padding_side = "left"
    texts = []
    for i in range(0, len(prompts), batch_size):
        chats = [tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=False)
                 for p in prompts[i:i + batch_size]]
        batch = tokenizer(chats, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        sampling = ({"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0} if temperature
                    else {"do_sample": False})
        with torch.no_grad():
            out = model.generate(**batch, max_new_tokens=max_new_tokens, num_return_sequences=num_samples,
                                 pad_token_id=tokenizer.pad_token_id, **sampling)
        texts += tokenizer.batch_decode(out[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
    return texts


def count_tokens(tokenizer, texts) -> int:
    """Generated tokens, counted the same way for both (re-tokenized text, outside the timed region)."""
    return sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)


def main() -> None:
    from rlkit import evaluation, modeling
    from rlkit.config import OFFLINE_MODEL
    from rlkit.hub import load_splits

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=OFFLINE_MODEL)
    parser.add_argument("--task", default="arithmetic")
    parser.add_argument("--n", type=int, default=64, help="prompts")
    parser.add_argument("--tokens", type=int, default=64, help="max new tokens")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    model = modeling.load_model(args.model).eval()
    tokenizer = modeling.load_tokenizer(args.model)
    prompts = list(load_splits(args.task, 0, args.n, seed=0)[1]["prompt"])
    print(f"machine: {machine()} | model: {args.model} | {args.n} prompts, {args.tokens} new tokens at most\n")
    print(row(["decoding", "kit tokens/s", "bare tokens/s", "kit / bare", "machine"]))
    print(row(["---"] * 5))
    for label, temperature, samples in (("greedy", 0.0, 1), ("T=1, 4 samples", 1.0, 4)):
        kit, bare = [], []
        for _ in range(args.repeats):  # alternate, so drift in the machine's speed hits both alike
            t0 = time.perf_counter()
            gens = evaluation.generate(model, tokenizer, prompts, max_new_tokens=args.tokens,
                                       batch_size=args.batch_size, temperature=temperature, num_samples=samples,
                                       seed=0, desc="")
            seconds = time.perf_counter() - t0
            kit.append(count_tokens(tokenizer, [t for texts in gens.texts for t in texts]) / seconds)
            t0 = time.perf_counter()
            texts = bare_generate(model, tokenizer, prompts, max_new_tokens=args.tokens, batch_size=args.batch_size,
                                  temperature=temperature, num_samples=samples)
            seconds = time.perf_counter() - t0
            bare.append(count_tokens(tokenizer, texts) / seconds)
        print(row([label, f"{median(kit):.0f}", f"{median(bare):.0f}", f"{median(kit) / median(bare):.2f}",
                   machine()]), flush=True)


if __name__ == "__main__":
    main()
