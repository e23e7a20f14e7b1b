"""Sample encoding: coordinate-list rows to token-id sequences, for a whole array at once.

As published (reference 4): taxa sorted by descending abundance, the top ``max_taxa`` kept,
CLS prepended (abundance 1), PAD wherever the abundance is 0; attention on every non-PAD
position. The published sort was an unstable quicksort, so ties were ordered arbitrarily
although the rank feeds the absolute position embedding (reference 13 #28). Here ties are
broken by ascending vocabulary id, the same rule as :func:`core.arrays.top_k_by_abundance`.

Everything is one ``np.lexsort`` over the array instead of a Python loop per sample, and
the result is stored once so that every epoch only slices it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..core.tokens import TokenTable


@dataclass
class EncodedSamples:
    """Token ids ``(n, max_taxa + 1)`` (CLS first, PAD-filled tail) and the unpadded lengths."""

    ids: torch.Tensor  # int64
    lengths: torch.Tensor  # int64, CLS included

    def __len__(self) -> int:
        return self.ids.shape[0]

    @property
    def seq_len(self) -> int:
        return self.ids.shape[1]


def encode_samples(array: np.ndarray, table: TokenTable, max_taxa: int) -> EncodedSamples:
    """Encode a validated ``(n, width, 2)`` coordinate-list array (see module docstring).

    The array must already be validated against the vocabulary
    (:func:`core.arrays.load_coordinate_array`): ids are taken as given.
    """
    n, width, _ = array.shape
    ids = array[..., 0].astype(np.int64)
    counts = array[..., 1]
    # lexsort: last key is primary -> counts descending, then ids ascending; zero counts sort last.
    order = np.lexsort((ids, -counts), axis=1)[:, :max_taxa]
    sorted_ids = np.take_along_axis(ids, order, axis=1)
    present = np.take_along_axis(counts, order, axis=1) > 0
    tokens = np.full((n, max_taxa + 1), table.pad_id, dtype=np.int64)
    tokens[:, 0] = table.cls_id
    kept = min(width, max_taxa)
    tokens[:, 1 : kept + 1] = np.where(present, sorted_ids, table.pad_id)
    lengths = 1 + present.sum(axis=1)
    return EncodedSamples(torch.from_numpy(tokens), torch.from_numpy(lengths.astype(np.int64)))


def attention_mask(ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """1 on CLS and taxa, 0 on PAD (the original's ``species_frequencies != 0``)."""
    return (ids != pad_id).long()
