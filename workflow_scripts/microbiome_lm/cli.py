"""``microbiome-lm``: every workflow stage as a command, runnable without Snakemake.

Each stage module exposes ``register(subparsers)`` that adds its sub-command(s) and sets
``func`` on the parser; this file only collects them. A command that fails on bad input
prints one line naming the file and the problem and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .core.errors import InputError

# Stage modules that contribute sub-commands (each has ``register(subparsers)``).
COMMAND_MODULES = [
    "microbiome_lm.data.toy",
    "microbiome_lm.data.fetch",
    "microbiome_lm.data.extract",
    "microbiome_lm.data.mock_server",
    "microbiome_lm.data.validate",
    "microbiome_lm.data.hosts",
    "microbiome_lm.train.pretrain",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="microbiome-lm", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:  # stage not written yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        result = args.func(args)
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
