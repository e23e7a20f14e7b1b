"""Ranking metrics, stratified bootstrap intervals and tidy metric tables (reference 8.4, 13 #16).

Metrics, each a function of 0/1 labels ``y`` and scores ``p`` = p(class 1):

* ``auroc``: ``roc_auc_score``;
* ``aupr_trapezoid``: the transformer code's AUPR, trapezoidal ``auc(recall, precision)`` over
  ``precision_recall_curve`` (slightly optimistic);
* ``average_precision``: ``average_precision_score``, DeepMicro's AUPR;
* ``neg_average_precision``: AP of the *negative* class, labels ``1 - y`` ranked by ``1 - p``.
  The original "Neg AUPR" ranked the inverted labels by ``p`` itself, which measures nothing
  useful (13 #16); it is not reproduced.

Bootstrap intervals resample positives and negatives separately (stratified, so every replicate
keeps both classes) and compute every metric on the same draws. The replicate metrics are
vectorised over all draws at once (no per-replicate sort) and agree with scikit-learn on ties.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_auc_score

from ..core.errors import InputError

KEY_COLUMNS = ("task", "protocol", "method", "eval_set", "seed", "epoch_choice")
ROW_COLUMNS = (*KEY_COLUMNS, "metric", "value", "ci_low", "ci_high", "n", "n_pos")
SUMMARY_COLUMNS = (*(k for k in KEY_COLUMNS if k != "seed"), "metric", "n_seeds", "mean", "sd", "ci_low", "ci_high")
_BLOCK = 256  # bootstrap replicates scored per block, to bound memory on large eval sets


def aupr_trapezoid(y: np.ndarray, p: np.ndarray) -> float:
    precision, recall, _ = precision_recall_curve(y, p)
    return float(auc(recall, precision))


def neg_average_precision(y: np.ndarray, p: np.ndarray) -> float:
    return float(average_precision_score(1 - np.asarray(y), 1 - np.asarray(p)))


METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "auroc": lambda y, p: float(roc_auc_score(y, p)),
    "aupr_trapezoid": aupr_trapezoid,
    "average_precision": lambda y, p: float(average_precision_score(y, p)),
    "neg_average_precision": neg_average_precision,
}


# --- the same metrics on weighted copies of one scored set (one weight row per bootstrap replicate) --
# A bootstrap replicate is the eval set with multiplicities ``w`` (how often each sample was drawn).
# Sorting the scores once and accumulating the weights in that order gives every replicate's curve
# without sorting each replicate; tied scores form one threshold, as in scikit-learn.

def _curve(y: np.ndarray, s: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """True and false positives (replicates x thresholds) at each distinct score, highest first."""
    order = np.argsort(-s, kind="stable")
    ss = s[order]
    ends = np.flatnonzero(np.append(ss[:-1] != ss[1:], True))
    wt = w[:, order]
    tp = np.cumsum(wt * y[order], axis=1)[:, ends]
    fp = np.cumsum(wt, axis=1)[:, ends] - tp
    return tp, fp


def _previous(a: np.ndarray, start: float) -> np.ndarray:
    """``a`` shifted one threshold to the right, with the curve's starting value in front."""
    return np.concatenate([np.full((a.shape[0], 1), start), a[:, :-1]], axis=1)


