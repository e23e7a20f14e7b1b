"""Figures of the pathway stage: density histograms of significant |r| and a property x pathway heatmap.

Figures read the tables that ``pathway-correlations`` wrote, never the embeddings.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..core.atomic import atomic_path  # noqa: E402
from ..core.errors import InputError  # noqa: E402

MAX_HEATMAP_PATHWAYS = 60


def plot_histograms(values: dict[str, np.ndarray], bins: int, min_abs_r: float, out: Path) -> None:
    """Overlaid density histograms (gen_hists.py: 50 bins) on one shared range of |r|."""
    upper = max([v.max() for v in values.values() if len(v)], default=1.0)
    edges = np.linspace(min_abs_r, max(upper, min_abs_r + 1e-6), bins + 1)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for kind, v in values.items():
        label = f"{kind} (n = {len(v)})"
        if len(v):
            ax.hist(v, bins=edges, density=True, alpha=0.5, label=label)
        else:
            ax.plot([], [], label=f"{label}: none significant")
    ax.set_xlabel("|Pearson r| of significant property-pathway correlations")
    ax.set_ylabel("density")
    ax.legend(frameon=False)
    fig.tight_layout()
    fig.savefig(out, format=out.suffix.lstrip(".") or "png", dpi=150)
    plt.close(fig)


def heatmap_matrix(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """r of every property x shown pathway, and which cells are significant.

    Shown: the pathways significant for at least one property, the strongest first (at most
    ``MAX_HEATMAP_PATHWAYS``); without any, the strongest pathways by |r|, so the figure still says
    how close the embedding came.
    """
    folder = Path(folder)
    for name in ("correlations.tsv", "significant.tsv"):
        if not (folder / name).is_file():
            raise InputError(folder / name, "file not found (run pathway-correlations first)")
    r = pd.read_csv(folder / "correlations.tsv", sep="\t").pivot(index="property", columns="path_id",
                                                                  values="corr_val")
    significant = pd.read_csv(folder / "significant.tsv", sep="\t")
    strength = r.abs().max(axis=0)
    chosen = significant["path_id"].unique() if len(significant) else strength.index
    shown = strength.loc[list(chosen)].sort_values(ascending=False).index[:MAX_HEATMAP_PATHWAYS]
    marks = pd.DataFrame(False, index=r.index, columns=shown)
    for row in significant.itertuples():
        if row.path_id in marks.columns:
            marks.loc[row.property, row.path_id] = True
    return r[shown], marks


def plot_heatmap(folder: str | Path, title: str, out: str | Path) -> None:
    """Diverging heatmap of r (properties as rows), significant cells dotted."""
    r, marks = heatmap_matrix(folder)
    out = Path(out)
    fig, ax = plt.subplots(figsize=(max(4.0, 0.18 * r.shape[1] + 2), max(3.0, 0.12 * r.shape[0] + 1.5)))
    limit = max(float(np.nanmax(np.abs(r.to_numpy()))), 1e-6)
    image = ax.imshow(r.to_numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto", interpolation="none")
    rows, cols = np.nonzero(marks.to_numpy())
    ax.scatter(cols, rows, s=4, c="black", marker="o", linewidths=0)
    ax.set_xticks(range(r.shape[1]), r.columns, rotation=90, fontsize=6)
    ax.set_yticks(range(r.shape[0]), r.index, fontsize=5 if r.shape[0] > 40 else 7)
    ax.set_xlabel("KEGG pathway")
    ax.set_ylabel("embedding dimension (property)")
    ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, label="Pearson r", shrink=0.6)
    fig.tight_layout()
    with atomic_path(out, suffix=out.suffix) as tmp:
        fig.savefig(tmp, format=out.suffix.lstrip(".") or "png", dpi=150)
    plt.close(fig)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("pathway-heatmap", help="property x pathway heatmap of one pathway-correlations folder")
    p.add_argument("--correlations", required=True, help="pathway-correlations output folder")
    p.add_argument("--title", default="", help="figure title")
    p.add_argument("--out", required=True, help="figure (png/pdf/svg)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    plot_heatmap(args.correlations, args.title, args.out)
    return 0
