"""Figures of the interpretation stage, each drawn from a table (never from a model).

* ``plot-tsne``: 2 x 2 panels, contextual / vocabulary space x coloured by phylum / by mean
  attribution (diverging, centred on 0);
* ``plot-clusterability``: ARI and NMI bars per rank and space, with the sd over KMeans seeds;
* ``plot-top-taxa``: the top and bottom taxa as horizontal bars of their pooled mean
  attribution with 95 % intervals; the title gives the number of records behind the chart.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402

from ..config import add_config_arguments, config_from_args  # noqa: E402
from ..core.atomic import atomic_path  # noqa: E402
from ..core.errors import InputError  # noqa: E402
from .taxa import read_table, read_taxonomy  # noqa: E402

MAX_PHYLA = 9  # the most common phyla get their own colour, the rest are "other"


def save(fig, path: str | Path) -> None:
    with atomic_path(path, suffix=Path(path).suffix) as tmp:
        fig.savefig(tmp, dpi=150, bbox_inches="tight", format=Path(path).suffix.lstrip(".") or "png")
    plt.close(fig)


def tsne_figure(coords: pd.DataFrame):
    spaces = list(dict.fromkeys(coords["space"]))
    fig, axes = plt.subplots(len(spaces), 2, figsize=(11, 5 * len(spaces)), squeeze=False)
    phyla = coords["phylum"].fillna("unassigned")
    common = [p for p in phyla.value_counts().index if p != "unassigned"][:MAX_PHYLA]
    palette = dict(zip(common, plt.get_cmap("tab10").colors))
    attribution = coords["mean_attribution"]
    limit = float(np.nanmax(np.abs(attribution))) if attribution.notna().any() else 1.0
    norm = TwoSlopeNorm(vcenter=0.0, vmin=-limit or -1.0, vmax=limit or 1.0)
    for row, space in enumerate(spaces):
        part = coords[coords["space"] == space]
        labels = phyla[part.index].where(phyla[part.index].isin(common) | (phyla[part.index] == "unassigned"), "other")
        ax = axes[row, 0]
        for name in [*common, "other", "unassigned"]:
            pick = labels == name
            if pick.any():
                ax.scatter(part["x"][pick], part["y"][pick], s=8, label=f"{name} ({int(pick.sum())})",
                           color=palette.get(name, "lightgrey" if name == "unassigned" else "dimgrey"))
        ax.set_title(f"{space} embeddings, by phylum (n = {len(part)})")
        ax.legend(fontsize=7, markerscale=2, loc="best")
        ax = axes[row, 1]
        missing = part["mean_attribution"].isna()
        ax.scatter(part["x"][missing], part["y"][missing], s=6, color="lightgrey")
        points = ax.scatter(part["x"][~missing], part["y"][~missing], s=8, c=part["mean_attribution"][~missing],
                            cmap="coolwarm", norm=norm)
        fig.colorbar(points, ax=ax, label="mean attribution (towards IBD > 0)")
        ax.set_title(f"{space} embeddings, by mean attribution")
        for ax in axes[row]:
            ax.set_xticks([])
            ax.set_yticks([])
    return fig


def clusterability_figure(table: pd.DataFrame):
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    ranks = list(dict.fromkeys(table["rank"]))
    spaces = list(dict.fromkeys(table["space"]))
    width = 0.8 / max(1, len(spaces))
    for ax, metric in zip(axes, ("ari", "nmi")):
        for k, space in enumerate(spaces):
            part = table[table["space"] == space].set_index("rank").reindex(ranks)
            ax.bar(np.arange(len(ranks)) + k * width, part[f"{metric}_mean"], width, yerr=part[f"{metric}_sd"],
                   label=space, capsize=2)
        ax.set_xticks(np.arange(len(ranks)) + width * (len(spaces) - 1) / 2, ranks)
        ax.set_ylabel(metric.upper())
        ax.axhline(0, color="black", linewidth=0.5)
    axes[0].legend(fontsize=8)
    fig.suptitle("KMeans clusters vs taxonomy, in the original embedding spaces")
    return fig


def top_taxa_figure(ends: pd.DataFrame, taxonomy: pd.DataFrame | None, method: str):
    ends = ends.sort_values("mean")
    genus = taxonomy["Genus"].reindex(ends["taxon"]).fillna("unassigned").to_numpy() if taxonomy is not None else None
    labels = [str(t) if genus is None else f"{t} ({genus[k]})" for k, t in enumerate(ends["taxon"])]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(ends) + 1.5))
    error = np.vstack([ends["mean"] - ends["ci_low"], ends["ci_high"] - ends["mean"]])
    ax.barh(np.arange(len(ends)), ends["mean"], xerr=error, capsize=2,
            color=np.where(ends["mean"] > 0, "tab:red", "tab:blue"))
    ax.set_yticks(np.arange(len(ends)), labels, fontsize=8)
    ax.axvline(0, color="black", linewidth=0.5)
    ax.set_xlabel(f"mean {method.replace('_', ' ')} attribution (95 % interval)")
    ax.set_title(f"Top and bottom taxa: {len(ends)} taxa, n = {int(ends['n'].sum())} attributions")
    return fig


def _run_tsne(args: argparse.Namespace) -> int:
    save(tsne_figure(read_table(args.coordinates, ("space", "taxon", "x", "y", "phylum", "mean_attribution"))),
         args.out)
    return 0


def _run_clusterability(args: argparse.Namespace) -> int:
    table = read_table(args.table, ("space", "rank", "ari_mean", "ari_sd", "nmi_mean", "nmi_sd"))
    if table.empty:
        raise InputError(args.table, "no clusterability rows (no rank had two or more labels)")
    save(clusterability_figure(table), args.out)
    return 0


def _run_top_taxa(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    method = cfg["interpret"]["figures"]["attribution_method"]
    ends = read_table(args.top_bottom, ("method", "taxon", "n", "mean", "ci_low", "ci_high"))
    ends = ends[ends["method"] == method]
    if ends.empty:
        raise InputError(args.top_bottom, f"no taxa ranked by method {method!r}")
    taxonomy = read_taxonomy(args.taxonomy) if args.taxonomy else None
    save(top_taxa_figure(ends, taxonomy, method), args.out)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("plot-tsne", help="t-SNE figure from the coordinates table")
    p.add_argument("--coordinates", required=True, help="table written by `tsne`")
    p.add_argument("--out", required=True, type=Path, help="figure (.png, .pdf or .svg)")
    p.set_defaults(func=_run_tsne)
    p = subparsers.add_parser("plot-clusterability", help="ARI / NMI bar chart from the clusterability table")
    p.add_argument("--table", required=True, help="table written by `clusterability`")
    p.add_argument("--out", required=True, type=Path, help="figure (.png, .pdf or .svg)")
    p.set_defaults(func=_run_clusterability)
    p = subparsers.add_parser("plot-top-taxa", help="top and bottom taxa chart from the ranking")
    add_config_arguments(p)
    p.add_argument("--top-bottom", required=True, help="top/bottom table written by `rank-attributions`")
    p.add_argument("--taxonomy", default=None, help="taxonomy table .tsv (genus labels), optional")
    p.add_argument("--out", required=True, type=Path, help="figure (.png, .pdf or .svg)")
    p.set_defaults(func=_run_top_taxa)
