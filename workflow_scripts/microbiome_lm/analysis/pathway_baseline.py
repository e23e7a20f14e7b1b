"""The PCA baseline of the pathway comparison: taxa embedded by their abundance profiles.

The original compared against ``pca_embedded_taxa.rds`` without saying what it was a PCA of
(reference 3 step 7). Here it is the principal components of each vocabulary taxon's
relative-abundance profile over the AGP samples GloVe was trained on: taxa are the
observations, samples the variables, so two taxa that rise and fall together across samples
land close, the information GloVe's co-occurrence objective sees, without any learning. The
width defaults to that of the contextual embeddings (``model.hidden_size``). Taxa absent from
every sample have no profile and get NaN rows, which the correlation step drops.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA

from ..config import add_config_arguments, config_from_args
from ..core.arrays import load_coordinate_array
from ..core.atomic import atomic_path
from ..core.errors import InputError

log = logging.getLogger(__name__)


def relative_abundance_profiles(samples: np.ndarray, n_taxa: int) -> sp.csr_matrix:
    """Sparse (n_taxa, n_samples) matrix: each sample's read counts divided by its total."""
    counts = samples[..., 1]
    totals = counts.sum(axis=1, keepdims=True)
    rows, slots = np.nonzero(counts > 0)
    shares = counts[rows, slots] / totals[rows, 0]
    taxa = samples[rows, slots, 0].astype(np.int64)
    return sp.csr_matrix((shares, (taxa, rows)), shape=(n_taxa, len(samples)))


def pca_embeddings(samples_path: str | Path, n_taxa: int, n_components: int, seed: int) -> np.ndarray:
    """(n_taxa, n_components) float64 principal-component scores; NaN rows for taxa in no sample."""
    samples = load_coordinate_array(samples_path, vocab_size=n_taxa)
    profiles = relative_abundance_profiles(samples, n_taxa)
    seen = np.flatnonzero(profiles.getnnz(axis=1) > 0)
    if n_components >= min(len(seen), profiles.shape[1]):
        raise InputError(samples_path, f"{n_components} components need more than {n_components} observed taxa "
                                       f"and samples; found {len(seen)} taxa in {profiles.shape[1]} samples")
    pca = PCA(n_components=n_components, svd_solver="arpack", random_state=seed)
    out = np.full((n_taxa, n_components), np.nan)
    out[seen] = pca.fit_transform(profiles[seen])
    log.info("PCA of %d taxa x %d samples: %d components explain %.1f %% of the variance", len(seen),
             profiles.shape[1], n_components, 100 * pca.explained_variance_ratio_.sum())
    return out


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("pathway-pca", help="PCA baseline embeddings of the vocabulary from abundance profiles")
    p.add_argument("--samples", required=True, help="coordinate-list array of the AGP samples")
    p.add_argument("--vocab-embeddings", required=True, help="vocab_embeddings.npy (gives the vocabulary size)")
    p.add_argument("--out", required=True, help=".npy output, (n_taxa, n_components)")
    add_config_arguments(p)
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    vocab = Path(args.vocab_embeddings)
    if not vocab.is_file():
        raise InputError(vocab, "file not found")
    n_taxa = np.load(vocab, mmap_mode="r", allow_pickle=False).shape[0]
    n_components = config["pathways"]["pca"]["n_components"] or config["model"]["hidden_size"]
    out = pca_embeddings(args.samples, n_taxa, n_components, config["pathways"]["seed"])
    with atomic_path(args.out, suffix=".npy") as tmp:
        np.save(tmp, out)
    return 0
