"""``microbiome-lm figure``: the results figures, drawn from the tables only (never from models).

* ``roc``: ROC curves, one panel per (task, protocol, eval set), one line per method: the
  vertical (threshold-free) average of the per-seed curves on a fixed false-positive grid.
* ``bars``: one metric's seed mean per method with its pooled bootstrap interval, panels as above.
* ``curve``: protocol C, the member-averaged metric at every epoch, one line per method.

Only each protocol's headline epoch choice is drawn (``protocols.REPORTED_CHOICE``). The file
type follows the output suffix (.png, .pdf, .svg).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.metrics import roc_curve  # noqa: E402

from ..core.atomic import atomic_path  # noqa: E402
from ..core.errors import InputError  # noqa: E402
from .protocols import REPORTED_CHOICE  # noqa: E402
from .score_files import TRANSFORMER  # noqa: E402

PANEL_KEYS = ("task", "protocol", "eval_set")
FPR_GRID = np.linspace(0, 1, 201)
LABELS = {"auroc": "AUROC", "aupr_trapezoid": "AUPR (trapezoid)", "average_precision": "average precision",
          "neg_average_precision": "AP of controls"}


def reported(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of each protocol's headline epoch choice."""
    return table[table["epoch_choice"] == table["protocol"].map(REPORTED_CHOICE)]


def mean_roc(group: pd.DataFrame) -> np.ndarray:
    """True-positive rate on :data:`FPR_GRID`, averaged over the seeds of one method."""
    curves = []
    for _, seed in group.groupby("seed"):
        fpr, tpr, _ = roc_curve(seed["label"], seed["score"])
        curves.append(np.interp(FPR_GRID, fpr, tpr))
    mean = np.mean(curves, axis=0)
    mean[0] = 0.0
    return mean


def _panels(keys: list[tuple]) -> tuple[plt.Figure, np.ndarray]:
    cols = min(3, len(keys))
    rows = int(np.ceil(len(keys) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.8 * rows), squeeze=False)
    for ax in axes.ravel()[len(keys):]:
        ax.set_visible(False)
    return fig, axes.ravel()


def _title(key: tuple) -> str:
    task, protocol, eval_set = key
    return f"{task}, protocol {protocol}" + ("" if eval_set == "test" else f", {eval_set}")


def _require(table: pd.DataFrame, columns: list[str], source: str) -> pd.DataFrame:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(source, f"missing column(s) {missing}")
    if table.empty:
        raise InputError(source, "nothing to draw")
    return table


def roc_figure(predictions: pd.DataFrame) -> plt.Figure:
    table = reported(predictions)
    keys = sorted(table.groupby(list(PANEL_KEYS)).groups)
    fig, axes = _panels(keys)
    for ax, key in zip(axes, keys):
        panel = table[(table[list(PANEL_KEYS)] == pd.Series(key, index=list(PANEL_KEYS))).all(axis=1)]
        for method, group in panel.groupby("method", sort=True):
            n = group["seed"].nunique()
            what = "ensemble" if key[1] == "C" else f"{n} seed{'s' if n > 1 else ''}"
            ax.plot(FPR_GRID, mean_roc(group), label=f"{method} ({what})", lw=1.4)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
        ax.set(title=_title(key), xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1))
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def bars_figure(summary: pd.DataFrame, metric: str) -> plt.Figure:
    table = reported(summary[summary["metric"] == metric])
    if table.empty:
        raise InputError("summary", f"no rows for metric {metric!r}")
    keys = sorted(table.groupby(list(PANEL_KEYS)).groups)
    fig, axes = _panels(keys)
    for ax, key in zip(axes, keys):
        panel = table[(table[list(PANEL_KEYS)] == pd.Series(key, index=list(PANEL_KEYS))).all(axis=1)]
        panel = panel.sort_values("method")
        x = np.arange(len(panel))
        low = (panel["mean"] - panel["ci_low"]).clip(lower=0).fillna(0)
        high = (panel["ci_high"] - panel["mean"]).clip(lower=0).fillna(0)
        colors = ["#dd8452" if m == TRANSFORMER else "#4c72b0" for m in panel["method"]]
        ax.bar(x, panel["mean"], yerr=[low, high], capsize=3, color=colors, alpha=0.85)
        ax.set_xticks(x, panel["method"], rotation=45, ha="right", fontsize=8)
        ax.set(title=_title(key), ylabel=LABELS.get(metric, metric), ylim=(0, 1.05))
        if metric == "auroc":
            ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    fig.tight_layout()
    return fig


def curve_figure(curve: pd.DataFrame, metric: str) -> plt.Figure:
    table = curve[curve["metric"] == metric]
    if table.empty:
        raise InputError("curve", f"no rows for metric {metric!r}")
    keys = sorted(table.groupby(["task", "eval_set"]).groups)
    fig, axes = _panels(keys)
    for ax, (task, eval_set) in zip(axes, keys):
        panel = table[(table["task"] == task) & (table["eval_set"] == eval_set)]
        for method, group in panel.groupby("method", sort=True):
            group = group.sort_values("epoch")
            ax.plot(group["epoch"], group["value"], marker="o" if len(group) < 20 else None, ms=3, label=method)
        ax.set(title=f"{task}, protocol C, {eval_set}", xlabel="epoch", ylabel=LABELS.get(metric, metric))
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def save(fig: plt.Figure, path: str | Path) -> None:
    """Save atomically in the format of the suffix."""
    path = Path(path)
    with atomic_path(path, suffix=path.suffix) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=150)
    plt.close(fig)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("figure", help="draw a results figure from the evaluation tables")
    p.add_argument("--kind", required=True, choices=("roc", "bars", "curve"))
    p.add_argument("--table", required=True,
                   help="roc: predictions TSV; bars: summary TSV; curve: protocol C curve TSV")
    p.add_argument("--metric", default="auroc", help="metric of bars and curve")
    p.add_argument("--out", required=True, help="output image (.png, .pdf or .svg)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    path = Path(args.table)
    if not path.is_file():
        raise InputError(path, "file not found")
    table = pd.read_csv(path, sep="\t", dtype={"task": str, "eval_set": str, "method": str})
    if args.kind == "roc":
        fig = roc_figure(_require(table, ["task", "protocol", "eval_set", "epoch_choice", "method", "seed", "label",
                                          "score"], str(path)))
    elif args.kind == "bars":
        fig = bars_figure(_require(table, ["task", "protocol", "eval_set", "epoch_choice", "method", "metric", "mean",
                                           "ci_low", "ci_high"], str(path)), args.metric)
    else:
        fig = curve_figure(_require(table, ["task", "eval_set", "method", "epoch", "metric", "value"], str(path)),
                           args.metric)
    save(fig, args.out)
    return 0
