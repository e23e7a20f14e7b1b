"""MLM corruption (reference 4): 15 % of taxa, 80/10/10, never CLS or PAD, seeded."""

from __future__ import annotations

import numpy as np
import torch

from microbiome_lm.core.tokens import build_token_table
from microbiome_lm.model.masking import MaskingProbs, mask_tokens

TABLE = build_token_table(np.random.default_rng(0).normal(size=(50, 4)))


def _ids(n=400, length=101, taxa=70):
    ids = torch.randint(TABLE.n_vocab, (n, length), generator=torch.Generator().manual_seed(1))
    ids[:, 0] = TABLE.cls_id
    ids[:, taxa + 1:] = TABLE.pad_id
    return ids


def test_rates_and_specials():
    ids = _ids()
    out = mask_tokens(ids, TABLE, MaskingProbs(), torch.Generator().manual_seed(0))
    real = ids < TABLE.n_vocab
    assert not out.selected[~real].any()  # CLS and PAD never selected
    assert torch.equal(out.inputs[~out.selected], ids[~out.selected])
    assert abs(out.selected.float().sum() / real.sum() - 0.15) < 0.01
    chosen = out.inputs[out.selected]
    as_mask = (chosen == TABLE.mask_id).float().mean()
    unchanged = (chosen == ids[out.selected]).float().mean()
    assert abs(as_mask - 0.8) < 0.02
    # unchanged = 10 % kept + random draws that hit the original (1/50 of 10 %)
    assert abs(unchanged - (0.1 + 0.1 / TABLE.n_vocab)) < 0.015
    assert (chosen[chosen != TABLE.mask_id] < TABLE.n_vocab).all()  # random ids are real taxa


def test_seeded_and_input_untouched():
    ids = _ids(n=8)
    before = ids.clone()
    a = mask_tokens(ids, TABLE, MaskingProbs(), torch.Generator().manual_seed(5))
    b = mask_tokens(ids, TABLE, MaskingProbs(), torch.Generator().manual_seed(5))
    c = mask_tokens(ids, TABLE, MaskingProbs(), torch.Generator().manual_seed(6))
    assert torch.equal(ids, before)
    assert torch.equal(a.inputs, b.inputs) and torch.equal(a.selected, b.selected)
    assert not torch.equal(a.selected, c.selected)


def test_all_or_nothing_probabilities():
    ids = _ids(n=4)
    out = mask_tokens(ids, TABLE, MaskingProbs(1.0, 1.0, 0.0), torch.Generator().manual_seed(0))
    assert torch.equal(out.selected, ids < TABLE.n_vocab)
    assert (out.inputs[out.selected] == TABLE.mask_id).all()
    out = mask_tokens(ids, TABLE, MaskingProbs(0.0), torch.Generator().manual_seed(0))
    assert not out.selected.any() and torch.equal(out.inputs, ids)
