"""Sample encoding (reference 4): descending abundance, stable tie-break, CLS first, PAD tail."""

from __future__ import annotations

import numpy as np
import pytest

from microbiome_lm.core.arrays import top_k_by_abundance
from microbiome_lm.core.tokens import build_token_table
from microbiome_lm.model.encoding import attention_mask, encode_samples

from .conftest import coordinate_rows


@pytest.fixture()
def table():
    return build_token_table(np.random.default_rng(0).normal(size=(20, 4)))


def test_order_cls_pad_and_lengths(table):
    samples = coordinate_rows([{3: 5, 7: 9, 1: 5, 12: 2}, {0: 4}, {}], width=6)
    enc = encode_samples(samples, table, max_taxa=5)
    # 9 first, then the tie 5/5 broken by ascending id (1 before 3), then 2; PAD after.
    assert enc.ids[0].tolist() == [table.cls_id, 7, 1, 3, 12, table.pad_id]
    assert enc.ids[1].tolist() == [table.cls_id, 0] + [table.pad_id] * 4
    assert enc.ids[2].tolist() == [table.cls_id] + [table.pad_id] * 5
    assert enc.lengths.tolist() == [5, 2, 1]
    assert attention_mask(enc.ids, table.pad_id)[0].tolist() == [1, 1, 1, 1, 1, 0]


def test_truncation_and_widening_match_top_k(table):
    rng = np.random.default_rng(3)
    samples = coordinate_rows(
        [{int(t): int(rng.integers(1, 4)) for t in rng.choice(20, size=int(rng.integers(1, 15)), replace=False)}
         for _ in range(30)], width=15)
    for max_taxa in (4, 15, 20):  # truncating, exact and wider than the array
        enc = encode_samples(samples, table, max_taxa=max_taxa)
        assert enc.ids.shape == (30, max_taxa + 1)
        for row, ids in zip(samples, enc.ids):
            top = top_k_by_abundance(row, max_taxa)
            expected = np.where(top[:, 1] > 0, top[:, 0], table.pad_id).astype(int)
            assert ids[0] == table.cls_id
            assert ids[1:].tolist() == expected.tolist()
