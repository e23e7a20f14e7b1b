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

# Sub-command -> stage module that registers it (``register(subparsers)``). Only the module of
# the command being run is imported, so a light command does not pay for torch/transformers.
COMMANDS = {
    "toy": "microbiome_lm.data.toy",
    "toy-16s-subset": "microbiome_lm.data.toy",  # registered by data.toy
    "toy-pack-checkpoints": "microbiome_lm.data.toy",  # registered by data.toy
    "fetch": "microbiome_lm.data.fetch",
    "extract": "microbiome_lm.data.extract",
    "mock-server": "microbiome_lm.data.mock_server",
    "validate": "microbiome_lm.data.validate",
    "hosts": "microbiome_lm.data.hosts",
    "pretrain-generator": "microbiome_lm.train.pretrain",
    "pretrain-discriminator": "microbiome_lm.train.pretrain",
    "finetune": "microbiome_lm.train.finetune",
    "embed": "microbiome_lm.embed.command",
    "export-model": "microbiome_lm.embed.export",
    "embed-example-cohort": "microbiome_lm.embed.example_cohort",
    "split": "microbiome_lm.evaluate.splits",
    "attribute": "microbiome_lm.interpret.attribution",
    "rank-attributions": "microbiome_lm.interpret.ranking",
    "avg-embeddings": "microbiome_lm.interpret.contextual",
    "tsne": "microbiome_lm.interpret.tsne",
    "clusterability": "microbiome_lm.interpret.clusterability",
    "plot-tsne": "microbiome_lm.interpret.figures",
    "plot-clusterability": "microbiome_lm.interpret.figures",  # registered by interpret.figures
    "plot-top-taxa": "microbiome_lm.interpret.figures",  # registered by interpret.figures
    "rdp-reference": "microbiome_lm.analysis.rdp_reference",
    "taxonomy": "microbiome_lm.analysis.taxonomy",
    "blast-overlap": "microbiome_lm.analysis.blast",
    "pathway-correlations": "microbiome_lm.analysis.pathways",
    "pathway-pca": "microbiome_lm.analysis.pathway_baseline",
    "pathway-stats": "microbiome_lm.analysis.pathway_stats",
    "pathway-heatmap": "microbiome_lm.analysis.pathway_figures",
    "baseline": "microbiome_lm.evaluate.run_baselines",
    "select-scores": "microbiome_lm.evaluate.protocols",
    "metric-tables": "microbiome_lm.evaluate.tables",
    "figure": "microbiome_lm.evaluate.figures",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The CLI parser; with ``command`` given, only that command's module is imported."""
    parser = argparse.ArgumentParser(prog="microbiome-lm", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = [COMMANDS[command]] if command in COMMANDS else dict.fromkeys(COMMANDS.values())
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def _command_of(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(_command_of(argv))
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
