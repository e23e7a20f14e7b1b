"""The two pretraining commands end to end on tiny data: outputs, metadata, resume, bad input."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file

from microbiome_lm.cli import main
from microbiome_lm.model.checkpoint import load_checkpoint
from microbiome_lm.model.electra import Discriminator, Generator
from microbiome_lm.train import steps

from .conftest import coordinate_rows

N_TAXA, DIM = 40, 8
TINY = {
    "seed": 3, "device": "cpu", "threads": 1,
    "vocab": {"n_taxa": N_TAXA, "embedding_dim": DIM},
    "encoding": {"max_taxa": 12},
    "model": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32,
              "generator": {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2,
                            "intermediate_size": 32}},
    "pretrain": {"eval_batch_size": 16,
                 "generator": {"epochs": 3, "checkpoint_epochs": [0, 2], "batch_size": 8},
                 "discriminator": {"epochs_per_generator": 2, "checkpoint_every": 3, "batch_size": 8}},
}


def write_inputs(folder, config=TINY, n_train=40, n_test=12):
    """Tiny synthetic coordinate-list arrays, vocabulary embeddings and a config file."""
    rng = np.random.default_rng(0)

    def array(n):
        return coordinate_rows([{int(t): int(rng.integers(1, 30)) for t in
                                 rng.choice(N_TAXA, int(rng.integers(2, 16)), replace=False)} for _ in range(n)],
                               width=16)

    paths = {"train": folder / "train.npy", "test": folder / "test.npy", "vocab": folder / "vocab.npy",
             "config": folder / "config.yaml"}
    np.save(paths["train"], array(n_train))
    np.save(paths["test"], array(n_test))
    np.save(paths["vocab"], rng.normal(size=(N_TAXA, DIM)))
    paths["config"].write_text(yaml.safe_dump(config))
    return paths


def stage_args(command, paths, out_dir, *extra):
    return [command, "--configfile", str(paths["config"]), "--train", str(paths["train"]), "--test",
            str(paths["test"]), "--vocab-embeddings", str(paths["vocab"]), "--out-dir", str(out_dir),
            "--no-progress", *extra]


def weights(directory):
    return load_file(str(directory / "model.safetensors"))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretrain")
    paths = write_inputs(folder)
    assert main(stage_args("pretrain-generator", paths, folder / "generator")) == 0
    gens = [str(folder / "generator" / f"epoch{e}") for e in (0, 2)]
    assert main(stage_args("pretrain-discriminator", paths, folder / "discriminator", "--generators", *gens)) == 0
    return folder, paths


def test_generator_series_and_metrics(trained):
    folder, paths = trained
    out = folder / "generator"
    assert sorted(p.name for p in out.iterdir()) == ["epoch0", "epoch2", "metrics.tsv"]  # resume/ is gone
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t")
    assert metrics["epoch"].tolist() == [0, 1, 2]
    for column in ("train_loss", "test_loss", "top1_accuracy", "top3_accuracy", "top5_accuracy", "top10_accuracy",
                   "train_top1_accuracy", "train_top10_accuracy", "train_samples_per_s"):
        assert metrics[column].notna().all(), column
    assert (metrics["top10_accuracy"] >= metrics["top1_accuracy"]).all()
    assert (metrics["train_top10_accuracy"] >= metrics["train_top3_accuracy"]).all()
    assert metrics.filter(like="train_top").stack().between(0, 1).all()
    ckpt = load_checkpoint(out / "epoch2")
    assert isinstance(ckpt.model, Generator)
    assert ckpt.model.hf.config.num_hidden_layers == 1 and ckpt.model.hf.config.max_position_embeddings == 13
    meta = ckpt.meta
    assert meta["stage"] == "generator" and meta["epoch"] == 2 and meta["seed"] == 3
    assert set(meta["library_versions"]) >= {"python", "torch", "transformers", "numpy"}
    assert len(meta["data_sha256"]["train"]) == 64
    assert meta["config"]["pretrain"]["generator"]["checkpoint_epochs"] == [0, 2]
    # the generator trains its input table (reference 5): it moved away from GloVe + specials
    vocab = np.load(paths["vocab"])
    assert not np.allclose(ckpt.table.embeddings[:N_TAXA], vocab, atol=1e-6)
    assert not all(torch.equal(a, weights(out / "epoch0")[k]) for k, a in weights(out / "epoch2").items())


def test_discriminator_series_against_generators(trained):
    folder, paths = trained
    out = folder / "discriminator"
    assert sorted(p.name for p in out.iterdir()) == ["epoch3", "epoch4", "metrics.tsv"]  # every 3, and the last
    metrics = pd.read_csv(out / "metrics.tsv", sep="\t")
    assert metrics["generator"].tolist() == ["epoch0", "epoch0", "epoch2", "epoch2"]
    assert metrics[["rtd_accuracy", "rtd_accuracy_selected", "replaced_fraction"]].notna().all().all()
    assert metrics["train_rtd_accuracy"].between(0, 1).all()
    ckpt = load_checkpoint(out / "epoch4")
    assert isinstance(ckpt.model, Discriminator) and ckpt.meta["generator"] == "epoch2"
    # frozen table = vocabulary + MASK = min + CLS = mean + PAD = 0 (reference 4, 6 --freeze)
    vocab = np.load(paths["vocab"]).astype(np.float32)
    expected = np.vstack([vocab, vocab.min(0), vocab.mean(0), np.zeros(DIM)])
    np.testing.assert_allclose(ckpt.table.embeddings, expected, rtol=1e-6, atol=1e-6)


def test_stopped_discriminator_resumes_to_identical_weights(trained, tmp_path, monkeypatch):
    """A SIGTERM mid-run leaves a resume point (exit 143); the rerun ends where an unstopped run ends."""
    folder, paths = trained
    gens = [str(folder / "generator" / f"epoch{e}") for e in (0, 2)]
    args = stage_args("pretrain-discriminator", paths, tmp_path / "disc", "--generators", *gens)
    real_step = steps.DiscriminatorTask.train_batch
    calls = []

    def step_then_signal(self, batch):
        calls.append(1)
        result = real_step(self, batch)
        if len(calls) == 11:  # epoch 2 (the second generator), batch 3 of 5
            os.kill(os.getpid(), signal.SIGTERM)
        return result

    monkeypatch.setattr(steps.DiscriminatorTask, "train_batch", step_then_signal)
    assert main(args) == 143
    state = torch.load(tmp_path / "disc" / "resume" / "state.pt", weights_only=True)
    assert (state["epoch"], state["step"]) == (2, 1)
    assert not (tmp_path / "disc" / "metrics.tsv").exists()
    monkeypatch.setattr(steps.DiscriminatorTask, "train_batch", real_step)
    assert main(args) == 0
    for name in ("epoch3", "epoch4"):
        ours, reference = weights(tmp_path / "disc" / name), weights(folder / "discriminator" / name)
        assert all(torch.equal(ours[k], reference[k]) for k in reference), name
    resumed = pd.read_csv(tmp_path / "disc" / "metrics.tsv", sep="\t")
    reference = pd.read_csv(folder / "discriminator" / "metrics.tsv", sep="\t")
    pd.testing.assert_frame_equal(resumed.drop(columns="train_samples_per_s"),
                                  reference.drop(columns="train_samples_per_s"), rtol=1e-5)


def test_changed_settings_discard_the_resume_point(trained, tmp_path):
    folder, paths = trained
    out = tmp_path / "gen"
    (out / "resume").mkdir(parents=True)
    torch.save({"fingerprint": "other settings"}, out / "resume" / "state.pt")
    assert main(stage_args("pretrain-generator", paths, out)) == 0
    assert all(torch.equal(a, weights(folder / "generator" / "epoch2")[k]) for k, a in
               weights(out / "epoch2").items())


def test_bad_input_fails_cleanly(tmp_path, capsys):
    paths = write_inputs(tmp_path)
    bad = np.load(paths["train"])
    bad[5, 0] = (N_TAXA + 2, 4)  # an id outside the vocabulary
    np.save(paths["train"], bad)
    assert main(stage_args("pretrain-generator", paths, tmp_path / "out")) == 2
    assert "train.npy: row 5, slot 0: vocabulary id is outside the vocabulary" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    config = json.loads(json.dumps(TINY))
    config["pretrain"]["generator"]["checkpoint_epochs"] = [5]
    paths["config"].write_text(yaml.safe_dump(config))
    np.save(paths["train"], np.load(paths["test"]))
    assert main(stage_args("pretrain-generator", paths, tmp_path / "out")) == 2
    assert "pretrain.generator.checkpoint_epochs" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_bf16_autocast_on_a_cpu_runs_both_stages(trained, tmp_path):
    """``pretrain.speed.amp: bf16`` on a CPU: both commands run, checkpoints stay float32 and
    the same draws (fast dropout serves bf16 from the same stream) give the float32 run's
    losses to bf16 precision."""
    folder, _ = trained
    config = json.loads(json.dumps(TINY))
    config["pretrain"]["speed"] = {"amp": "bf16"}
    paths = write_inputs(tmp_path, config)
    assert main(stage_args("pretrain-generator", paths, tmp_path / "generator")) == 0
    gens = [str(tmp_path / "generator" / f"epoch{e}") for e in (0, 2)]
    assert main(stage_args("pretrain-discriminator", paths, tmp_path / "discriminator", "--generators", *gens)) == 0
    for stage, last in (("generator", "epoch2"), ("discriminator", "epoch4")):
        mixed = weights(tmp_path / stage / last)
        assert {t.dtype for t in mixed.values()} == {torch.float32}
        assert load_checkpoint(tmp_path / stage / last).meta["config"]["pretrain"]["speed"]["amp"] == "bf16"
        ours = pd.read_csv(tmp_path / stage / "metrics.tsv", sep="\t")
        reference = pd.read_csv(folder / stage / "metrics.tsv", sep="\t")
        assert ours["train_loss"].iloc[0] != reference["train_loss"].iloc[0]  # bf16 products ran
        np.testing.assert_allclose(ours["train_loss"].iloc[0], reference["train_loss"].iloc[0], rtol=0.02)
        np.testing.assert_allclose(ours["test_loss"], reference["test_loss"], rtol=0.05)
