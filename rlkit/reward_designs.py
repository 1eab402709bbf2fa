"""Three ways to build a Bradley-Terry reward model, for paper P1's comparison (04_rloo, section 10).

P1 trained reward models from DeBERTa, DistilBERT and a Siamese DistilBERT for RLOO and found DeBERTa's
aligned best. The kit compares three *designs* on the same pairs and steps:

- ``cross-encoder``: one encoder reads ``[CLS] prompt [SEP] answer [SEP]`` and a linear head scores the
  [CLS] vector (``AutoModelForSequenceClassification``, what 04 trains by default). Every answer token can
  attend to every prompt token.
- ``siamese``: the *same* encoder embeds the prompt and the answer separately (mean of the token vectors),
  and a small head scores the pair from ``[u, v, u*v, |u-v|]``. The answer never attends to the prompt,
  so whether "11" is right for "5 + 7 - 1" must be read off two fixed-size vectors.
- ``decoder``: the policy itself (01's tiny SFT model) with a scalar head on its last token
  (``AutoModelForSequenceClassification`` on a causal LM: ``Qwen2ForSequenceClassification``), reading the
  policy's own ChatML rendering with the policy's tokenizer.

All three are ``PreTrainedModel``s returning ``logits`` of shape (batch, 1), so TRL's ``RewardTrainer`` trains
them and ``RLOOTrainer`` scores with them unchanged.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import AutoModel, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

from rlkit.config import name_list
from rlkit.errors import RlkitError

DESIGNS = ("cross-encoder", "siamese", "decoder")


def split_at_separator(input_ids: torch.Tensor, attention_mask: torch.Tensor, sep_id: int, cls_id: int):
    """Cut each row of ``[CLS] prompt [SEP] answer [SEP] <pad>...`` into its two parts, each re-packed from
    position 0 and right-padded: ``(prompt_ids, prompt_mask, answer_ids, answer_mask)``.

    The prompt part keeps ``[CLS] prompt [SEP]``; the answer part gets its own ``[CLS]`` in front of
    ``answer [SEP]``. A row without a separator (cut by truncation) is all prompt, and its answer is ``[CLS]``
    alone. Padding is whatever side the batch came with: positions are taken from the mask.

    >>> ids = torch.tensor([[101, 7, 8, 102, 9, 102, 0], [101, 5, 102, 6, 6, 6, 102]])
    >>> p, pm, a, am = split_at_separator(ids, (ids != 0).long(), 102, 101)
    >>> p.tolist(), a.tolist()
    ([[101, 7, 8, 102], [101, 5, 102, 0]], [[101, 9, 102, 0, 0], [101, 6, 6, 6, 102]])
    """
    batch, length = input_ids.shape
    positions = torch.arange(length, device=input_ids.device).expand(batch, length)  # (B, L)
    real = attention_mask.bool()
    is_sep = (input_ids == sep_id) & real
    last_real = torch.where(real, positions, -1).max(dim=1).values  # (B,)
    first_sep = torch.where(is_sep, positions, length).min(dim=1).values  # (B,) length when there is none
    prompt_end = torch.minimum(first_sep, last_real)  # (B,) inclusive
    first_real = torch.where(real, positions, length).min(dim=1).values  # (B,) > 0 with left padding

    def gather(starts, ends, prefix: int | None):
        """Tokens starts..ends (inclusive) of each row, from position 0, optionally after a ``prefix`` token."""
        lengths = (ends - starts + 1).clamp(min=0)  # (B,)
        width = int(lengths.max().item()) if batch else 0
        offsets = torch.arange(width, device=input_ids.device).expand(batch, width)  # (B, W)
        index = (starts[:, None] + offsets).clamp(max=length - 1)
        ids = input_ids.gather(1, index)
        mask = (offsets < lengths[:, None]).long()
        if prefix is not None:
            ids = torch.cat([torch.full((batch, 1), prefix, dtype=ids.dtype, device=ids.device), ids], dim=1)
            mask = torch.cat([torch.ones((batch, 1), dtype=mask.dtype, device=mask.device), mask], dim=1)
        return ids * mask, mask  # padding reads as id 0, masked out

    prompt_ids, prompt_mask = gather(first_real, prompt_end, None)
    answer_ids, answer_mask = gather(prompt_end + 1, last_real, cls_id)
    return prompt_ids, prompt_mask, answer_ids, answer_mask


def mean_pool(hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of the token vectors where ``mask`` is 1: ``(B, L, H), (B, L) -> (B, H)``."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)  # (B, L, 1)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


class SiameseRewardModel(PreTrainedModel):
    """One encoder, two passes: the prompt and the answer are embedded apart, then scored together.

    ``forward`` takes the cross-encoder's input (``[CLS] prompt [SEP] answer [SEP]``, as the reward model's chat
    template renders a conversation) and splits it at the first ``[SEP]`` (:func:`split_at_separator`), so the
    same tokenizer, the same pairs and TRL's trainers serve all designs.
    """

    base_model_prefix = "encoder"
    _supports_sdpa = True  # attention is the wrapped encoder's own
    _supports_attention_backend = True

    def __init__(self, config, encoder=None):
        super().__init__(config)
        self.encoder = encoder if encoder is not None else AutoModel.from_config(config)
        hidden = config.hidden_size
        self.head = nn.Sequential(nn.Linear(4 * hidden, hidden), nn.Tanh(), nn.Linear(hidden, 1))
        for layer in (self.head[0], self.head[2]):  # the encoder keeps its pretrained weights
            nn.init.normal_(layer.weight, std=getattr(config, "initializer_range", 0.02))
            nn.init.zeros_(layer.bias)

    def embed(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return mean_pool(self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state, mask)

    def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        p_ids, p_mask, a_ids, a_mask = split_at_separator(input_ids, attention_mask, self.config.sep_token_id,
                                                          self.config.cls_token_id)
        u, v = self.embed(p_ids, p_mask), self.embed(a_ids, a_mask)  # (B, H) each
        logits = self.head(torch.cat([u, v, u * v, (u - v).abs()], dim=-1))  # (B, 1)
        return SequenceClassifierOutput(logits=logits)


def load_design(design: str, *, encoder: str, policy: str, device: str | None = None):
    """``(model, tokenizer)`` of a reward-model design, untrained head, ready for RewardTrainer.

    ``encoder`` names the pretrained encoder of the cross-encoder and Siamese designs (``offline:minilm`` or a hub
    id, as :func:`rlkit.reward_model.load_reward_model` takes it); ``policy`` is the folder or hub id of the causal
    LM the decoder design starts from (the policy RLOO will train, before training).
    """
    from rlkit.modeling import _hub_error, precision, process_device
    from rlkit.reward_model import load_reward_model, load_reward_tokenizer, resolve_reward_model_path

    if design not in DESIGNS:
        raise RlkitError(f"Unknown reward-model design {design!r}: use one of {', '.join(DESIGNS)}.")
    device = process_device(device or precision().device)
    if design == "cross-encoder":
        return load_reward_model(encoder, device=device)
    if design == "decoder":  # the policy with a scalar head on its last token, read with its own chat template
        return load_reward_model(policy, device=device)
    tokenizer = load_reward_tokenizer(encoder)  # Siamese: the encoder's tokenizer with its chat template
    if tokenizer.sep_token_id is None or tokenizer.cls_token_id is None:
        raise RlkitError(f"The Siamese design splits '[CLS] prompt [SEP] answer [SEP]' at the separator, but "
                         f"{encoder}'s tokenizer has no sep/cls token. Use an encoder with both (BERT, MiniLM, "
                         "DeBERTa).")
    try:
        base = AutoModel.from_pretrained(resolve_reward_model_path(encoder), dtype=torch.float32)
    except OSError as err:
        raise _hub_error(encoder, err) from err
    config = base.config
    config.num_labels, config.sep_token_id, config.cls_token_id = 1, tokenizer.sep_token_id, tokenizer.cls_token_id
    config.pad_token_id = tokenizer.pad_token_id
    return SiameseRewardModel(config, encoder=base).to(device), tokenizer


def parse_designs(text: str | None) -> list[str]:
    """``"cross-encoder,decoder"`` -> the designs, checked; ``""`` or None -> none (the section is skipped).

    >>> parse_designs("siamese, decoder")
    ['siamese', 'decoder']
    """
    names = name_list(text or "")
    unknown = [n for n in names if n not in DESIGNS]
    if unknown:
        raise RlkitError(f"RM_DESIGNS={text!r}: unknown design(s) {unknown}. Use a comma-separated subset of "
                         f"{', '.join(DESIGNS)}, or '' to skip the comparison.")
    return names
