"""Loading a policy: one function for the offline tiny model, a local folder or a hub id,
with optional 4-bit NF4 weights (bitsandbytes, CPU or GPU) and LoRA adapters (PEFT)."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rlkit.config import OFFLINE_MODEL
from rlkit.errors import RlkitError

if TYPE_CHECKING:
    import torch

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def resolve_model_path(model: str) -> str:
    """The offline sentinel becomes the cached tiny model's folder; a hub id becomes its folder in the local
    mirror when ``RLKIT_HUB_MIRROR`` is set (:mod:`rlkit.mirror`); anything else is returned as is."""
    if model == OFFLINE_MODEL:
        from rlkit.tiny import ensure_tiny_model

        return str(ensure_tiny_model())
    from rlkit.mirror import model_path

    return model_path(model)


@dataclass(frozen=True)
class Precision:
    """Where the kit computes and in which floating-point format: one rule for the weights it loads, the
    4-bit layers' compute dtype and the trainer's mixed-precision flags, so the three always agree.

    - CUDA with native bf16 (compute capability 8.0 and up: A100, L4, H100, RTX 30xx+): bf16.
    - CUDA without it (T4, V100: capability below 8.0): fp16. PyTorch emulates bf16 there, slowly, and
      ``torch.cuda.is_bf16_supported()`` says yes unless asked about native support only.
    - Apple MPS and CPU: fp32 (the trainer's flags off).
    """

    device: str  # "cuda", "mps" or "cpu"
    dtype: torch.dtype  # frozen weights, 4-bit compute and autocast
    reason: str

    @property
    def trainer_flags(self) -> dict:
        """``{"bf16", "fp16"}`` for transformers' TrainingArguments: autocast in :attr:`dtype` on a GPU."""
        import torch

        return {"bf16": self.dtype == torch.bfloat16, "fp16": self.dtype == torch.float16}

    def weights_dtype(self, trained_whole: bool = False) -> torch.dtype:
        """The dtype to load weights in. A model trained whole (no LoRA) under fp16 autocast keeps fp32
        master weights: the fp16 gradient scaler refuses fp16 parameters ("Attempting to unscale FP16
        gradients"). Frozen weights under LoRA (whose adapters PEFT keeps in fp32) load in :attr:`dtype`."""
        import torch

        return torch.float32 if trained_whole and self.dtype == torch.float16 else self.dtype


def precision() -> Precision:
    """The kit's precision rule (see :class:`Precision`) for this machine."""
    import torch

    if torch.cuda.is_available():
        name, (major, minor) = torch.cuda.get_device_name(), torch.cuda.get_device_capability()
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return Precision("cuda", torch.bfloat16, f"{name} (compute capability {major}.{minor}) has native bf16")
        return Precision("cuda", torch.float16, f"{name} (compute capability {major}.{minor}) has no native bf16")
    if torch.backends.mps.is_available():
        return Precision("mps", torch.float32, "Apple MPS: fp32 everywhere")
    return Precision("cpu", torch.float32, "no CUDA GPU or MPS")


def process_device(device: str) -> str:
    """``"cuda"`` becomes this process's GPU: under ``accelerate launch`` or torchrun each rank has its own
    (``LOCAL_RANK``), otherwise the first. Other devices are returned as they are.

    >>> process_device("cpu")
    'cpu'
    """
    return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if device == "cuda" else device


def _hub_error(model: str, err: Exception) -> RlkitError:
    return RlkitError(
        f"Could not load model {model!r}: {type(err).__name__}: {str(err).splitlines()[0][:200]}\n"
        f"It is neither a local folder nor reachable on the Hugging Face Hub (no network, or not cached). "
        f"Run offline with PROFILE='cpu' (or 'smoke'), which uses the kit's own tiny model, or pass a local "
        f"folder that holds a saved model as MODEL, or set RLKIT_HUB_MIRROR to a local mirror of the hub ids "
        f"(rlkit/mirror.py)."
    )


def load_tokenizer(model: str):
    """The tokenizer of ``model`` with a pad token set (left padding is chosen at generation time)."""
    from transformers import AutoTokenizer

    path = resolve_model_path(model)
    try:
        tok = AutoTokenizer.from_pretrained(path)
    except OSError as err:
        raise _hub_error(model, err) from err
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if tok.chat_template is None:
        raise RlkitError(f"The tokenizer of {model!r} has no chat template; use an -Instruct model or set "
                         "tokenizer.chat_template before training on conversational data.")
    return tok


def quantization_config(load_in_4bit: bool, compute_dtype):
    """NF4 with double quantization (QLoRA's recipe), or None."""
    if not load_in_4bit:
        return None
    if importlib.util.find_spec("bitsandbytes") is None:
        raise RlkitError("LOAD_IN_4BIT=True needs bitsandbytes: `pip install bitsandbytes` "
                         "(it runs on CPU and CUDA), or set LOAD_IN_4BIT=False.")
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype)


