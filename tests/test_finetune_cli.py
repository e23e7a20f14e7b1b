"""``microbiome-lm finetune`` on the toy mirror: outputs, checkpoint round trip, runs trained together, bad input."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from microbiome_lm.cli import main
from microbiome_lm.config import validate_config
from microbiome_lm.data.toy import generate_toy_mirror
from microbiome_lm.model.checkpoint import load_checkpoint
from microbiome_lm.model.encoding import attention_mask, encode_samples

MODEL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
TOY = {"n_taxa": 60, "n_hosts": 40, "n_halfvarson": 12, "n_hmp2": 10, "taxa_per_sample": 12, "embedding_dim": 8,
       "full_width": 64, "top_width": 16}
MAX_TAXA = 16
CONFIG = {"seed": 5, "device": "cpu", "threads": 1, "encoding": {"max_taxa": MAX_TAXA}, "model": MODEL,
          "vocab": {"n_taxa": 60, "embedding_dim": 8},
          "finetune": {"epochs": 2, "batch_size": 16, "eval_batch_size": 7, "lr": 0.05}}
PUBLISHED = "5head5layer_epoch120_disc"


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy mirror's IBD task, Halfvarson cohort, vocabulary and published (random) discriminator."""
    root = tmp_path_factory.mktemp("finetune")
    mirror = root / "mirror"
    generate_toy_mirror(mirror, validate_config({"encoding": {"max_taxa": MAX_TAXA}, "model": MODEL, "toy": TOY}))
    paths = {"vocab": mirror / "dryad" / "vocab_embeddings.npy", "config": root / "config.yaml",
             "pretrained": root / PUBLISHED}
    with zipfile.ZipFile(mirror / "dryad" / "microbiomedata.zip") as archive:
        for key, member in {"data": "total_IBD_512.npy", "labels": "total_IBD_label.npy",
                            "hv": "halfvarson_512_otu.npy", "hv_labels": "halfvarson_IBD_labels.npy"}.items():
            paths[key] = root / member
            paths[key].write_bytes(archive.read(member))
    paths["pretrained"].mkdir()
    with zipfile.ZipFile(mirror / "dryad" / "pretrainedmodels.zip") as archive:
        for name in archive.namelist():
            if f"{PUBLISHED}/" in name and not name.endswith("/"):
                (paths["pretrained"] / name.rsplit("/", 1)[1]).write_bytes(archive.read(name))
    paths["config"].write_text(yaml.safe_dump(CONFIG))
    labels = np.load(paths["labels"])[:, 0]
    n = labels.size
    parts = np.where(np.arange(n) % 10 < 7, "train", np.where(np.arange(n) % 10 < 8, "val", "test"))
    paths["split"] = root / "split_1.tsv"
    pd.DataFrame({"row": np.arange(n), "split": parts}).to_csv(paths["split"], sep="\t", index=False)
    return paths


def common(paths, out_dir, *extra, labels=None):
    return ["finetune", "--configfile", str(paths["config"]), "--pretrained", str(paths["pretrained"]),
            "--vocab-embeddings", str(paths["vocab"]), "--data", str(paths["data"]),
            "--labels", str(labels or paths["labels"]), "--out-dir", str(out_dir), "--no-progress", *extra]


@pytest.fixture(scope="module")
def ensemble(toy, tmp_path_factory):
    out = tmp_path_factory.mktemp("ensemble") / "out"
    assert main(common(toy, out, "--members", "2", "--eval-set", f"halfvarson={toy['hv']}:{toy['hv_labels']}",
                       "--save-checkpoints")) == 0
    return out


def test_members_write_tidy_scores_and_log(toy, ensemble):
    scores = pd.read_csv(ensemble / "scores.tsv", sep="\t")
    assert list(scores.columns) == ["run", "epoch", "split", "row", "label", "score"]
    hv_labels = np.load(toy["hv_labels"])[:, 0]
    assert set(scores["run"]) == {"member1", "member2"} and set(scores["epoch"]) == {0, 1}
    assert set(scores["split"]) == {"halfvarson"}
    for _, group in scores.groupby(["run", "epoch"]):
        assert group["row"].tolist() == list(range(hv_labels.size))
        assert np.array_equal(group["label"].to_numpy(), hv_labels)
    assert scores["score"].between(0, 1).all()
    # two members, two seeds: different heads, different scores
    last = scores[scores["epoch"] == 1]
    assert not np.allclose(last[last["run"] == "member1"]["score"], last[last["run"] == "member2"]["score"])
    log = pd.read_csv(ensemble / "train_log.tsv", sep="\t")
    assert list(log.columns) == ["run", "epoch", "train_loss", "seconds"]
    assert len(log) == 4 and log["train_loss"].between(0, 1).all() and (log["seconds"] > 0).all()


