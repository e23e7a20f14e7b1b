"""The toy Dryad mirror: a miniature of every published input, simulated with a planted signal.

``microbiome-lm toy`` writes it (see docs/toy_data.md); ``microbiome-lm toy-16s-subset``
regenerates the real 16S fragments its vocabulary is cut from; ``microbiome-lm
toy-pack-checkpoints`` lays trained toy checkpoints out under the published names.
"""

from __future__ import annotations

import argparse

from ...config import add_config_arguments, config_from_args
from .. import toy_16s
from . import pack
from .mirror import generate_toy_mirror

__all__ = ["generate_toy_mirror", "register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("toy", help="generate the toy mirror of the Dryad / Zenodo / AGP inputs")
    add_config_arguments(p)  # uses the keys toy, model, encoding
    p.add_argument("--out", required=True, help="output folder (replaced atomically)")
    p.add_argument("--checkpoints", default=None, metavar="DIR",
                   help="trained checkpoints to pack instead of random weights: "
                        "DIR/pretrainedmodels/<name>/ and/or DIR/ensemble/<name>/")
    p.set_defaults(func=_main)
    toy_16s.register(subparsers)
    pack.register(subparsers)


def _main(args: argparse.Namespace) -> int:
    generate_toy_mirror(args.out, config_from_args(args), checkpoints_dir=args.checkpoints)
    return 0
