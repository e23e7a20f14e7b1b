"""Protocol logic on hand-made scores: epoch picked on validation, phase-2 test read, ensemble averaging."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from microbiome_lm.cli import main
from microbiome_lm.core.errors import InputError
from microbiome_lm.evaluate.protocols import ensemble_average, protocol_a, protocol_b, protocol_c, select_all
from microbiome_lm.evaluate.score_files import SCORE_COLUMNS, read_scores, write_scores

VAL_Y = np.array([0, 0, 1, 1])
TEST_Y = np.array([0, 1, 0, 1, 1])


def scores(method, run, split, labels, per_epoch, rows=None):
    """Scores table rows: ``per_epoch`` is a list of score vectors, one per epoch."""
    rows = np.arange(len(labels)) if rows is None else np.asarray(rows)
    return pd.DataFrame([
        {"method": method, "run": str(run), "epoch": e, "split": split, "row": int(r), "label": int(y), "score": s}
        for e, vector in enumerate(per_epoch) for r, y, s in zip(rows, labels, vector)
    ])


GOOD_VAL, BAD_VAL = [0.1, 0.2, 0.8, 0.9], [0.9, 0.8, 0.2, 0.1]


def test_protocol_a_picks_phase1_val_epoch_and_reads_phase2_test():
    # Run 1: validation is best at epoch 1; run 2: at epoch 2 (epoch 0 ties are broken to the earliest).
    phase1 = pd.concat([
        scores("transformer", 1, "val", VAL_Y, [BAD_VAL, GOOD_VAL, BAD_VAL]),
        scores("transformer", 2, "val", VAL_Y, [BAD_VAL, BAD_VAL, GOOD_VAL]),
        scores("transformer", 1, "test", TEST_Y, [[0.5] * 5] * 3),
    ])
    marks = [[e / 10 + r / 100 for r in range(5)] for e in range(3)]  # each epoch's test scores are recognisable
    phase2 = pd.concat([scores("transformer", run, "test", TEST_Y, marks) for run in (1, 2)])
    out = protocol_a(phase1, phase2, "ibd")
    best = out[out["epoch_choice"] == "val_best"].set_index(["seed", "row"])
    assert best.loc[1, "epoch"].unique().tolist() == [1] and best.loc[2, "epoch"].unique().tolist() == [2]
    assert best.loc[(1, 3), "score"] == pytest.approx(0.13)
    assert best.loc[(2, 4), "score"] == pytest.approx(0.24)
    last = out[out["epoch_choice"] == "last"]
    assert set(last["epoch"]) == {2} and len(last) == 10
    assert set(out["eval_set"]) == {"test"} and set(out["protocol"]) == {"A"} and set(out["task"]) == {"ibd"}


def test_protocol_a_single_checkpoint_method_needs_no_phase1():
    phase2 = scores("rf", 3, "test", TEST_Y, [[0.1, 0.9, 0.2, 0.8, 0.7]])
    empty = pd.DataFrame(columns=list(SCORE_COLUMNS))
    out = protocol_a(empty, phase2, "fruit")
    assert out["epoch_choice"].tolist() == ["val_best"] * 5 and set(out["seed"]) == {3}
    with pytest.raises(InputError, match="no phase-1 scores"):
        protocol_a(empty, scores("static_head", 3, "test", TEST_Y, [[0.5] * 5] * 2), "fruit")


def test_protocol_b_reads_every_cohort_at_the_val_epoch():
    table = pd.concat([
        scores("transformer", 4, "val", VAL_Y, [BAD_VAL, GOOD_VAL]),
        scores("transformer", 4, "halfvarson", TEST_Y, [[0.0] * 5, [1.0] * 5]),
        scores("transformer", 4, "hmp2", VAL_Y, [[0.3] * 4, [0.6] * 4]),
    ])
    out = protocol_b(table, "ibd")
    best = out[out["epoch_choice"] == "val_best"]
    assert set(best["eval_set"]) == {"halfvarson", "hmp2"} and set(best["epoch"]) == {1}
    assert best.loc[best["eval_set"] == "hmp2", "score"].tolist() == [0.6] * 4


def test_ensemble_averages_members_per_epoch_and_cohort():
    table = pd.concat([
        scores("transformer", "member1", "halfvarson", TEST_Y, [[0.2, 0.4, 0.2, 0.4, 0.4], [0.0, 1.0, 0.0, 1.0, 1.0]]),
        scores("transformer", "member2", "halfvarson", TEST_Y, [[0.4, 0.2, 0.4, 0.2, 0.2], [0.2, 0.8, 0.4, 0.6, 1.0]]),
    ])
    averaged = ensemble_average(table).set_index(["epoch", "row"])
    assert averaged.loc[(1, 3), "score"] == pytest.approx(0.8)
    assert averaged.loc[(0, 0), "score"] == pytest.approx(0.3)
    predictions, curve = protocol_c(table, "ibd", metrics=["auroc"])
    assert set(predictions["epoch"]) == {1} and set(predictions["epoch_choice"]) == {"last"}
    assert predictions.set_index("row").loc[2, "score"] == pytest.approx(0.2)
    by_epoch = curve.set_index("epoch")["value"]
    assert by_epoch[0] == pytest.approx(0.5) and by_epoch[1] == pytest.approx(1.0)  # averaged, then scored


def test_ensemble_members_must_score_the_same_samples():
    table = pd.concat([
        scores("transformer", "member1", "hmp2", VAL_Y, [[0.1, 0.2, 0.3, 0.4]]),
        scores("transformer", "member2", "hmp2", VAL_Y[:3], [[0.1, 0.2, 0.3]]),
    ])
    with pytest.raises(InputError, match="1 of 2 members"):
        ensemble_average(table, "C scores")


def test_read_scores_adds_transformer_method_and_rejects_bad_files(tmp_path):
    table = scores("x", 1, "val", VAL_Y, [GOOD_VAL]).drop(columns="method")
    table.to_csv(tmp_path / "ft.tsv", sep="\t", index=False)
    assert set(read_scores(tmp_path / "ft.tsv")["method"]) == {"transformer"}
    table.assign(score=2.0).to_csv(tmp_path / "bad.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match=r"bad\.tsv.*probabilities"):
        read_scores(tmp_path / "bad.tsv")
    table.drop(columns="label").to_csv(tmp_path / "cols.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match="missing column"):
        read_scores(tmp_path / "cols.tsv")


def test_select_scores_command_merges_finetune_and_baseline_files(tmp_path):
    ft1 = scores("transformer", 1, "val", VAL_Y, [BAD_VAL, GOOD_VAL])
    ft2 = scores("transformer", 1, "test", TEST_Y, [[0.1, 0.9, 0.2, 0.8, 0.7], [0.2, 0.6, 0.1, 0.9, 0.8]])
    base2 = scores("rf", 1, "test", TEST_Y, [[0.3, 0.5, 0.4, 0.6, 0.9]])
    ens = scores("transformer", "member1", "halfvarson", TEST_Y, [[0.4, 0.5, 0.3, 0.6, 0.7]])
    paths = {}
    for name, table in {"ft1": ft1, "ft2": ft2, "base2": base2, "ens": ens}.items():
        paths[name] = tmp_path / f"{name}.tsv"
        write_scores(paths[name], table)
    specs = [f"A/ibd/1={paths['ft1']}", f"A/ibd/2={paths['ft2']}", f"A/ibd/2={paths['base2']}", f"C/ibd={paths['ens']}"]
    argv = ["select-scores", "--predictions", str(tmp_path / "p.tsv"), "--curve", str(tmp_path / "c.tsv")]
    assert main([*argv, *(a for s in specs for a in ("--scores", s))]) == 0
    predictions = pd.read_csv(tmp_path / "p.tsv", sep="\t")
    assert set(predictions["method"]) == {"transformer", "rf"} and set(predictions["protocol"]) == {"A", "C"}
    # phase 1 without phase 2 is an error that names the key, and nothing is written
    out = tmp_path / "none.tsv"
    assert main(["select-scores", "--scores", f"A/veg/1={paths['ft1']}", "--predictions", str(out), "--curve",
                 str(tmp_path / "none_curve.tsv")]) == 2
    assert not out.exists() and not (tmp_path / "none_curve.tsv").exists()
    with pytest.raises(InputError, match="A/TASK/PHASE"):
        select_all([f"A/ibd={paths['ft1']}"], ["auroc"])
