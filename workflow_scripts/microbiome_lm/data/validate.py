"""Validate every extracted sample array against the vocabulary before any stage uses it.

Writes a tidy TSV (one row per array) so a user sees at a glance what was downloaded:
samples, width, taxa per sample, reads per sample, labels and positives.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.arrays import load_coordinate_array, load_labels
from ..core.atomic import atomic_path
from ..core.errors import InputError
from ..core.tokens import load_vocab_embeddings
from .fasta import read_vocabulary_fasta
from .layout import MICROBIOMEDATA_ARRAYS

log = logging.getLogger(__name__)


def summarise_array(path: Path, labels_path: Path | None, n_taxa: int) -> dict:
    array = load_coordinate_array(path, vocab_size=n_taxa)
    present = array[..., 1] > 0
    row = {
        "file": path.name,
        "n_samples": array.shape[0],
        "width": array.shape[1],
        "dtype": str(array.dtype),
        "mean_taxa_per_sample": float(present.sum(axis=1).mean()) if array.shape[0] else 0.0,
        "max_taxa_per_sample": int(present.sum(axis=1).max()) if array.shape[0] else 0,
        "median_reads_per_sample": float(np.median(array[..., 1].sum(axis=1))) if array.shape[0] else 0.0,
        "labels": "",
        "n_positive": "",
    }
    row["n_empty_samples"] = int((~present.any(axis=1)).sum())
    if row["n_empty_samples"]:
        log.warning("%s: %d sample(s) hold no taxon (they encode as CLS only)", path, row["n_empty_samples"])
    if labels_path is not None:
        labels = load_labels(labels_path, n_samples=array.shape[0])
        row["labels"] = labels_path.name
        row["n_positive"] = int((labels == 1).sum())
    return row


def validate_dataset(data_dir: str | Path, vocab_embeddings: str | Path, vocab_fasta: str | Path,
                     n_taxa: int | None, embedding_dim: int | None) -> pd.DataFrame:
    """Check the vocabulary files agree and every array of microbiomedata.zip is well formed."""
    data_dir = Path(data_dir)
    emb = load_vocab_embeddings(vocab_embeddings)
    if n_taxa is not None and emb.shape[0] != n_taxa:
        raise InputError(vocab_embeddings, f"{emb.shape[0]} vocabulary rows, config vocab.n_taxa is {n_taxa}")
    if embedding_dim is not None and emb.shape[1] != embedding_dim:
        raise InputError(vocab_embeddings, f"embedding width {emb.shape[1]}, config vocab.embedding_dim is {embedding_dim}")
    read_vocabulary_fasta(vocab_fasta, n_taxa=emb.shape[0])
    rows = []
    for member, labels in MICROBIOMEDATA_ARRAYS.items():
        summary = summarise_array(data_dir / member, data_dir / labels if labels else None, emb.shape[0])
        summary["file"] = member
        rows.append(summary)
    table = pd.DataFrame(rows)
    by_name = table.set_index("file")["n_samples"]
    for member in MICROBIOMEDATA_ARRAYS:
        for full_tag, top_tag in (("_otu.npy", "_512.npy"), ("_all_otu.npy", "_otu_512.npy"),
                                  ("_1897.npy", "_512.npy"), ("_otu.npy", "_512_otu.npy")):
            if member.endswith(full_tag):
                twin = member[: -len(full_tag)] + top_tag
                if twin in by_name and by_name[twin] != by_name[member]:
                    raise InputError(data_dir / twin, f"{by_name[twin]} samples, but {member} has {by_name[member]}")
    return table


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("validate", help="validate the extracted arrays and the vocabulary files")
    p.add_argument("--data-dir", required=True, help="folder extracted from microbiomedata.zip")
    p.add_argument("--vocab-embeddings", required=True)
    p.add_argument("--vocab-fasta", required=True)
    p.add_argument("--n-taxa", type=int, default=None, help="expected vocabulary size")
    p.add_argument("--embedding-dim", type=int, default=None, help="expected embedding width")
    p.add_argument("--out", required=True, help="summary TSV")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    table = validate_dataset(args.data_dir, args.vocab_embeddings, args.vocab_fasta, args.n_taxa, args.embedding_dim)
    with atomic_path(args.out) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    log.info("validated %d arrays -> %s", len(table), args.out)
    return 0
