"""Inputs of the pathway-correlation stage: the taxon x KEGG pathway table and the three embeddings.

The table is Piphillin's presence table as shipped in the Zenodo zip (reference 3 step 7), read
as R's ``write.table`` writes it (header = pathway ids only, rows named ``embed<id+1>`` or by
their 16S sequence). Embeddings come in three kinds that share one shape after loading,
``(n_taxa, n_dims)`` with the vocabulary ids of the rows:

* ``fixed``: the GloVe vocabulary embeddings (Dryad ``vocab_embeddings.npy``);
* ``contextual``: ``[..., 0]`` of the averaged contextual embeddings (reference 10), whose
  NaN rows (taxa never seen in a sample) are dropped;
* ``pca``: the PCA baseline written by ``pathway-pca`` (already ``(n_taxa, n_dims)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.arrays import load_npy
from ..core.errors import InputError
from ..data.fasta import read_fasta

EMBEDDING_KINDS = ("contextual", "fixed", "pca")


@dataclass(frozen=True)
class Aligned:
    """Embedding rows and pathway rows of the same taxa, in ascending vocabulary id."""

    taxa: np.ndarray  # vocabulary ids (0-based)
    embeddings: np.ndarray  # (n_taxa, n_dims) float64
    pathways: np.ndarray  # (n_taxa, n_pathways) float64 0/1
    pathway_ids: list[str]


def _row_ids(names: pd.Index, source: Path, vocab_fasta: str | Path | None) -> np.ndarray:
    """Vocabulary ids of the table's rows: ``embed<k>`` is id k-1; a 16S sequence needs the vocabulary fasta."""
    names = names.astype(str)
    embed = names.str.fullmatch(r"embed[1-9][0-9]*")
    if embed.all():
        return names.str.slice(5).astype(np.int64).to_numpy() - 1
    if vocab_fasta is None:
        bad = names[~embed][0]
        raise InputError(source, f"row name {bad!r} is not embed<k>; pass the vocabulary fasta to map sequences")
    index = {seq: i for i, (_, seq) in enumerate(read_fasta(vocab_fasta))}
    ids = np.array([index.get(name.upper(), -1) if not ok else int(name[5:]) - 1
                    for name, ok in zip(names, embed)], dtype=np.int64)
    if (ids < 0).any():
        raise InputError(source, f"{int((ids < 0).sum())} row(s) match no vocabulary sequence, "
                                 f"e.g. {names[int(np.argmax(ids < 0))][:40]!r}")
    return ids


def read_pathway_table(path: str | Path, vocab_fasta: str | Path | None = None) -> pd.DataFrame:
    """The 0/1 table indexed by vocabulary id (ascending), one column per pathway."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        table = pd.read_csv(path, sep="\t", index_col=0)
    except (ValueError, pd.errors.ParserError) as err:
        raise InputError(path, f"not a tab-separated table with row names ({err})") from err
    if table.empty or table.shape[1] == 0:
        raise InputError(path, "no pathway columns or no rows")
    values = table.apply(pd.to_numeric, errors="coerce")
    if values.isna().any().any() or not values.isin([0, 1]).all().all():
        column = values.columns[(values.isna() | ~values.isin([0, 1])).any()][0]
        raise InputError(path, f"pathway column {column!r} holds values other than 0 and 1")
    values.index = _row_ids(table.index, path, vocab_fasta)
    if values.index.duplicated().any():
        raise InputError(path, f"taxon id {int(values.index[values.index.duplicated()][0])} appears twice")
    return values.sort_index().astype(np.uint8)


def load_embeddings(path: str | Path, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Vocabulary ids and ``(n, dims)`` float64 rows of one embedding kind (NaN rows dropped)."""
    path = Path(path)
    if kind not in EMBEDDING_KINDS:
        raise InputError(path, f"unknown embedding kind {kind!r}; expected one of {', '.join(EMBEDDING_KINDS)}")
    array = load_npy(path)
    if kind == "contextual":
        if array.ndim != 3 or array.shape[2] != 2:
            raise InputError(path, f"expected averaged contextual embeddings (n_vocab, hidden, 2), found {array.shape}")
        array = array[..., 0]
    if array.ndim != 2 or min(array.shape) == 0:
        raise InputError(path, f"expected a (n_taxa, n_dims) matrix, found shape {array.shape}")
    array = array.astype(np.float64)
    finite = np.isfinite(array)
    seen = finite.all(axis=1)
    partial = finite.any(axis=1) & ~seen
    if partial.any():
        raise InputError(path, f"row {int(np.argmax(partial))} is partly NaN/inf (whole NaN rows mark unseen taxa)")
    return np.flatnonzero(seen), array[seen]


def align(taxa: np.ndarray, embeddings: np.ndarray, table: pd.DataFrame, embeddings_source: str | Path,
          table_source: str | Path) -> Aligned:
    """Keep the taxa that have both an embedding and a pathway row; refuse what cannot be correlated."""
    common = np.intersect1d(taxa, table.index.to_numpy())
    if len(common) < 3:
        raise InputError(embeddings_source, f"only {len(common)} taxa have both an embedding and a row in "
                                            f"{table_source}")
    data = Aligned(
        taxa=common,
        embeddings=embeddings[np.searchsorted(taxa, common)],
        pathways=table.loc[common].to_numpy(dtype=np.float64),
        pathway_ids=[str(c) for c in table.columns],
    )
    constant_dims = np.flatnonzero(data.embeddings.std(axis=0) == 0)
    if len(constant_dims):
        raise InputError(embeddings_source, f"embedding dimension {int(constant_dims[0])} is constant over the "
                                            f"{len(common)} annotated taxa")
    if (data.pathways.min(axis=0) == data.pathways.max(axis=0)).all():
        raise InputError(table_source, "every pathway is absent from all taxa or present in all taxa")
    return data
