"""The token table: fixed vocabulary embeddings plus the MASK, CLS and PAD rows.

Layout (reference 2 and 7.3): rows ``0..V-1`` are the vocabulary taxa, then
``V = MASK``, ``V+1 = CLS``, ``V+2 = PAD``. The published code built the special rows
with quirks that the paper configuration reproduces, each a named option:

* ``mask_init="min"``: the per-dimension minimum (the "random" mask of the original is
  ``uniform(min, min)``, reference 13 #1);
* ``cls_init="mean"`` during pretraining, ``"zeros"`` for published finetuning (13 #2);
* PAD is always zeros.

The table is stored next to every checkpoint (``token_table.safetensors`` plus
``special_tokens.json``) so a checkpoint directory is self-contained.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .arrays import load_npy
from .errors import InputError

TOKEN_TABLE_FILE = "token_table.safetensors"
SPECIAL_TOKENS_FILE = "special_tokens.json"
MASK_INITS = ("min", "zeros", "random")
CLS_INITS = ("mean", "zeros")


@dataclass
class TokenTable:
    """Input embedding table with the ids of its three special rows."""

    embeddings: np.ndarray  # (n_vocab + 3, dim) float32

    @property
    def n_vocab(self) -> int:
        return self.embeddings.shape[0] - 3

    @property
    def dim(self) -> int:
        return self.embeddings.shape[1]

    @property
    def mask_id(self) -> int:
        return self.n_vocab

    @property
    def cls_id(self) -> int:
        return self.n_vocab + 1

    @property
    def pad_id(self) -> int:
        return self.n_vocab + 2

    @property
    def size(self) -> int:
        return self.embeddings.shape[0]

    def special_ids(self) -> dict[str, int]:
        return {"n_vocab": self.n_vocab, "mask_id": self.mask_id, "cls_id": self.cls_id, "pad_id": self.pad_id}

    def save(self, directory: str | Path) -> None:
        """Write the table and its special ids into ``directory`` (part of a checkpoint)."""
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({"embeddings": np.ascontiguousarray(self.embeddings, dtype=np.float32)},
                  str(directory / TOKEN_TABLE_FILE))
        (directory / SPECIAL_TOKENS_FILE).write_text(json.dumps(self.special_ids(), indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | Path) -> "TokenTable":
        from safetensors.numpy import load_file

        directory = Path(directory)
        path = directory / TOKEN_TABLE_FILE
        if not path.is_file():
            raise InputError(path, "token table missing from checkpoint directory")
        table = cls(load_file(str(path))["embeddings"].astype(np.float32))
        ids_path = directory / SPECIAL_TOKENS_FILE
        if ids_path.is_file():
            stored = json.loads(ids_path.read_text())
            if stored != table.special_ids():
                raise InputError(ids_path, f"special ids {stored} do not match the table layout {table.special_ids()}")
        return table


def load_vocab_embeddings(path: str | Path) -> np.ndarray:
    """Load ``vocab_embeddings.npy`` ((V, dim) float) and check it is finite."""
    path = Path(path)
    emb = load_npy(path)
    if emb.ndim != 2 or emb.shape[0] == 0:
        raise InputError(path, f"expected a (n_taxa, dim) matrix, found shape {emb.shape}")
    if not np.all(np.isfinite(emb)):
        row = int(np.argwhere(~np.isfinite(emb))[0][0])
        raise InputError(path, f"row {row}: embedding has non-finite values")
    return emb


def build_token_table(
    vocab_embeddings: np.ndarray,
    mask_init: str = "min",
    cls_init: str = "mean",
    seed: int = 0,
) -> TokenTable:
    """Append MASK, CLS and PAD rows to the vocabulary embeddings (see module docstring)."""
    emb = np.asarray(vocab_embeddings, dtype=np.float64)
    if mask_init == "min":
        mask = emb.min(axis=0)
    elif mask_init == "zeros":
        mask = np.zeros(emb.shape[1])
    elif mask_init == "random":
        rng = np.random.default_rng(seed)
        mask = rng.uniform(emb.min(axis=0), emb.max(axis=0))
    else:
        raise ValueError(f"mask_init must be one of {MASK_INITS}, got {mask_init!r}")
    if cls_init == "mean":
        cls_row = emb.mean(axis=0)
    elif cls_init == "zeros":
        cls_row = np.zeros(emb.shape[1])
    else:
        raise ValueError(f"cls_init must be one of {CLS_INITS}, got {cls_init!r}")
    table = np.vstack([emb, mask, cls_row, np.zeros(emb.shape[1])]).astype(np.float32)
    return TokenTable(table)
