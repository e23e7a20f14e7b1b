"""Trained toy checkpoints under the published folder names, for the toy mirror to ship.

The mirror's ``pretrainedmodels.zip`` and ``ensemble.zip`` come from real training on the
toy data: ``make toy-checkpoints`` runs the toy workflow's pretraining and protocol-C
finetuning, then this command copies the results into ``resources/toy_checkpoints/`` under
the Dryad names (reference 7.1):

* discriminator checkpoints ``epoch<N>`` (N = epochs done) -> ``5head5layer_epoch<E>_disc``:
  each published epoch E of 120 takes the checkpoint nearest to the same fraction of
  training (E = 0, the published overwritten duplicate of the first checkpoint, reference
  13 #5, takes the earliest);
* ensemble members ``member<k>`` -> ``run<k>_epoch0_disc``.

Weights are copied as they are (``model.safetensors`` + ``config.json``); the mirror
converts them to the published ``pytorch_model.bin`` when it packs the zips.
"""

from __future__ import annotations

import argparse
import re
import shutil
from pathlib import Path

from ...core.atomic import atomic_dir
from ...core.errors import InputError
from ..layout import ENSEMBLE_CHECKPOINTS, PRETRAINED_CHECKPOINTS, PRETRAINED_EPOCHS

FILES = ("config.json", "model.safetensors")


def _epoch_folders(folder: Path, pattern: str) -> dict[int, Path]:
    found = {int(m.group(1)): p for p in folder.iterdir() if p.is_dir() and (m := re.fullmatch(pattern, p.name))}
    if not found:
        raise InputError(folder, f"no checkpoint folders matching {pattern}")
    return dict(sorted(found.items()))


def _copy(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True)
    for name in FILES:
        if not (src / name).is_file():
            raise InputError(src, f"checkpoint has no {name}")
        shutil.copyfile(src / name, dst / name)


def discriminator_names(epochs_done: list[int]) -> dict[str, int]:
    """Published folder name -> our epoch count whose training fraction is nearest."""
    last = max(epochs_done)
    chosen = {}
    for name, published in zip(PRETRAINED_CHECKPOINTS, PRETRAINED_EPOCHS):
        target = published / max(PRETRAINED_EPOCHS) * last
        chosen[name] = min(epochs_done, key=lambda e: (abs(e - target), e))
    return chosen


def pack(discriminators: Path, ensemble: Path | None, out: Path) -> dict[str, str]:
    """Write ``out/pretrainedmodels/<name>/`` (and ``out/ensemble/<name>/``); returns name -> source."""
    series = _epoch_folders(discriminators, r"epoch(\d+)")
    sources = {name: series[epoch] for name, epoch in discriminator_names(list(series)).items()}
    members = {}
    if ensemble is not None:
        found = _epoch_folders(ensemble, r"member(\d+)")
        members = {name: found[k] for k, name in enumerate(ENSEMBLE_CHECKPOINTS, start=1) if k in found}
        if len(members) != len(ENSEMBLE_CHECKPOINTS):
            raise InputError(ensemble, f"needs member1 ... member{len(ENSEMBLE_CHECKPOINTS)}, found {sorted(found)}")
    with atomic_dir(out) as tmp:
        for name, src in sources.items():
            _copy(src, tmp / "pretrainedmodels" / name)
        for name, src in members.items():
            _copy(src, tmp / "ensemble" / name)
    return {name: str(src) for name, src in {**sources, **members}.items()}


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("toy-pack-checkpoints", help="trained toy checkpoints under the published names")
    p.add_argument("--discriminators", required=True, type=Path, help="folder of epoch<N>/ discriminator checkpoints")
    p.add_argument("--ensemble", type=Path, default=None, help="folder of member<k>/ finetuned checkpoints")
    p.add_argument("--out", required=True, type=Path, help="output folder (replaced atomically)")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    for name, src in pack(args.discriminators, args.ensemble, args.out).items():
        print(f"{name}\t{src}")
    return 0
