"""GloVe-like vocabulary embeddings and the taxon x KEGG pathway table planted on them.

The published embeddings are GloVe vectors fitted to AGP co-occurrence (reference 3), and
related taxa co-occur, so they carry phylogenetic signal. The toy vectors mix three parts:
a k-mer profile of the 16S fragment (phylogeny), a factorisation of the positive pointwise
mutual information of co-occurrence in the GloVe training samples (community structure, as
GloVe's objective), and noise. The pathway table then plants known pathway/dimension links
for the pathway-correlation stage to find.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

KMER = 4
PHYLOGENY_WEIGHT, COOCCURRENCE_WEIGHT, NOISE_WEIGHT = 0.55, 0.35, 0.10
EMBEDDING_SCALE = 0.3  # overall sd, about that of published GloVe values

# Real KEGG map ids (metabolism), the column names of the toy pathway table.
KEGG_PATHWAYS = tuple(f"ko{n:05d}" for n in (
    10, 20, 30, 40, 51, 52, 53, 61, 71, 190, 195, 230, 240, 250, 260, 270, 280, 290, 300, 310,
    330, 340, 350, 360, 380, 400, 410, 430, 440, 450, 460, 470, 480, 500, 520, 540, 550, 562,
    564, 620, 630, 640, 650, 660, 670, 680, 710, 720, 730, 740, 750, 760, 770, 780, 790, 860,
    900, 910, 920, 970,
))
N_EMBEDDING_LINKED, N_PHYLUM_LINKED = 6, 14
EMBEDDING_LINK_SLOPE = 3.0  # logit per sd of the linked dimension
PATHWAY_COVERAGE = 0.92  # share of vocabulary taxa the functional prediction annotates


def kmer_profiles(sequences: list[str], k: int = KMER) -> np.ndarray:
    """Relative k-mer frequencies, one row per sequence."""
    index = {"".join(p): i for i, p in enumerate(product("ACGT", repeat=k))}
    out = np.zeros((len(sequences), len(index)))
    for row, seq in enumerate(sequences):
        for start in range(len(seq) - k + 1):
            out[row, index[seq[start: start + k]]] += 1
    return out / out.sum(axis=1, keepdims=True)


def _components(matrix: np.ndarray, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Top ``dim`` principal directions (scaled by singular value), randomly rotated, unit sd.

    The rotation mixes the components, as GloVe dimensions are not ordered by variance.
    """
    centred = matrix - matrix.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    keep = min(dim, len(s))
    out = np.zeros((matrix.shape[0], dim))
    out[:, :keep] = u[:, :keep] * s[:keep]
    rotation, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    out = out @ rotation
    return out / out.std()


def ppmi(presence: np.ndarray) -> np.ndarray:
    """Positive pointwise mutual information of taxon co-occurrence (samples x taxa presence)."""
    x = presence.astype(np.float64)
    cooc = x.T @ x
    np.fill_diagonal(cooc, 0.0)
    total = cooc.sum()
    marginal = cooc.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(cooc * total / np.outer(marginal, marginal))
    return np.where(np.isfinite(pmi) & (pmi > 0), pmi, 0.0)


def vocab_embeddings(rng: np.random.Generator, sequences: list[str], train_presence: np.ndarray,
                     dim: int) -> np.ndarray:
    """(n_taxa, dim) float64 embeddings in vocabulary order."""
    phylogeny = _components(kmer_profiles(sequences), dim, rng)
    cooccurrence = _components(ppmi(train_presence), dim, rng)
    noise = rng.normal(size=phylogeny.shape)
    mixed = PHYLOGENY_WEIGHT * phylogeny + COOCCURRENCE_WEIGHT * cooccurrence + NOISE_WEIGHT * noise
    return EMBEDDING_SCALE * mixed / mixed.std()


@dataclass(frozen=True)
class PathwayTable:
    """Taxon x pathway 0/1 table and the role of every pathway."""

    pathways: tuple[str, ...]  # column names
    taxa: np.ndarray  # vocabulary ids of the rows (ascending)
    table: np.ndarray  # (len(taxa), len(KEGG_PATHWAYS)) uint8
    embedding_linked: list[dict]  # {"pathway", "dimension", "sign"}
    phylum_linked: list[dict]  # {"pathway", "phyla"}
    constant: list[str]  # all-0 or all-1 columns (the R script drops them)
    noise: list[str]


def pathway_table(rng: np.random.Generator, embeddings: np.ndarray, phyla: list[str]) -> PathwayTable:
    """Plant embedding-linked, phylum-linked, constant and noise pathways (shuffled over the ids)."""
    n_taxa, dim = embeddings.shape
    roles = (["embedding"] * N_EMBEDDING_LINKED + ["phylum"] * N_PHYLUM_LINKED + ["zero", "one"]
             + ["noise"] * (len(KEGG_PATHWAYS) - N_EMBEDDING_LINKED - N_PHYLUM_LINKED - 2))
    roles = [roles[i] for i in rng.permutation(len(roles))]
    z = (embeddings - embeddings.mean(axis=0)) / embeddings.std(axis=0)
    dims = rng.choice(dim, N_EMBEDDING_LINKED, replace=dim < N_EMBEDDING_LINKED)
    names, counts = np.unique(phyla, return_counts=True)
    phyla = np.asarray(phyla)
    table = np.zeros((n_taxa, len(KEGG_PATHWAYS)), dtype=np.uint8)
    embedding_linked, phylum_linked, constant, noise = [], [], [], []
    for column, (pathway, role) in enumerate(zip(KEGG_PATHWAYS, roles)):
        if role == "embedding":
            d, sign = int(dims[len(embedding_linked)]), int(rng.choice([-1, 1]))
            logit = EMBEDDING_LINK_SLOPE * sign * z[:, d] - 1.0 + rng.normal(0.0, 0.5, n_taxa)
            p = 1.0 / (1.0 + np.exp(-logit))
            embedding_linked.append({"pathway": pathway, "dimension": d, "sign": sign})
        elif role == "phylum":
            carriers = rng.choice(names, size=int(rng.integers(1, 3)), replace=False, p=counts / counts.sum())
            p = np.where(np.isin(phyla, carriers), 0.85, 0.08)
            phylum_linked.append({"pathway": pathway, "phyla": sorted(str(c) for c in carriers)})
        elif role in ("zero", "one"):
            p = np.full(n_taxa, float(role == "one"))
            constant.append(pathway)
        else:
            p = np.full(n_taxa, rng.uniform(0.05, 0.5))
            noise.append(pathway)
        table[:, column] = rng.random(n_taxa) < p
    rows = np.sort(rng.choice(n_taxa, int(round(PATHWAY_COVERAGE * n_taxa)), replace=False))
    return PathwayTable(KEGG_PATHWAYS, rows, table[rows], embedding_linked, phylum_linked, constant, noise)
