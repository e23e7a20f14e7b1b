"""The toy mirror ships trained checkpoints (resources/toy_checkpoints) under the published names."""

from __future__ import annotations

import io
import json
import zipfile

import torch
from safetensors.torch import load_file

from microbiome_lm.cli import main
from microbiome_lm.config import load_config
from microbiome_lm.data import layout
from microbiome_lm.data.toy import generate_toy_mirror
from microbiome_lm.data.toy.pack import discriminator_names

from .conftest import REPO

SHIPPED = REPO / "resources" / "toy_checkpoints"


def test_published_names_take_the_nearest_training_fraction():
    chosen = discriminator_names([5, 10, 15, 20])
    assert chosen["5head5layer_epoch0_disc"] == 5  # the published duplicate of the first checkpoint
    assert chosen["5head5layer_epoch60_disc"] == 10
    assert chosen["5head5layer_epoch120_disc"] == 20
    assert list(chosen) == list(layout.PRETRAINED_CHECKPOINTS)


def test_shipped_checkpoints_fit_the_toy_config_and_are_packed(tmp_path):
    config = load_config(REPO / "config" / "toy.yaml")
    assert (REPO / config["toy"]["checkpoints"]) == SHIPPED
    out = tmp_path / "mirror"
    generate_toy_mirror(out, config, checkpoints_dir=SHIPPED)
    signal = json.loads((out / "planted_signal.json").read_text())
    shipped = sorted(p.name for p in (SHIPPED / "pretrainedmodels").iterdir())
    assert sorted(signal["real_checkpoints"]["pretrainedmodels"]) == sorted(layout.PRETRAINED_CHECKPOINTS) == shipped
    with zipfile.ZipFile(out / "dryad" / "pretrainedmodels.zip") as z:
        for name in ("5head5layer_epoch15_disc", "5head5layer_epoch120_disc"):
            packed = torch.load(io.BytesIO(z.read(f"{name}/pytorch_model.bin")), weights_only=True)
            trained = load_file(str(SHIPPED / "pretrainedmodels" / name / "model.safetensors"))
            assert packed.keys() == trained.keys()
            assert all(torch.equal(packed[k], trained[k]) for k in trained)
    first, last = (load_file(str(SHIPPED / "pretrainedmodels" / n / "model.safetensors"))
                   for n in ("5head5layer_epoch15_disc", "5head5layer_epoch120_disc"))
    key = "electra.encoder.layer.0.output.dense.weight"
    assert not torch.equal(first[key], last[key])  # a series, not one checkpoint copied


def test_pack_command_refuses_an_incomplete_ensemble(tmp_path, capsys):
    series = tmp_path / "disc"
    member = tmp_path / "ensemble" / "member1"
    for folder in (series / "epoch3", member):
        folder.mkdir(parents=True)
        for name in ("config.json", "model.safetensors"):
            (folder / name).write_bytes((SHIPPED / "pretrainedmodels" / "5head5layer_epoch120_disc" / name).read_bytes())
    assert main(["toy-pack-checkpoints", "--discriminators", str(series), "--ensemble", str(tmp_path / "ensemble"),
                 "--out", str(tmp_path / "out")]) == 2
    assert "ensemble: needs member1 ... member10, found [1]" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    assert main(["toy-pack-checkpoints", "--discriminators", str(series), "--out", str(tmp_path / "out")]) == 0
    assert sorted(p.name for p in (tmp_path / "out" / "pretrainedmodels").iterdir()) == \
        sorted(layout.PRETRAINED_CHECKPOINTS)
