"""``tsne``: 2-D t-SNE coordinates of the two embedding spaces, with what the figure colours by.

As the plotting notebook (reference 10): scikit-learn t-SNE (perplexity 100, 1000
iterations) of the averaged contextual embeddings (``[..., 0]``) and of the fixed vocabulary
embeddings, for the most frequent taxa. PCA initialisation and a fixed seed make it
reproducible. The table (one row per space and taxon) carries the phylum and the mean
attribution, so the figure reads a table, never a model.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.manifold import TSNE

from ..config import add_config_arguments, config_from_args
from .attribution import write_table
from .ranking import read_attributions
from .taxa import load_spaces, mean_attribution, read_table, read_taxonomy, top_taxa

log = logging.getLogger(__name__)


def tsne_coordinates(points: np.ndarray, perplexity: float, max_iter: int, seed: int) -> np.ndarray:
    """t-SNE to 2-D; the perplexity is lowered to (n - 1) / 3 when there are too few points."""
    usable = max(1.0, (len(points) - 1) / 3)
    if perplexity > usable:
        log.warning("perplexity %s lowered to %.1f for %d taxa", perplexity, usable, len(points))
        perplexity = usable
    return TSNE(n_components=2, perplexity=perplexity, max_iter=max_iter, init="pca", random_state=seed).fit_transform(
        np.asarray(points, dtype=np.float64))


def _run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    figures = cfg["interpret"]["figures"]
    spaces = load_spaces(args.avg_embeddings, args.vocab_embeddings)
    taxa = top_taxa(read_table(args.stats, ("taxon", "count")), figures["top_taxa"])
    phylum = read_taxonomy(args.taxonomy)["Phylum"].reindex(taxa)
    attribution = mean_attribution(read_attributions(args.attributions), figures["attribution_method"]).reindex(taxa)
    frames = []
    for name, space in spaces.items():
        xy = tsne_coordinates(space[taxa], figures["perplexity"], figures["max_iter"], cfg["seed"])
        frames.append(pd.DataFrame({"space": name, "taxon": taxa, "x": xy[:, 0], "y": xy[:, 1],
                                    "phylum": phylum.to_numpy(), "mean_attribution": attribution.to_numpy()}))
    write_table(pd.concat(frames, ignore_index=True), args.out)
    return 0


def register(subparsers) -> None:
    help_text = "t-SNE coordinates of the contextual and vocabulary embeddings (reference 10)"
    p = subparsers.add_parser("tsne", help=help_text, description=help_text)
    add_config_arguments(p)
    p.add_argument("--avg-embeddings", required=True, help="averaged contextual embeddings .npy")
    p.add_argument("--vocab-embeddings", required=True, help="vocab_embeddings.npy")
    p.add_argument("--stats", required=True, help="embedding statistics .tsv (occurrence counts)")
    p.add_argument("--taxonomy", required=True, help="taxonomy table .tsv")
    p.add_argument("--attributions", required=True, help="attribution table .tsv (colouring)")
    p.add_argument("--out", required=True, type=Path, help="coordinates table .tsv")
    p.set_defaults(func=_run)
