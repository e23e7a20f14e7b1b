"""Metrics: hand-computed values, the fixed negative-class AP, bootstrap intervals, tidy tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from microbiome_lm.core.errors import InputError
from microbiome_lm.evaluate import metrics as M

# Ranked by score: positive, negative, positive, negative.
Y = np.array([1, 0, 1, 0])
P = np.array([0.9, 0.8, 0.7, 0.6])


def test_perfect_ranking_scores_one():
    values = M.score([0, 0, 1, 1, 1], [0.1, 0.2, 0.6, 0.7, 0.95])
    assert values == pytest.approx({m: 1.0 for m in M.METRICS})


def test_hand_computed_example():
    values = M.score(Y, P)
    assert values["auroc"] == pytest.approx(3 / 4)  # 3 of 4 positive/negative pairs ordered right
    # AP: recall steps of 1/2 at precisions 1 and 2/3
    assert values["average_precision"] == pytest.approx(1 / 2 * 1 + 1 / 2 * 2 / 3)
    # trapezoids from (0, 1): (0->1/2, 1->1), (1/2, 1/2: no width), (1/2->1, 1/2->2/3)
    assert values["aupr_trapezoid"] == pytest.approx(1 / 2 * 1 + 1 / 2 * (1 / 2 + 2 / 3) / 2)
    assert values["aupr_trapezoid"] != pytest.approx(values["average_precision"])


def test_negative_class_ap_ranks_controls_by_their_own_score():
    fixed = M.score(Y, P)["neg_average_precision"]
    assert fixed == pytest.approx(5 / 6)  # controls at ranks 1 and 3 when ranked by 1 - p
    original_bug = average_precision_score(1 - Y, P)  # inverted labels, positive-class scores (13 #16)
    assert original_bug == pytest.approx(1 / 2)


def test_replicate_metrics_match_sklearn_on_resamples_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 40)
    s = np.round(rng.random(40), 1)  # many ties
    draws = [rng.integers(0, 40, 40) for _ in range(20)]
    weights = np.stack([np.bincount(d, minlength=40) for d in draws]).astype(float)
    fast = M._replicate_values(y, s, weights, list(M.METRICS))
    for b, d in enumerate(draws):
        for name, fn in M.METRICS.items():
            assert fast[name][b] == pytest.approx(fn(y[d], s[d]), abs=1e-12), name


def test_bootstrap_is_stratified_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(1)
    y = (rng.random(300) < 0.1).astype(int)
    p = np.clip(0.3 * y + rng.random(300) * 0.8, 0, 1)
    a = M.bootstrap_replicates(y, p, n_boot=300, seed=7)
    b = M.bootstrap_replicates(y, p, n_boot=300, seed=7)
    c = M.bootstrap_replicates(y, p, n_boot=300, seed=8)
    point = M.score(y, p)
    for m in M.METRICS:
        assert np.array_equal(a[m], b[m])
        assert not np.array_equal(a[m], c[m])
        low, high = M.percentile_interval(a[m])
        assert low < point[m] < high
        assert np.isfinite(a[m]).all()  # every replicate kept both classes


def _predictions(n_seeds=3, n=200):
    rng = np.random.default_rng(2)
    frames = []
    for seed in range(1, n_seeds + 1):
        y = (rng.random(n) < 0.3).astype(int)
        frames.append(pd.DataFrame({"task": "ibd", "protocol": "host_blocked", "method": "rf", "eval_set": "test",
                                    "seed": seed, "epoch_choice": "final", "label": y,
                                    "score": np.clip(0.25 * y + rng.random(n), 0, 1)}))
    return pd.concat(frames, ignore_index=True)


def test_tidy_rows_and_seed_aggregation():
    pred = _predictions()
    rows = M.score_predictions(pred, n_boot=200, boot_seed=3)
    assert list(rows.columns) == list(M.ROW_COLUMNS)
    assert len(rows) == 3 * len(M.METRICS)
    assert (rows["ci_low"] <= rows["value"]).all() and (rows["value"] <= rows["ci_high"]).all()
    again = M.score_predictions(pred, n_boot=200, boot_seed=3)
    pd.testing.assert_frame_equal(rows, again)

    summary = M.aggregate_seeds(pred, n_boot=200, boot_seed=3)
    assert list(summary.columns) == list(M.SUMMARY_COLUMNS)
    auroc = rows[rows["metric"] == "auroc"]["value"]
    line = summary.set_index("metric").loc["auroc"]
    assert line["n_seeds"] == 3
    assert line["mean"] == pytest.approx(auroc.mean())
    assert line["sd"] == pytest.approx(auroc.std(ddof=1))
    assert line["ci_low"] < line["mean"] < line["ci_high"]
    per_seed_width = (rows["ci_high"] - rows["ci_low"])[rows["metric"] == "auroc"].mean()
    assert line["ci_high"] - line["ci_low"] < per_seed_width  # averaging seeds narrows the interval


def test_no_bootstrap_gives_nan_intervals():
    rows = M.metric_rows(Y, P, task="t", protocol="p", method="m", eval_set="test", seed=1, epoch_choice="final",
                         n_boot=0)
    assert rows["ci_low"].isna().all() and rows["value"].notna().all()


def test_select_epoch_takes_the_best_validation_epoch():
    y = np.array([0, 1, 0, 1])
    epochs = np.array([[0.5, 0.4, 0.6, 0.3], [0.1, 0.9, 0.2, 0.8], [0.2, 0.9, 0.1, 0.8]])
    assert M.select_epoch(y, epochs) == 1  # epochs 1 and 2 tie at AUROC 1: the earlier wins


def test_bad_scores_are_named():
    with pytest.raises(InputError, match="ibd/.*one class"):
        M.metric_rows([1, 1], [0.2, 0.3], task="ibd", protocol="p", method="m", eval_set="test", seed=1,
                      epoch_choice="final")
    with pytest.raises(InputError, match="same length|one length"):
        M.score([0, 1], [0.1])