def load_model(model: str, *, load_in_4bit: bool = False, dtype=None, device: str | None = None,
               trained_whole: bool = False):
    """A causal LM from the offline sentinel, a folder or a hub id, optionally in 4-bit, in the dtype of
    :func:`precision` (``trained_whole``: a model trained without LoRA, see :meth:`Precision.weights_dtype`)."""
    from transformers import AutoModelForCausalLM

    rule = precision()
    device, dtype = device or rule.device, dtype or rule.weights_dtype(trained_whole)
    device = process_device(device)
    path = resolve_model_path(model)
    kwargs = dict(dtype=dtype, quantization_config=quantization_config(load_in_4bit, dtype))
    if load_in_4bit:
        kwargs["device_map"] = {"": device}
    try:
        lm = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except OSError as err:
        raise _hub_error(model, err) from err
    if load_in_4bit:
        keep_4bit_trainable_on_cpu(lm)
    return lm if load_in_4bit else lm.to(device)


def keep_4bit_trainable_on_cpu(lm) -> int:
    """Stop bitsandbytes from repacking NF4 weights for its CPU inference kernel.

    bitsandbytes 0.50 repacks a Linear4bit's weights into an AVX512-BF16 layout the first time it runs
    in eval mode on such a CPU, and after that its matmul takes an inference-only path that breaks
    backward (``result += bias`` on a leaf view). The kit alternates evaluation and training on the same
    model, so it keeps the trainable layout. Returns the number of layers changed.
    """
    changed = 0
    for module in lm.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):
            module.support_avx512bf16_for_cpu = False
            changed += 1
    return changed


def add_lora(lm, *, r: int, alpha: int, dropout: float = 0.0, gradient_checkpointing: bool = False):
    """Wrap ``lm`` with LoRA adapters on every linear layer; k-bit models are prepared first.

    ``prepare_model_for_kbit_training`` casts norms to fp32 and makes the embedding output require grad,
    which is what lets gradients reach the adapters through frozen (and checkpointed) 4-bit layers.
    """
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    if getattr(lm, "is_loaded_in_4bit", False):
        lm = prepare_model_for_kbit_training(lm, use_gradient_checkpointing=gradient_checkpointing,
                                             gradient_checkpointing_kwargs={"use_reentrant": False})
    elif gradient_checkpointing:
        lm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        lm.enable_input_require_grads()
    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=LORA_TARGETS, task_type="CAUSAL_LM")
    return get_peft_model(lm, cfg)


def load_policy(model: str, *, load_in_4bit: bool = False, lora_r: int = 16, lora_alpha: int = 32,
                gradient_checkpointing: bool = False, device: str | None = None, seed: int | None = None):
    """``(model, tokenizer)`` ready to train: 4-bit base + LoRA, full-precision base + LoRA, or full model.

    ``lora_r=0`` returns the plain model for a full fine-tune. ``seed`` seeds torch right before the
    adapters are initialised, so their initial weights do not depend on what ran before (building the
    tiny model, sampling): the same seed gives the same adapters on every code path.
    """
    import torch

    tokenizer = load_tokenizer(model)
    lm = load_model(model, load_in_4bit=load_in_4bit, device=device, trained_whole=not lora_r)
    if lora_r:
        if seed is not None:
            torch.manual_seed(seed)
        lm = add_lora(lm, r=lora_r, alpha=lora_alpha, gradient_checkpointing=gradient_checkpointing)
    elif gradient_checkpointing:
        lm.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    return lm, tokenizer


