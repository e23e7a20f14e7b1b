"""Per-sample counts on the vocabulary and the coverage report (how much of each sample was mapped).

ASVs that map to the same vocabulary taxon are summed (as the original BLAST mapping merged
them). A sample's read fraction below ``warn_fraction`` is flagged ``warn`` and logged; below
``fail_fraction`` the whole command fails, naming the samples, since embeddings of samples whose
reads are mostly unknown to the model would look valid while meaning little.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from scipy import sparse

from ..core.errors import InputError
from .readers import FeatureTable

log = logging.getLogger(__name__)
COVERAGE_COLUMNS = ["sample_id", "total_reads", "mapped_reads", "read_fraction", "total_asvs", "mapped_asvs",
                    "asv_fraction", "vocab_taxa", "status"]


def vocabulary_counts(table: FeatureTable, vocab_ids: np.ndarray, n_vocab: int) -> sparse.csr_matrix:
    """``(n_samples, n_vocab)`` read counts of the mapped taxa (``vocab_ids`` = -1 where unmapped)."""
    mapped = np.flatnonzero(vocab_ids >= 0)
    projection = sparse.csr_matrix((np.ones(mapped.size, dtype=np.int64), (mapped, vocab_ids[mapped])),
                                   shape=(len(vocab_ids), n_vocab))
    return (table.counts @ projection).tocsr()


def coverage_report(table: FeatureTable, vocab_ids: np.ndarray, on_vocab: sparse.csr_matrix,
                    warn_fraction: float, fail_fraction: float) -> pd.DataFrame:
    """One row per sample (:data:`COVERAGE_COLUMNS`); raises :class:`InputError` below the floor."""
    counts = table.counts
    mapped = sparse.diags((vocab_ids >= 0).astype(np.int64), dtype=np.int64)
    total_reads = np.asarray(counts.sum(axis=1)).ravel()
    mapped_reads = np.asarray((counts @ mapped).sum(axis=1)).ravel()
    present = (counts > 0).astype(np.int64)
    total_asvs = np.asarray(present.sum(axis=1)).ravel()
    mapped_asvs = np.asarray((present @ mapped).sum(axis=1)).ravel()
    report = pd.DataFrame({
        "sample_id": table.sample_ids, "total_reads": total_reads, "mapped_reads": mapped_reads,
        "read_fraction": mapped_reads / total_reads, "total_asvs": total_asvs, "mapped_asvs": mapped_asvs,
        "asv_fraction": mapped_asvs / total_asvs, "vocab_taxa": np.diff(on_vocab.indptr),
    })
    report["status"] = np.where(report["read_fraction"] < fail_fraction, "fail",
                                np.where(report["read_fraction"] < warn_fraction, "warn", "ok"))
    if mapped_reads.sum() == 0:
        raise InputError(table.source, "no sequence maps onto the model vocabulary (no overlap): "
                                       "is it 16S data of the same region?")
    _raise_or_warn(table.source, report, warn_fraction, fail_fraction)
    return report[COVERAGE_COLUMNS]


def _listing(rows: pd.DataFrame) -> str:
    shown = ", ".join(f"{r.sample_id} ({r.read_fraction:.1%})" for r in rows.head(5).itertuples())
    return shown + (f" and {len(rows) - 5} more" if len(rows) > 5 else "")


def _raise_or_warn(source: str, report: pd.DataFrame, warn_fraction: float, fail_fraction: float) -> None:
    failed = report[report["status"] == "fail"]
    if len(failed):
        raise InputError(source, f"{len(failed)} sample(s) have less than {fail_fraction:.0%} of their reads on "
                                 f"the vocabulary (embed.fail_fraction): {_listing(failed)}")
    warned = report[report["status"] == "warn"]
    if len(warned):
        log.warning("%d sample(s) have less than %.0f%% of their reads on the vocabulary (embed.warn_fraction): %s",
                    len(warned), 100 * warn_fraction, _listing(warned))
