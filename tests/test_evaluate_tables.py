"""Metric tables (columns, values, intervals) and the figures drawn from them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from microbiome_lm.cli import main
from microbiome_lm.evaluate.metrics import aupr_trapezoid
from microbiome_lm.evaluate.protocols import PREDICTION_COLUMNS
from microbiome_lm.evaluate.tables import METRIC_COLUMNS, metric_tables

METRICS = ["auroc", "aupr_trapezoid", "average_precision"]
BOOT = {"n": 50, "seed": 0, "level": 0.9}


def predictions(seed_count=2):
    """Two methods on protocol A (two seeds) and an ensemble on protocol C; the transformer ranks better."""
    rng = np.random.default_rng(0)
    rows = []
    for protocol, eval_set, seeds, choice in (("A", "test", range(1, seed_count + 1), "val_best"),
                                              ("C", "halfvarson", [0], "last")):
        for seed in seeds:
            y = rng.permutation(np.r_[np.ones(15), np.zeros(25)]).astype(int)
            for method, noise in (("transformer", 0.3), ("rf", 1.5)):
                score = 1 / (1 + np.exp(-(2 * y - 1 + rng.normal(0, noise, y.size))))
                rows += [{"task": "ibd", "protocol": protocol, "method": method, "eval_set": eval_set, "seed": seed,
                          "epoch_choice": choice, "epoch": 3, "row": i, "label": int(t), "score": s}
                         for i, (t, s) in enumerate(zip(y, score))]
    return pd.DataFrame(rows)[list(PREDICTION_COLUMNS)]


@pytest.fixture(scope="module")
def tables():
    table = predictions()
    return table, *metric_tables(table, METRICS, BOOT)


def test_metric_rows_have_the_tidy_columns_and_the_sklearn_values(tables):
    table, rows, _ = tables
    assert list(rows.columns) == list(METRIC_COLUMNS)
    assert len(rows) == 3 * 2 * 3  # (2 seeds of A + the ensemble) x 2 methods x 3 metrics
    one = table[(table["protocol"] == "A") & (table["method"] == "rf") & (table["seed"] == 2)]
    got = rows.set_index(["protocol", "method", "seed", "metric"]).loc[("A", "rf", 2)]
    assert got.loc["auroc", "value"] == pytest.approx(roc_auc_score(one["label"], one["score"]))
    assert got.loc["average_precision", "value"] == pytest.approx(average_precision_score(one["label"], one["score"]))
    assert got.loc["aupr_trapezoid", "value"] == pytest.approx(aupr_trapezoid(one["label"], one["score"]))
    assert (got["ci_low"] <= got["value"]).all() and (got["value"] <= got["ci_high"]).all()
    assert set(rows["epoch"]) == {3} and set(rows["n"]) == {40} and set(rows["n_pos"]) == {15}


def test_summary_averages_seeds(tables):
    _, rows, summary = tables
    a = rows[(rows["protocol"] == "A") & (rows["method"] == "transformer") & (rows["metric"] == "auroc")]
    s = summary.set_index(["protocol", "method", "metric"]).loc[("A", "transformer", "auroc")]
    assert s["n_seeds"] == 2
    assert s["mean"] == pytest.approx(a["value"].mean()) and s["sd"] == pytest.approx(a["value"].std(ddof=1))
    c = summary.set_index(["protocol", "method", "metric"]).loc[("C", "rf", "auroc")]
    assert c["n_seeds"] == 1 and np.isnan(c["sd"])
    better = summary[summary["metric"] == "auroc"].set_index(["protocol", "method"])["mean"]
    assert better[("A", "transformer")] > better[("A", "rf")]


def test_table_and_figure_commands_write_valid_files(tmp_path):
    pred = tmp_path / "predictions.tsv"
    predictions().to_csv(pred, sep="\t", index=False)
    cfg = ["--set", "evaluation.bootstrap.n=20"]
    metrics, summary = tmp_path / "metrics.tsv", tmp_path / "summary.tsv"
    assert main(["metric-tables", "--predictions", str(pred), "--metrics", str(metrics), "--summary", str(summary),
                 *cfg]) == 0
    assert pd.read_csv(metrics, sep="\t").shape[0] == 18
    curve = tmp_path / "curve.tsv"
    pd.DataFrame({"task": "ibd", "protocol": "C", "method": "transformer", "eval_set": "hmp2", "epoch": range(4),
                  "metric": "auroc", "value": [0.5, 0.6, 0.7, 0.75]}).to_csv(curve, sep="\t", index=False)
    figures = {"roc.png": ("roc", pred), "bars.pdf": ("bars", summary), "curve.png": ("curve", curve)}
    for name, (kind, table) in figures.items():
        assert main(["figure", "--kind", kind, "--table", str(table), "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "bars.pdf").read_bytes()[:5] == b"%PDF-"
    # a table without the needed columns fails with its name, and no figure is left behind
    assert main(["figure", "--kind", "bars", "--table", str(metrics), "--out", str(tmp_path / "bad.png")]) == 2
    assert not (tmp_path / "bad.png").exists()