def load_with_adapter(model: str, adapter_dir: str | Path, *, load_in_4bit: bool = False):
    """``(model, tokenizer)`` for inference: the base ``model`` (as its run loaded it) with a trained LoRA adapter
    (a run's ``checkpoints/checkpoint-N`` or ``final`` folder) on top, in eval mode."""
    from peft import PeftModel

    if not (Path(adapter_dir) / "adapter_config.json").exists():
        raise RlkitError(f"{adapter_dir} holds no LoRA adapter (adapter_config.json): point at a run's "
                         "checkpoints/checkpoint-N or final folder.")
    lm = PeftModel.from_pretrained(load_model(model, load_in_4bit=load_in_4bit), str(adapter_dir))
    return lm.eval(), load_tokenizer(model)


def parameter_counts(lm) -> dict:
    """Trainable and total parameters (4-bit weights counted as stored elements x 2) and memory."""
    trainable = sum(p.numel() for p in lm.parameters() if p.requires_grad)
    total = 0
    for p in lm.parameters():
        total += p.numel() * 2 if p.__class__.__name__ == "Params4bit" else p.numel()
    footprint = lm.get_memory_footprint() if hasattr(lm, "get_memory_footprint") else None
    return {"trainable": trainable, "total": total, "trainable_pct": 100 * trainable / max(total, 1),
            "memory_mb": footprint / 2**20 if footprint else None}


def dequantized_weights(lm) -> dict:
    """Full-precision copies of every NF4 weight of ``lm``, keyed as in the plain model's state dict.

    These are the weights a QLoRA adapter was trained against: the NF4 values, not the original ones.
    """
    import bitsandbytes as bnb

    out = {}
    for name, module in lm.named_modules():
        if isinstance(module, bnb.nn.Linear4bit):
            weight = bnb.functional.dequantize_4bit(module.weight.data, module.weight.quant_state)
            key = name.replace("base_model.model.", "", 1).replace(".base_layer", "") + ".weight"
            out[key] = weight.float().cpu()
    return out


def save_merged(lm, tokenizer, out_dir: str | Path, base_model: str | None = None) -> Path:
    """Save a LoRA-trained policy as a plain full-precision model later notebooks can load.

    The LoRA deltas are merged into the base weights *the adapter was trained against*: for a 4-bit
    (QLoRA) policy these are the dequantized NF4 weights, not the original full-precision ones, so the
    saved model computes what the trained model computed. (Merging into the original weights, or
    re-quantizing the merged ones to NF4, loses part of what was learned: for the tiny model, held-out
    accuracy 0.50 in memory fell to 0.37 and 0.39.)
    """
    import torch
    from peft import PeftModel

    out_dir = Path(out_dir)
    if isinstance(lm, PeftModel):  # rebuild from the saved adapter: the caller's model is left untouched
        adapter_dir = out_dir / "adapter"
        lm.save_pretrained(adapter_dir)
        base_path = base_model or lm.peft_config["default"].base_model_name_or_path
        base = load_model(base_path, load_in_4bit=False, dtype=torch.float32, device="cpu")
        nf4 = dequantized_weights(lm) if importlib.util.find_spec("bitsandbytes") else {}
        params = dict(base.named_parameters())
        missing = sorted(set(nf4) - set(params))
        if missing:
            raise RuntimeError(f"Could not map 4-bit weights {missing[:3]} onto the base model's parameters.")
        with torch.no_grad():
            for key, weight in nf4.items():
                params[key].copy_(weight)
        lm = PeftModel.from_pretrained(base, adapter_dir).merge_and_unload()
    lm.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir


def weights_hash(model_dir: str | Path) -> str:
    """sha256 of a saved model's weight files: equal hashes mean bit-identical weights.

    >>> weights_hash("outputs/cpu/01_sft/model")[:12]  # doctest: +SKIP
    '3f1c0a9e7b2d'
    """
    import hashlib

    paths = sorted(Path(model_dir).glob("*.safetensors"))
    if not paths:  # an empty hash would make two missing models look identical
        raise RlkitError(f"No *.safetensors weights in {model_dir}: pass the folder a model was saved to.")
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()
