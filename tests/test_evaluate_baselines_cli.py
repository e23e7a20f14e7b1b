"""`microbiome-lm baseline` on the toy mirror's IBD task, and the bad inputs of the evaluation stage."""

from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from microbiome_lm.cli import main
from microbiome_lm.config import load_config
from microbiome_lm.data.hosts import build_host_pickles
from microbiome_lm.data.toy import generate_toy_mirror
from microbiome_lm.evaluate.run_baselines import trim_empty_slots

from .conftest import REPO

MEMBERS = ("total_IBD_otu.npy", "total_IBD_512.npy", "total_IBD_label.npy", "train_encodings_1897.npy",
           "halfvarson_otu.npy", "halfvarson_512_otu.npy", "halfvarson_IBD_labels.npy")


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy mirror's IBD arrays, its host pickle and a host-blocked split (seed 1)."""
    root = tmp_path_factory.mktemp("evaluate_toy")
    mirror = root / "mirror"
    generate_toy_mirror(mirror, load_config(REPO / "config" / "toy.yaml"))
    data = root / "data"
    with zipfile.ZipFile(mirror / "dryad" / "microbiomedata.zip") as archive:
        for member in MEMBERS:
            (data / member).parent.mkdir(parents=True, exist_ok=True)
            (data / member).write_bytes(archive.read(member))
    meta = mirror / "agp_metadata"
    hosts = build_host_pickles(seqtab=meta / "seqtab_final_filter.07.txt",
                               vocab_fasta=mirror / "dryad" / "seqs_.07_embed.fasta",
                               err_to_qid=meta / "err-to-qid.txt", mapping=meta / "AG_mapping.txt",
                               arrays={"total_IBD": data / "total_IBD_otu.npy"}, out_dir=root / "hosts")["total_IBD"]
    split = root / "split_seed1.tsv"
    assert main(["split", "--configfile", str(REPO / "config" / "toy.yaml"), "--task", "ibd", "--labels",
                 str(data / "total_IBD_label.npy"), "--hosts", str(hosts), "--protocol", "host_blocked", "--seed", "1",
                 "--out", str(split)]) == 0
    return {"root": root, "data": data, "hosts": hosts, "split": split,
            "vocab": mirror / "dryad" / "vocab_embeddings.npy"}


def baseline_args(toy, out, *, labels=None, split=None, methods="rf,lr,static_head", extra=()):
    d = toy["data"]
    return ["baseline", "--configfile", str(REPO / "config" / "toy.yaml"), "--methods", methods,
            "--data", str(d / "total_IBD_otu.npy"), "--data-512", str(d / "total_IBD_512.npy"),
            "--labels", str(labels or d / "total_IBD_label.npy"), "--vocab-embeddings", str(toy["vocab"]),
            "--unlabelled", str(d / "train_encodings_1897.npy"), "--run", f"1={split or toy['split']}",
            "--train-parts", "train", "--eval-parts", "val,test",
            "--eval-set", f"halfvarson={d / 'halfvarson_otu.npy'}:{d / 'halfvarson_512_otu.npy'}:"
                          f"{d / 'halfvarson_IBD_labels.npy'}",
            "--out", str(out), *extra]


def test_baselines_learn_toy_ibd_in_distribution(toy):
    out = toy["root"] / "scores.tsv"
    assert main(baseline_args(toy, out)) == 0
    scores = pd.read_csv(out, sep="\t")
    assert list(scores.columns) == ["method", "run", "epoch", "split", "row", "label", "score"]
    split = pd.read_csv(toy["split"], sep="\t")
    test_rows = set(split.loc[split["split"] == "test", "row"])
    labels = np.load(toy["data"] / "total_IBD_label.npy")[:, 0]
    for method, table in scores.groupby("method"):
        test = table[table["split"] == "test"]
        assert set(test["row"]) == test_rows
        assert (test["label"].to_numpy() == labels[test["row"]]).all()
        assert set(table["split"]) == {"val", "test", "halfvarson"}
    n_epochs = load_config(REPO / "config" / "toy.yaml")["evaluation"]["baselines"]["static_head"]["epochs"]
    assert scores.loc[scores["method"] == "static_head", "epoch"].nunique() == n_epochs
    rf = scores[(scores["method"] == "rf") & (scores["split"] == "test")]
    assert roc_auc_score(rf["label"], rf["score"]) >= 0.8


def test_trim_empty_slots_keeps_every_read():
    array = np.zeros((2, 6, 2))
    array[0, 0] = (3, 5)
    array[1, 2] = (4, 1)
    trimmed = trim_empty_slots(array)
    assert trimmed.shape == (2, 2, 2) and trimmed[..., 1].sum() == 6


def test_labels_that_do_not_match_the_samples_fail_without_output(toy, capsys):
    short = toy["root"] / "short_labels.npy"
    np.save(short, np.load(toy["data"] / "total_IBD_label.npy")[:-3])
    out = toy["root"] / "mismatch.tsv"
    assert main(baseline_args(toy, out, labels=short, methods="lr")) == 2
    err = capsys.readouterr().err
    assert "short_labels.npy" in err and "do not match" in err
    assert not out.exists() and not list(out.parent.glob(".mismatch.tsv*"))


def test_one_class_task_fails_without_output(toy, capsys):
    ones = toy["root"] / "one_class.npy"
    np.save(ones, np.ones_like(np.load(toy["data"] / "total_IBD_label.npy")))
    out = toy["root"] / "one_class.tsv"
    assert main(baseline_args(toy, out, labels=ones, methods="lr")) == 2
    assert "single class" in capsys.readouterr().err and not out.exists()
    split_out = toy["root"] / "one_class_split.tsv"
    assert main(["split", "--task", "ibd", "--labels", str(ones), "--hosts", str(toy["hosts"]), "--protocol",
                 "host_blocked", "--seed", "1", "--out", str(split_out)]) == 2
    assert not split_out.exists()


def test_empty_split_after_host_blocking_fails_without_output(toy, capsys):
    labels = np.load(toy["data"] / "total_IBD_label.npy")
    with open(toy["hosts"], "rb") as handle:
        mapping = pickle.load(handle)
    # Two hosts own every row: a 70/10/20 cut over hosts leaves the validation part empty.
    hosts = list(mapping)
    lumped = {"hostA": sorted(i for h in hosts[::2] for i in mapping[h]),
              "hostB": sorted(i for h in hosts[1::2] for i in mapping[h])}
    lumped_path = toy["root"] / "two_hosts.pkl"
    lumped_path.write_bytes(pickle.dumps(lumped))
    out = toy["root"] / "empty_split.tsv"
    assert main(["split", "--task", "ibd", "--labels", str(toy["data"] / "total_IBD_label.npy"), "--hosts",
                 str(lumped_path), "--protocol", "host_blocked", "--seed", "1", "--out", str(out)]) == 2
    assert "empty" in capsys.readouterr().err and not out.exists()
    # A split file whose training part is empty (e.g. written by hand) fails the baseline job too.
    table = pd.DataFrame({"row": np.arange(labels.shape[0]), "split": "test"})
    table.loc[:4, "split"] = "val"
    no_train = toy["root"] / "no_train.tsv"
    table.to_csv(no_train, sep="\t", index=False)
    scores = toy["root"] / "no_train_scores.tsv"
    assert main(baseline_args(toy, scores, split=no_train, methods="lr")) == 2
    assert "no_train.tsv" in capsys.readouterr().err and not scores.exists()