def _precision(tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    """Precision; 1 before the first drawn sample (the (recall 0, precision 1) start of the curve)."""
    total = tp + fp
    return np.divide(tp, total, out=np.ones_like(tp, dtype=np.float64), where=total > 0)


def _auroc_rows(tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    tpr, fpr = tp / tp[:, -1:], fp / fp[:, -1:]
    return ((fpr - _previous(fpr, 0.0)) * (tpr + _previous(tpr, 0.0)) / 2).sum(axis=1)


def _average_precision_rows(tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    return ((tp - _previous(tp, 0.0)) * _precision(tp, fp)).sum(axis=1) / tp[:, -1]


def _aupr_trapezoid_rows(tp: np.ndarray, fp: np.ndarray) -> np.ndarray:
    recall, precision = tp / tp[:, -1:], _precision(tp, fp)
    return ((recall - _previous(recall, 0.0)) * (precision + _previous(precision, 1.0)) / 2).sum(axis=1)


# metric -> (scored on the negative class?, function of the curve)
_ROW_METRICS: dict[str, tuple[bool, Callable[[np.ndarray, np.ndarray], np.ndarray]]] = {
    "auroc": (False, _auroc_rows),
    "aupr_trapezoid": (False, _aupr_trapezoid_rows),
    "average_precision": (False, _average_precision_rows),
    "neg_average_precision": (True, _average_precision_rows),
}


def _replicate_values(y: np.ndarray, s: np.ndarray, w: np.ndarray, metrics: list[str]) -> dict[str, np.ndarray]:
    """Each metric on every weight row; one curve per class direction, shared by the metrics."""
    curves = {}
    out = {}
    for m in metrics:
        negative, fn = _ROW_METRICS[m]
        if negative not in curves:
            curves[negative] = _curve(1 - y, 1 - s, w) if negative else _curve(y, s, w)
        out[m] = fn(*curves[negative])
    return out


def _check_scores(y, p, source: str) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    if y.ndim != 1 or y.shape != p.shape:
        raise InputError(source, f"labels {y.shape} and scores {p.shape} must be vectors of one length")
    if not np.isin(y, (0, 1)).all():
        raise InputError(source, "labels must be 0 or 1")
    if y.min(initial=1) == y.max(initial=0):
        raise InputError(source, f"all {y.size} labels are one class; ranking metrics are undefined")
    if not np.isfinite(p).all():
        raise InputError(source, "scores must be finite")
    return y.astype(np.int64), p


def _check_metrics(metrics: Iterable[str]) -> list[str]:
    metrics = list(metrics)
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; known: {list(METRICS)}")
    return metrics


def score(y, p, metrics: Iterable[str] = tuple(METRICS), source: str = "scores") -> dict[str, float]:
    """Point estimates of ``metrics``."""
    y, p = _check_scores(y, p, source)
    return {m: METRICS[m](y, p) for m in _check_metrics(metrics)}


def bootstrap_replicates(y, p, metrics: Iterable[str] = tuple(METRICS), *, n_boot: int = 1000,
                         seed: int | Sequence[int] = 0, source: str = "scores") -> dict[str, np.ndarray]:
    """``n_boot`` stratified bootstrap values of each metric; the same draws for every metric."""
    y, p = _check_scores(y, p, source)
    metrics = _check_metrics(metrics)
    rng = np.random.default_rng(seed)
    classes = [np.flatnonzero(y == c) for c in (1, 0)]
    out = {m: np.empty(n_boot) for m in metrics}
    for start in range(0, n_boot, _BLOCK):
        size = min(_BLOCK, n_boot - start)
        draws = np.concatenate([rows[rng.integers(0, rows.size, (size, rows.size))] for rows in classes], axis=1)
        offsets = (draws + y.size * np.arange(size)[:, None]).ravel()
        weights = np.bincount(offsets, minlength=size * y.size).reshape(size, y.size).astype(np.float64)
        for m, values in _replicate_values(y, p, weights, metrics).items():
            out[m][start:start + size] = values
    return out


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Central percentile interval of bootstrap values (NaN, NaN without values)."""
    if len(values) == 0:
        return float("nan"), float("nan")
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def metric_rows(y, p, *, task: str, protocol: str, method: str, eval_set: str, seed: int, epoch_choice: str,
                metrics: Iterable[str] = tuple(METRICS), n_boot: int = 1000, boot_seed: int = 0,
                level: float = 0.95) -> pd.DataFrame:
    """Tidy rows (one per metric) with point estimate and bootstrap interval for one set of scores.

    The bootstrap generator is seeded with ``[boot_seed, seed]``, so a row's interval depends only
    on its own scores and these two integers, not on what else is scored in the same run.
    """
    source = f"{task}/{protocol}/{method}/{eval_set}/seed {seed}"
    points = score(y, p, metrics, source)
    reps = bootstrap_replicates(y, p, list(points), n_boot=n_boot, seed=[boot_seed, seed], source=source)
    y = np.asarray(y)
    rows = [(task, protocol, method, eval_set, seed, epoch_choice, m, value, *percentile_interval(reps[m], level),
             y.size, int(y.sum())) for m, value in points.items()]
    return pd.DataFrame(rows, columns=list(ROW_COLUMNS))


def _check_predictions(predictions: pd.DataFrame) -> None:
    missing = [c for c in (*KEY_COLUMNS, "label", "score") if c not in predictions.columns]
    if missing:
        raise InputError("predictions", f"missing column(s) {missing}")


def score_predictions(predictions: pd.DataFrame, *, metrics: Iterable[str] = tuple(METRICS), n_boot: int = 1000,
                      boot_seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Metric rows for every (task, protocol, method, eval_set, seed, epoch_choice) group of a
    per-sample predictions table (columns :data:`KEY_COLUMNS` + ``label``, ``score``)."""
    _check_predictions(predictions)
    metrics = _check_metrics(metrics)
    frames = [
        metric_rows(group["label"].to_numpy(), group["score"].to_numpy(), **dict(zip(KEY_COLUMNS, keys)),
                    metrics=metrics, n_boot=n_boot, boot_seed=boot_seed, level=level)
        for keys, group in predictions.groupby(list(KEY_COLUMNS), sort=True)
    ]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(ROW_COLUMNS))


def aggregate_seeds(predictions: pd.DataFrame, *, metrics: Iterable[str] = tuple(METRICS), n_boot: int = 1000,
                    boot_seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Across seeds: mean and sd of the per-seed estimates, and the pooled interval of that mean.

    The pooled interval is the percentile interval of the seed-mean over bootstrap replicates in
    which every seed's eval set is resampled (stratified) with the same draws as
    :func:`metric_rows`, so it reflects the sampling uncertainty of the averaged number.
    """
    _check_predictions(predictions)
    metrics = _check_metrics(metrics)
    group_keys = [k for k in KEY_COLUMNS if k != "seed"]
    rows = []
    for keys, group in predictions.groupby(group_keys, sort=True):
        points, reps = [], []
        for seed, part in group.groupby("seed", sort=True):
            source = "/".join(map(str, keys)) + f"/seed {seed}"
            y, p = part["label"].to_numpy(), part["score"].to_numpy()
            points.append(score(y, p, metrics, source))
            reps.append(bootstrap_replicates(y, p, metrics, n_boot=n_boot, seed=[boot_seed, int(seed)], source=source))
        for m in metrics:
            values = np.array([pt[m] for pt in points])
            pooled = np.mean([r[m] for r in reps], axis=0)
            sd = float(values.std(ddof=1)) if values.size > 1 else float("nan")
            rows.append((*keys, m, values.size, float(values.mean()), sd, *percentile_interval(pooled, level)))
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def select_epoch(y_val, epoch_scores: np.ndarray, metric: str = "auroc") -> int:
    """Index of the epoch whose validation scores maximise ``metric`` (earliest on ties)."""
    epoch_scores = np.atleast_2d(np.asarray(epoch_scores, dtype=np.float64))
    values = [score(y_val, s, [metric], "validation scores")[metric] for s in epoch_scores]
    return int(np.argmax(values))
