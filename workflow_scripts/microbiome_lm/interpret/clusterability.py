"""``clusterability``: how well KMeans clusters of an embedding space recover the taxonomy (reference 10).

For each space (averaged contextual embeddings, ``[..., 0]``; the fixed vocabulary
embeddings) and each rank, the selected taxa with a label at that rank are clustered by
KMeans with k = the number of distinct labels, in the **original space** (t-SNE distorts
distances and is only for display), and the clustering is scored against the labels by the
adjusted Rand index and normalised mutual information (scikit-learn). Each clustering is
repeated with ``kmeans_repeats`` seeds; the table has their mean and sd. A ``shuffled``
row per rank scores the same clustering of the contextual space against permuted labels
(the chance level).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from ..config import add_config_arguments, config_from_args
from .attribution import write_table
from .taxa import load_spaces, read_table, read_taxonomy, top_taxa

COLUMNS = ["space", "rank", "n_taxa", "n_clusters", "ari_mean", "ari_sd", "nmi_mean", "nmi_sd"]


def score_space(points: np.ndarray, labels: np.ndarray, n_init: int, seeds: list[int]) -> dict[str, float]:
    """KMeans (k = distinct labels) on ``points``, scored against ``labels``, over several seeds."""
    k = len(np.unique(labels))
    ari, nmi = [], []
    for seed in seeds:
        clusters = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(points)
        ari.append(adjusted_rand_score(labels, clusters))
        nmi.append(normalized_mutual_info_score(labels, clusters))
    return {"n_taxa": len(labels), "n_clusters": k, "ari_mean": float(np.mean(ari)), "ari_sd": float(np.std(ari)),
            "nmi_mean": float(np.mean(nmi)), "nmi_sd": float(np.std(nmi))}


def clusterability(spaces: dict[str, np.ndarray], taxonomy: pd.DataFrame, taxa: np.ndarray, ranks: list[str],
                   n_init: int = 10, repeats: int = 5, seed: int = 0) -> pd.DataFrame:
    """One row per (space, rank), plus the shuffled-label control; ``spaces`` are indexed by taxon id."""
    rng = np.random.default_rng(seed)
    seeds = [seed + r for r in range(repeats)]
    labels_of = taxonomy.reindex(taxa)
    rows = []
    for rank in ranks:
        labelled = labels_of[rank].notna().to_numpy()
        labels = labels_of[rank].to_numpy()[labelled]
        if len(np.unique(labels)) < 2:
            continue
        chosen = taxa[labelled]
        for name, space in spaces.items():
            rows.append({"space": name, "rank": rank, **score_space(space[chosen], labels, n_init, seeds)})
        first = next(iter(spaces))
        rows.append({"space": f"{first} (shuffled labels)", "rank": rank,
                     **score_space(spaces[first][chosen], rng.permutation(labels), n_init, seeds)})
    return pd.DataFrame(rows, columns=COLUMNS)


def _run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    figures = cfg["interpret"]["figures"]
    taxa = top_taxa(read_table(args.stats, ("taxon", "count")), figures["top_taxa"])
    table = clusterability(load_spaces(args.avg_embeddings, args.vocab_embeddings), read_taxonomy(args.taxonomy), taxa,
                           figures["ranks"], figures["kmeans_n_init"], figures["kmeans_repeats"], cfg["seed"])
    write_table(table, args.out)
    return 0


def register(subparsers) -> None:
    help_text = "KMeans ARI / NMI of the embedding spaces against the taxonomy (reference 10)"
    p = subparsers.add_parser("clusterability", help=help_text, description=help_text)
    add_config_arguments(p)
    p.add_argument("--avg-embeddings", required=True, help="averaged contextual embeddings .npy")
    p.add_argument("--vocab-embeddings", required=True, help="vocab_embeddings.npy")
    p.add_argument("--stats", required=True, help="embedding statistics .tsv (occurrence counts)")
    p.add_argument("--taxonomy", required=True, help="taxonomy table .tsv")
    p.add_argument("--out", required=True, type=Path, help="clusterability table .tsv")
    p.set_defaults(func=_run)