def test_checkpoint_round_trip_gives_identical_scores(toy, ensemble):
    ckpt = load_checkpoint(ensemble / "member2")
    assert ckpt.architecture == "ElectraForSequenceClassification"
    assert ckpt.meta["run"] == "member2" and ckpt.meta["seed"] == CONFIG["seed"] + 2
    vocab = np.load(toy["vocab"]).astype(np.float32)
    np.testing.assert_array_equal(ckpt.table.embeddings[:vocab.shape[0]], vocab)  # vocabulary rows frozen
    assert np.abs(ckpt.table.embeddings[ckpt.table.cls_id]).sum() > 0  # the CLS row trained away from zeros
    encoded = encode_samples(np.load(toy["hv"]), ckpt.table, MAX_TAXA)
    with torch.no_grad():
        logits = ckpt.model(encoded.ids, attention_mask(encoded.ids, ckpt.table.pad_id)).logits
    scores = pd.read_csv(ensemble / "scores.tsv", sep="\t")
    saved = scores.query("run == 'member2' and epoch == 1")["score"].to_numpy()
    np.testing.assert_allclose(torch.softmax(logits, -1)[:, 1].numpy(), saved, atol=1e-5)


def test_split_runs_score_their_own_parts(toy, tmp_path):
    out = tmp_path / "out"
    assert main(common(toy, out, "--run", f"s1={toy['split']}", "--run", f"s2={toy['split']}",
                       "--eval-parts", "val,test", "--set", "finetune.epochs=1")) == 0
    scores = pd.read_csv(out / "scores.tsv", sep="\t")
    split = pd.read_csv(toy["split"], sep="\t")
    for part in ("val", "test"):
        wanted = sorted(split.loc[split["split"] == part, "row"])
        got = scores.query("run == 's1' and split == @part")["row"].tolist()
        assert got == wanted
    assert set(scores["split"]) == {"val", "test"} and set(scores["run"]) == {"s1", "s2"}
    # same split, seeds seed+1 and seed+2: different models
    assert not np.allclose(scores.query("run == 's1'")["score"], scores.query("run == 's2'")["score"])


def test_together_equals_alone(toy, tmp_path):
    """Two members in one process score as each trained alone with the same seed (model dropout 0),
    in one pass per step or one member per pass."""
    deterministic = ["--set", "model.hidden_dropout_prob=0", "--set", "model.attention_probs_dropout_prob=0",
                     "--set", "finetune.token_dropout=0.3", "--set", "finetune.token_dropout_eval=true",
                     "--set", "finetune.frozen_encoder_layers=1", "--eval-set",
                     f"halfvarson={toy['hv']}:{toy['hv_labels']}"]
    assert main(common(toy, tmp_path / "together", "--members", "2", *deterministic)) == 0
    together = pd.read_csv(tmp_path / "together" / "scores.tsv", sep="\t")
    # one member per forward/backward pass: still one optimiser step for both, the same models
    assert main(common(toy, tmp_path / "passes", "--members", "2", "--set", "finetune.members_per_pass=1",
                       *deterministic)) == 0
    in_passes = pd.read_csv(tmp_path / "passes" / "scores.tsv", sep="\t")
    assert in_passes[["run", "split", "row"]].equals(together[["run", "split", "row"]])
    np.testing.assert_allclose(in_passes["score"].to_numpy(), together["score"].to_numpy(), atol=1e-5)
    for k in (1, 2):  # member k alone: the seed that makes config seed + 1 equal seed + k
        seed = CONFIG["seed"] + k - 1
        assert main(common(toy, tmp_path / f"alone{k}", "--members", "1", "--set", f"seed={seed}",
                           *deterministic)) == 0
        alone = pd.read_csv(tmp_path / f"alone{k}" / "scores.tsv", sep="\t")
        mine = together[together["run"] == f"member{k}"]
        assert alone["row"].tolist() == mine["row"].tolist()
        np.testing.assert_allclose(alone["score"].to_numpy(), mine["score"].to_numpy(), atol=1e-5)


def _labels_file(tmp_path, values):
    path = tmp_path / "labels.npy"
    np.save(path, np.asarray(values, dtype=np.int64)[:, None])
    return path


def _split_file(tmp_path, rows, parts):
    path = tmp_path / "split.tsv"
    pd.DataFrame({"row": rows, "split": parts}).to_csv(path, sep="\t", index=False)
    return path


@pytest.mark.parametrize("case", ["short_labels", "single_class", "row_out_of_range", "empty_train"])
def test_bad_input_fails_cleanly(toy, tmp_path, capsys, case):
    n = np.load(toy["labels"]).shape[0]
    labels, run = None, f"s1={toy['split']}"
    if case == "short_labels":
        labels = _labels_file(tmp_path, np.load(toy["labels"])[:-1, 0])
        expected = f"{n - 1} labels for {n} samples"
    elif case == "single_class":
        labels = _labels_file(tmp_path, np.zeros(n))
        expected = "has only class 0"
    elif case == "row_out_of_range":
        run = f"s1={_split_file(tmp_path, [0, 1, n + 3], ['train', 'train', 'val'])}"
        expected = f"row {n + 3} is outside the data"
    else:
        run = f"s1={_split_file(tmp_path, [0, 1, 2], ['val', 'val', 'test'])}"
        expected = "training part train is empty"
    out = tmp_path / "out"
    assert main(common(toy, out, "--run", run, labels=labels)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err, err
    assert not out.exists() and not any(p.name.startswith(".out") for p in tmp_path.iterdir())
