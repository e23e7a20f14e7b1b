"""From per-epoch scores to the per-sample predictions each protocol reports (reference 8.4).

* **A** (in-distribution): per run (seed), the epoch with the best phase-1 validation AUROC;
  the test scores are read from phase 2 (retrained on train + val) at that epoch.
* **B** (out-of-distribution, single model): per run, the epoch with the best validation
  AUROC; every external cohort is read at that epoch.
* **C** (out-of-distribution ensemble): p(class 1) averaged over the members at every epoch;
  the last epoch is reported, and every epoch's metrics form the ensemble curve.

Methods with one checkpoint (most baselines) have a single epoch 0, which every rule picks.
Where a method has several epochs the last one is reported too (``epoch_choice = last``).
The output is a tidy table, one row per reported sample: :data:`PREDICTION_COLUMNS`.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.atomic import atomic_path
from ..core.errors import InputError
from .metrics import METRICS, score, select_epoch
from .score_files import read_scores

PREDICTION_COLUMNS = ("task", "protocol", "method", "eval_set", "seed", "epoch_choice", "epoch", "row", "label",
                      "score")
CURVE_COLUMNS = ("task", "protocol", "method", "eval_set", "epoch", "metric", "value")
PROTOCOLS = ("A", "B", "C")
VAL_BEST, LAST = "val_best", "last"
ENSEMBLE_SEED = 0  # the seed column of protocol C rows: the ensemble is one model
REPORTED_CHOICE = {"A": VAL_BEST, "B": VAL_BEST, "C": LAST}  # the epoch choice each protocol headlines


def run_seed_number(run: str, source: str) -> int:
    """The data-split seed a protocol A/B run is named after (the rules name runs by seed)."""
    try:
        seed = int(run)
    except ValueError:
        raise InputError(source, f"run {run!r} is not named by its integer data_split_seed") from None
    if seed < 0:
        raise InputError(source, f"run {run!r}: seeds must be non-negative")
    return seed


def epoch_matrix(scores: pd.DataFrame, source: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(epochs, rows, labels, scores[epoch, row]) of one method/run/split; every epoch must score the same rows."""
    table = scores.pivot(index="epoch", columns="row", values="score").sort_index()
    if table.isna().any().any():
        raise InputError(source, "epochs score different rows")
    labels = scores.groupby("row")["label"].agg(["min", "max"]).reindex(table.columns)
    if (labels["min"] != labels["max"]).any():
        raise InputError(source, f"row {int(labels.index[labels['min'] != labels['max']][0])} changes label "
                                 "between epochs")
    return table.index.to_numpy(), table.columns.to_numpy(), labels["min"].to_numpy(), table.to_numpy()


def _part(scores: pd.DataFrame, split: str, source: str) -> pd.DataFrame:
    part = scores[scores["split"] == split]
    if part.empty:
        raise InputError(source, f"no {split!r} scores")
    return part


def _choose(val: pd.DataFrame, source: str, metric: str) -> dict[str, int]:
    """Epoch picked on validation, and the last epoch when it differs in kind (several epochs)."""
    epochs, _, y, matrix = epoch_matrix(val, f"{source} (val)")
    chosen = {VAL_BEST: int(epochs[select_epoch(y, matrix, metric)])}
    if epochs.size > 1:
        chosen[LAST] = int(epochs[-1])
    return chosen


def _rows_at(scores: pd.DataFrame, epoch: int, keys: Mapping, source: str) -> pd.DataFrame:
    at = scores[scores["epoch"] == epoch]
    if at.empty:
        raise InputError(source, f"no scores at epoch {epoch}")
    out = at[["row", "label", "score"]].copy()
    for key, value in keys.items():
        out[key] = value
    out["epoch"] = epoch
    return out


