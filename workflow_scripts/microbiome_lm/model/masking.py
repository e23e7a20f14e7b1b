"""Masked-language-model corruption, vectorised over a whole batch (reference 4).

As published: every real taxon position (never CLS, never PAD) is selected with
probability ``mask_prob``; of the selected positions ``mask_token_prob`` become MASK,
``random_token_prob`` a uniformly drawn real taxon (never a special token), the rest stay
unchanged. All selected positions are prediction targets. The original drew these per
token in a Python loop inside ``Dataset.__getitem__``; here it is three tensor draws from
an explicit generator, so a batch's corruption depends only on its seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..core.tokens import TokenTable


@dataclass(frozen=True)
class MaskingProbs:
    mask_prob: float = 0.15
    mask_token_prob: float = 0.8
    random_token_prob: float = 0.1

    def __post_init__(self):
        if self.mask_token_prob + self.random_token_prob > 1:
            raise ValueError("mask_token_prob + random_token_prob must not exceed 1")

    @classmethod
    def from_config(cls, section: dict) -> "MaskingProbs":
        return cls(section["mask_prob"], section["mask_token_prob"], section["random_token_prob"])


@dataclass
class MaskedBatch:
    """Corrupted ids and the boolean map of selected (target) positions."""

    inputs: torch.Tensor  # int64, same shape as the original ids
    selected: torch.Tensor  # bool


def mask_tokens(ids: torch.Tensor, table: TokenTable, probs: MaskingProbs,
                generator: torch.Generator) -> MaskedBatch:
    """Corrupt ``ids`` (any shape) as published; ``ids`` itself is left untouched."""
    real = ids < table.n_vocab  # excludes MASK, CLS and PAD
    selected = real & (torch.rand(ids.shape, generator=generator) < probs.mask_prob)
    choice = torch.rand(ids.shape, generator=generator)
    random_ids = torch.randint(table.n_vocab, ids.shape, generator=generator, dtype=ids.dtype)
    to_mask = selected & (choice < probs.mask_token_prob)
    to_random = selected & ~to_mask & (choice < probs.mask_token_prob + probs.random_token_prob)
    inputs = torch.where(to_mask, torch.full_like(ids, table.mask_id), ids)
    inputs = torch.where(to_random, random_ids, inputs)
    return MaskedBatch(inputs, selected)
