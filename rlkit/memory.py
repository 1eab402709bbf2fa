"""Where training memory goes: an analytic breakdown for Qwen2.5-0.5B's shapes and a measured step.

For a 0.5B model, weights are small (about 1 GB in bf16) while the logits over a 151,936-token
vocabulary are large: one fp32 logits tensor for 8 sequences of 512 tokens is 2.5 GB, and its
gradient as much again. So 4-bit weights save ~0.5 GB of a budget dominated by activations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

GB = 1e9


@dataclass(frozen=True)
class Shapes:
    """The sizes that decide a decoder's parameter count."""

    hidden: int
    layers: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int


QWEN25_05B = Shapes(hidden=896, layers=24, heads=14, kv_heads=2, ffn=4864, vocab=151_936)


def parameter_breakdown(s: Shapes) -> dict[str, int]:
    """Embedding (tied with the LM head) and transformer-block parameters.

    >>> round(sum(parameter_breakdown(QWEN25_05B).values()) / 1e6)
    494
    """
    kv = s.hidden // s.heads * s.kv_heads  # width of the K and V projections (grouped-query attention)
    attention = 2 * (s.hidden * s.hidden + s.hidden) + 2 * (s.hidden * kv + kv) - 2 * s.hidden  # q,o + k,v (+bias)
    mlp = 3 * s.hidden * s.ffn
    per_layer = attention + mlp + 2 * s.hidden  # + two RMSNorms
    return {"embedding": s.vocab * s.hidden, "blocks": s.layers * per_layer + s.hidden}


def memory_table(s: Shapes = QWEN25_05B, batch: int = 8, seq: int = 512, lora_params: int = 8_800_000) -> list[dict]:
    """Approximate training memory in GB, bf16 weights vs NF4 weights (embedding kept in bf16, as bitsandbytes does)."""
    p = parameter_breakdown(s)
    nf4_blocks = p["blocks"] * (0.5 + 0.5 / 64 * 4 / 4)  # 4 bits a weight + one fp32 scale per 64 (double-quantized)
    logits = batch * seq * s.vocab * 4  # fp32 logits for the loss
    rows = [
        ("weights: embedding / LM head", p["embedding"] * 2, p["embedding"] * 2),
        ("weights: transformer blocks", p["blocks"] * 2, nf4_blocks),
        ("LoRA adapters + AdamW state (fp32)", lora_params * 16, lora_params * 16),
        (f"logits, fp32 ({batch} x {seq} x {s.vocab:,})", logits, logits),
        ("gradient of the logits", logits, logits),
    ]
    return [{"component": name, "bf16_GB": round(a / GB, 2), "nf4_GB": round(b / GB, 2)} for name, a, b in rows]


def measure_step(model, tokenizer, batch_size: int = 8, seq_len: int = 128, steps: int = 3) -> dict:
    """Seconds per forward+backward on the model's device, weight memory, and (CUDA) peak memory."""
    import torch

    device = next(model.parameters()).device
    ids = torch.randint(10, len(tokenizer) - 1, (batch_size, seq_len), generator=torch.Generator().manual_seed(0))
    ids = ids.to(device)
    model.train()
    if device.type == "cuda":
        torch.cuda.synchronize(), torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(steps + 1):  # the first step warms up kernels and is not counted
        t0 = time.perf_counter()
        model(input_ids=ids, labels=ids).loss.backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    model.zero_grad(set_to_none=True)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else None
    return {"seconds_per_step": sum(times[1:]) / steps, "weights_MB": model.get_memory_footprint() / 2**20,
            "peak_MB": peak}