def protocol_a(phase1: pd.DataFrame, phase2: pd.DataFrame, task: str, *, metric: str = "auroc",
               source: str = "protocol A") -> pd.DataFrame:
    """Test predictions of phase 2 at the epoch picked on phase-1 validation, per method and run.

    A method with a single checkpoint needs no phase 1 (there is no epoch to pick), so the
    baseline rules train only the multi-epoch methods in phase 1.
    """
    frames = []
    for (method, run), second in phase2.groupby(["method", "run"], sort=True):
        where = f"{source}, {method}, run {run}"
        test = _part(second, "test", where)
        first = phase1[(phase1["method"] == method) & (phase1["run"] == run)]
        if not first.empty:
            chosen = _choose(_part(first, "val", where), where, metric)
        elif test["epoch"].nunique() == 1:
            chosen = {VAL_BEST: int(test["epoch"].iloc[0])}
        else:
            raise InputError(source, f"{method} run {run}: several phase-2 epochs but no phase-1 scores to pick one")
        for choice, epoch in chosen.items():
            keys = {"task": task, "protocol": "A", "method": method, "eval_set": "test",
                    "seed": run_seed_number(run, where), "epoch_choice": choice}
            frames.append(_rows_at(test, epoch, keys, where))
    orphans = set(map(tuple, phase1[["method", "run"]].drop_duplicates().to_numpy())) - \
        set(map(tuple, phase2[["method", "run"]].drop_duplicates().to_numpy()))
    if orphans:
        method, run = sorted(orphans)[0]
        raise InputError(source, f"{method} run {run} has phase-1 but no phase-2 scores")
    return _tidy(frames)


def protocol_b(scores: pd.DataFrame, task: str, *, metric: str = "auroc", source: str = "protocol B") -> pd.DataFrame:
    """Every external cohort's predictions at the epoch picked on validation, per method and run."""
    frames = []
    for (method, run), table in scores.groupby(["method", "run"], sort=True):
        where = f"{source}, {method}, run {run}"
        cohorts = sorted(set(table["split"]) - {"train", "val", "test"})
        if not cohorts:
            raise InputError(source, f"{method} run {run} scored no external cohort")
        for choice, epoch in _choose(_part(table, "val", where), where, metric).items():
            for cohort in cohorts:
                keys = {"task": task, "protocol": "B", "method": method, "eval_set": cohort,
                        "seed": run_seed_number(run, where), "epoch_choice": choice}
                frames.append(_rows_at(table[table["split"] == cohort], epoch, keys, where))
    return _tidy(frames)


def ensemble_average(scores: pd.DataFrame, source: str = "ensemble") -> pd.DataFrame:
    """Mean p(class 1) over the runs (members) per method, epoch, split and row.

    Every member must score the same (epoch, split, row) cells with the same labels, so the
    mean is over all members everywhere (reference 8.4 C averaged the fixed-order test scores).
    """
    frames = []
    for method, table in scores.groupby("method", sort=True):
        cells = table.groupby(["epoch", "split", "row"], sort=True)
        stats = cells.agg(label_min=("label", "min"), label_max=("label", "max"), n=("run", "nunique"),
                          score=("score", "mean")).reset_index()
        n_runs = table["run"].nunique()
        if (stats["n"] != n_runs).any():
            bad = stats[stats["n"] != n_runs].iloc[0]
            raise InputError(source, f"{method}: epoch {bad['epoch']} {bad['split']} row {bad['row']} is scored by "
                                     f"{bad['n']} of {n_runs} members; members must score the same samples")
        if (stats["label_min"] != stats["label_max"]).any():
            raise InputError(source, f"{method}: members disagree on a label")
        stats = stats.rename(columns={"label_min": "label"}).drop(columns=["label_max", "n"])
        stats.insert(0, "method", method)
        frames.append(stats)
    return pd.concat(frames, ignore_index=True)


