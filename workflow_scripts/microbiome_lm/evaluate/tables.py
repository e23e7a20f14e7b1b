"""``microbiome-lm metric-tables``: the results tables from the reported predictions.

``metrics.tsv``: one row per (task, protocol, method, eval_set, seed, epoch_choice, metric)
with the point estimate, its stratified bootstrap interval (``evaluation.bootstrap``), the
epoch it was read at and the class counts. ``summary.tsv``: the same over seeds (mean, sd and
the pooled bootstrap interval of the mean, see :func:`metrics.aggregate_seeds`).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from ..core.atomic import atomic_path
from ..core.errors import InputError
from .metrics import KEY_COLUMNS, ROW_COLUMNS, aggregate_seeds, score_predictions
from .protocols import PREDICTION_COLUMNS

METRIC_COLUMNS = (*ROW_COLUMNS[:len(KEY_COLUMNS)], "epoch", *ROW_COLUMNS[len(KEY_COLUMNS):])


def read_predictions(path: str | Path) -> pd.DataFrame:
    """The ``select-scores`` predictions table, checked for its columns."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    table = pd.read_csv(path, sep="\t", dtype={"task": str, "protocol": str, "method": str, "eval_set": str,
                                               "epoch_choice": str})
    missing = [c for c in PREDICTION_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(path, f"missing column(s) {missing}")
    if table.empty:
        raise InputError(path, "no predictions")
    return table


def metric_tables(predictions: pd.DataFrame, metrics: Iterable[str], bootstrap: Mapping
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-seed metrics, seed summary) of a predictions table."""
    metrics = list(metrics)
    options = {"metrics": metrics, "n_boot": bootstrap["n"], "boot_seed": bootstrap["seed"],
               "level": bootstrap["level"]}
    rows = score_predictions(predictions, **options)
    epochs = predictions.groupby(list(KEY_COLUMNS), sort=True)["epoch"].first().reset_index()
    rows = rows.merge(epochs, on=list(KEY_COLUMNS), how="left")[list(METRIC_COLUMNS)]
    return rows, aggregate_seeds(predictions, **options)


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..config import add_config_arguments

    p = subparsers.add_parser("metric-tables", help="per-seed and aggregated metric tables with bootstrap intervals")
    p.add_argument("--predictions", required=True, help="predictions TSV of select-scores")
    p.add_argument("--metrics", required=True, help="output: per-seed metrics TSV")
    p.add_argument("--summary", required=True, help="output: over-seed summary TSV")
    add_config_arguments(p)
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from ..config import config_from_args

    evaluation = config_from_args(args)["evaluation"]
    rows, summary = metric_tables(read_predictions(args.predictions), evaluation["metrics"], evaluation["bootstrap"])
    with atomic_path(args.metrics) as tmp_rows, atomic_path(args.summary) as tmp_summary:
        rows.to_csv(tmp_rows, sep="\t", index=False, float_format="%.6g")
        summary.to_csv(tmp_summary, sep="\t", index=False, float_format="%.6g")
    return 0
