"""Which taxa the figures show, and what is known about each: rank labels, occurrences, attribution.

The figures take the ``top_taxa`` most frequent taxa by AGP occurrence (reference 10: 5000).
The plotting notebook also excluded id 0, a guard against the empty slots ``(0, 0)`` being
counted as taxon 0; occurrences here count only slots with reads, so taxon 0 (the most
prevalent ASV) is kept. Taxa never seen have NaN contextual embeddings and are never selected.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..core.arrays import load_npy
from ..core.errors import InputError
from ..core.tokens import load_vocab_embeddings

RANKS = ("Kingdom", "Phylum", "Class", "Order", "Family", "Genus")


def read_taxonomy(path: str | Path) -> pd.DataFrame:
    """TAXONOMY_TABLE (one row per taxon id; NA where unassigned), indexed by taxon."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    table = pd.read_csv(path, sep="\t", na_values=["NA", ""], keep_default_na=False)
    missing = [c for c in ("taxon", *RANKS) if c not in table.columns]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)}")
    if table["taxon"].duplicated().any():
        raise InputError(path, f"taxon {int(table.loc[table['taxon'].duplicated(), 'taxon'].iloc[0])} listed twice")
    return table.set_index("taxon")


def read_table(path: str | Path, columns: tuple[str, ...]) -> pd.DataFrame:
    """A TSV of this stage, checked for the columns the caller reads."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    table = pd.read_csv(path, sep="\t")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(path, f"missing column(s) {', '.join(missing)}")
    return table


def load_average_embeddings(path: str | Path) -> np.ndarray:
    """AVG_CONTEXTUAL_EMBEDDINGS: ``(n_vocab, hidden, 2)``."""
    path = Path(path)
    array = load_npy(path)
    if array.ndim != 3 or array.shape[2] != 2:
        raise InputError(path, f"expected shape (n_vocab, hidden, 2), found {array.shape}")
    return array


def top_taxa(stats: pd.DataFrame, top: int | None) -> np.ndarray:
    """Ids of the ``top`` most frequent taxa (ties by id), all seen taxa when ``top`` is None."""
    seen = stats[stats["count"] > 0].sort_values(["count", "taxon"], ascending=[False, True])
    return seen["taxon"].to_numpy()[: top if top is not None else len(seen)]


def mean_attribution(records: pd.DataFrame, method: str, cohort: str = "agp") -> pd.Series:
    """Mean attribution per taxon over every record of ``cohort`` (no filtering), for colouring."""
    subset = records[(records["method"] == method) & (records["cohort"] == cohort)]
    return subset.groupby("taxon")["attribution"].mean()


def load_spaces(avg_embeddings: str | Path, vocab_embeddings: str | Path) -> dict[str, np.ndarray]:
    """The two embedding spaces the figures compare, by name, checked to cover the same taxa."""
    contextual = load_average_embeddings(avg_embeddings)[..., 0]
    vocab = load_vocab_embeddings(vocab_embeddings)
    if vocab.shape[0] != contextual.shape[0]:
        raise InputError(vocab_embeddings, f"{vocab.shape[0]} taxa, the contextual embeddings have "
                                           f"{contextual.shape[0]}")
    return {"contextual": contextual, "vocabulary": vocab}