def protocol_c(scores: pd.DataFrame, task: str, *, metrics: Iterable[str] = tuple(METRICS),
               source: str = "protocol C") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(predictions at the last epoch, per-epoch metric curve) of the member-averaged scores."""
    averaged = ensemble_average(scores, source)
    averaged = averaged[~averaged["split"].isin(["train", "val", "test"])]
    if averaged.empty:
        raise InputError(source, "no external cohort scores")
    frames, curve = [], []
    for (method, cohort), table in averaged.groupby(["method", "split"], sort=True):
        last = int(table["epoch"].max())
        keys = {"task": task, "protocol": "C", "method": method, "eval_set": cohort, "seed": ENSEMBLE_SEED,
                "epoch_choice": LAST}
        frames.append(_rows_at(table, last, keys, source))
        for epoch, at in table.groupby("epoch", sort=True):
            values = score(at["label"].to_numpy(), at["score"].to_numpy(), metrics, f"{source}, {method}, {cohort}")
            curve += [(task, "C", method, cohort, int(epoch), m, v) for m, v in values.items()]
    return _tidy(frames), pd.DataFrame(curve, columns=list(CURVE_COLUMNS))


def _tidy(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True)[list(PREDICTION_COLUMNS)]


# --- command ------------------------------------------------------------------------------------

def parse_scores_spec(spec: str) -> tuple[str, str, str | None, Path]:
    """``A/ibd/1=PATH`` (protocol A needs the phase), ``B/ibd=PATH`` or ``C/ibd=PATH``."""
    key, sep, path = spec.partition("=")
    parts = key.split("/")
    if not sep or not path or parts[0] not in PROTOCOLS or len(parts) != (3 if parts[0] == "A" else 2) \
            or (parts[0] == "A" and parts[2] not in ("1", "2")):
        raise InputError("--scores", f"expected A/TASK/PHASE=PATH (PHASE 1 or 2), B/TASK=PATH or C/TASK=PATH, "
                                     f"got {spec!r}")
    return parts[0], parts[1], parts[2] if parts[0] == "A" else None, Path(path)


def select_all(specs: Iterable[str], metrics: Iterable[str], select_metric: str = "auroc"
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions and ensemble curve of every scores file; several files of one key are concatenated."""
    groups: dict[tuple, list[pd.DataFrame]] = {}
    sources: dict[tuple, list[str]] = {}
    for spec in specs:
        protocol, task, phase, path = parse_scores_spec(spec)
        groups.setdefault((protocol, task, phase), []).append(read_scores(path))
        sources.setdefault((protocol, task, phase), []).append(str(path))
    merged = {key: pd.concat(frames, ignore_index=True) for key, frames in groups.items()}
    predictions, curves = [], []
    for (protocol, task, phase), table in sorted(merged.items(), key=lambda kv: tuple(map(str, kv[0]))):
        source = ", ".join(sources[(protocol, task, phase)])
        if protocol == "A" and phase == "1" and ("A", task, "2") not in merged:
            raise InputError(source, f"protocol A task {task}: phase-2 scores are missing (--scores A/{task}/2=...)")
        if protocol == "A" and phase == "2":
            first = merged.get(("A", task, "1"), pd.DataFrame(columns=table.columns))
            predictions.append(protocol_a(first, table, task, metric=select_metric, source=source))
        elif protocol == "B":
            predictions.append(protocol_b(table, task, metric=select_metric, source=source))
        elif protocol == "C":
            preds, curve = protocol_c(table, task, metrics=metrics, source=source)
            predictions.append(preds)
            curves.append(curve)
    curve = pd.concat(curves, ignore_index=True) if curves else pd.DataFrame(columns=list(CURVE_COLUMNS))
    return pd.concat(predictions, ignore_index=True), curve


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..config import add_config_arguments

    p = subparsers.add_parser("select-scores", help="apply the protocols' epoch choices and ensemble averaging")
    p.add_argument("--scores", action="append", required=True, metavar="A/TASK/PHASE=TSV | B/TASK=TSV | C/TASK=TSV",
                   help="a scores.tsv of finetuning or baselines (repeatable; files of one key are concatenated)")
    p.add_argument("--predictions", required=True, help="output: per-sample reported predictions TSV")
    p.add_argument("--curve", required=True, help="output: protocol C per-epoch metrics TSV")
    add_config_arguments(p)
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from ..config import config_from_args

    evaluation = config_from_args(args)["evaluation"]
    predictions, curve = select_all(args.scores, evaluation["metrics"], evaluation["select_metric"])
    with atomic_path(args.predictions) as tmp_predictions, atomic_path(args.curve) as tmp_curve:
        predictions.to_csv(tmp_predictions, sep="\t", index=False, float_format="%.6g")
        curve.to_csv(tmp_curve, sep="\t", index=False, float_format="%.6g")
    return 0
