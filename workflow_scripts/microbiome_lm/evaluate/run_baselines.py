"""``microbiome-lm baseline``: the configured baselines on the transformer's splits (reference 9).

Takes the same split files and eval sets as ``microbiome-lm finetune`` and writes the same
``scores.tsv`` (plus a ``method`` column), so epoch selection, tables and figures treat every
method alike. Abundance methods read the full-width arrays (DeepMicro's ``*_otu.npy`` input);
``static_head`` reads the top-512 arrays the finetuning code fed it. The representation
methods learn from unlabelled AGP samples (``train_encodings_1897``) that occur in none of
the labelled arrays, as the paper's DeepMicro runs did (:func:`baselines.unlabelled_pool`).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.arrays import load_coordinate_array, load_labels, load_npy
from ..core.errors import InputError
from .baselines import BaselineInputs, fit_predict, method_params, unlabelled_pool
from .score_files import write_scores
from .splits import SPLIT_NAMES, Split, check_binary_labels, read_split

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LabelledSet:
    """One cohort: full-width and top-512 arrays of the same rows, and their labels."""

    full: np.ndarray
    top: np.ndarray
    labels: np.ndarray
    source: str


@dataclass(frozen=True)
class RunSplit:
    """A run's split and, when the split file lists them, the host of every row."""

    split: Split
    hosts: np.ndarray | None
    source: str


def trim_empty_slots(array: np.ndarray) -> np.ndarray:
    """Drop the slot columns that are empty in every row (exact: empty slots carry no reads).

    The toy and the real arrays are much wider than their fullest sample; the per-slot work
    of static_head and of the abundance tables shrinks accordingly.
    """
    occupied = np.flatnonzero((array[..., 1] > 0).any(axis=0))
    return array[:, occupied] if occupied.size else array[:, :1]


def load_embeddings(path: str | Path) -> np.ndarray:
    """The (n_vocab, dim) vocabulary embeddings; their row count is the vocabulary size."""
    path = Path(path)
    embeddings = load_npy(path)
    if embeddings.ndim != 2 or not np.isfinite(embeddings).all():
        raise InputError(path, f"expected a finite (n_vocab, dim) matrix, found shape {embeddings.shape}")
    return embeddings


def load_labelled_set(full: str | Path, top: str | Path, labels: str | Path, n_vocab: int) -> LabelledSet:
    """Load a cohort and check that both arrays and the labels describe the same rows, two classes."""
    full_array = trim_empty_slots(load_coordinate_array(full, vocab_size=n_vocab))
    top_array = trim_empty_slots(load_coordinate_array(top, vocab_size=n_vocab))
    y = load_labels(labels)
    for path, array in ((full, full_array), (top, top_array)):
        if array.shape[0] != y.size:
            raise InputError(labels, f"{y.size} labels but {array.shape[0]} samples in {path}; "
                                     "labels and samples do not match")
    return LabelledSet(full_array, top_array, check_binary_labels(y, labels), str(labels))


def load_run_split(path: str | Path, n_rows: int) -> RunSplit:
    """Read a split file (``microbiome-lm split``) covering the task's rows, with its host column if any."""
    split = read_split(path, n_rows=n_rows)
    table = pd.read_csv(path, sep="\t", dtype={"host": str})
    hosts = None
    if "host" in table.columns and table["host"].notna().all():
        hosts = table.set_index("row")["host"].reindex(np.arange(n_rows)).to_numpy()
    return RunSplit(split, hosts, str(path))


def run_seed(base_seed: int, run: str) -> int:
    """The seed of a run's models: a stable function of the master seed and the run name."""
    return int(np.random.SeedSequence([base_seed, zlib.crc32(run.encode())]).generate_state(1)[0])


def _rows(run: RunSplit, parts: Sequence[str], what: str) -> np.ndarray:
    parts_of = run.split.parts()
    rows = np.sort(np.concatenate([parts_of[p] for p in parts]))
    if rows.size == 0:
        raise InputError(run.source, f"the {what} part(s) {'+'.join(parts)} are empty")
    return rows


def _score_rows(method: str, run: str, split: str, rows: np.ndarray, labels: np.ndarray,
                scores: np.ndarray) -> pd.DataFrame:
    n_epochs = scores.shape[0]
    return pd.DataFrame({
        "method": method, "run": run, "epoch": np.repeat(np.arange(n_epochs), rows.size),
        "split": split, "row": np.tile(rows, n_epochs), "label": np.tile(labels, n_epochs),
        "score": scores.ravel(),
    })


def score_baselines(methods: Sequence[str], baselines: Mapping, task: LabelledSet, runs: Mapping[str, RunSplit],
                    train_parts: Sequence[str], eval_parts: Sequence[str], eval_sets: Mapping[str, LabelledSet],
                    inputs: BaselineInputs, base_seed: int) -> pd.DataFrame:
    """Scores of every method and run, as one scores table (see :mod:`.score_files`)."""
    frames = []
    for run, run_split in runs.items():
        train = _rows(run_split, train_parts, "training")
        evals = {part: _rows(run_split, [part], "evaluation") for part in eval_parts}
        run_inputs = dataclasses.replace(
            inputs, groups=None if run_split.hosts is None else run_split.hosts[train])
        y_train = task.labels[train]
        check_binary_labels(y_train, f"{run_split.source} ({'+'.join(train_parts)} rows)")
        for method in methods:
            array = "top" if method == "static_head" else "full"
            start = time.perf_counter()
            sets = {part: getattr(task, array)[rows] for part, rows in evals.items()}
            sets.update({name: getattr(cohort, array) for name, cohort in eval_sets.items()})
            scores = fit_predict(method, getattr(task, array)[train], y_train, sets, seed=run_seed(base_seed, run),
                                 inputs=run_inputs, params=method_params(baselines, method),
                                 source=f"{task.source} (run {run})")
            for part, rows in evals.items():
                frames.append(_score_rows(method, run, part, rows, task.labels[rows], scores[part]))
            for name, cohort in eval_sets.items():
                rows = np.arange(cohort.labels.size)
                frames.append(_score_rows(method, run, name, rows, cohort.labels, scores[name]))
            log.info("run %s, %s: %d checkpoint(s) scored in %.1f s", run, method, scores[next(iter(scores))].shape[0],
                     time.perf_counter() - start)
    return pd.concat(frames, ignore_index=True)


def _assignment(spec: str, flag: str) -> tuple[str, str]:
    name, sep, value = spec.partition("=")
    if not sep or not name or not value:
        raise InputError(flag, f"expected NAME=VALUE, got {spec!r}")
    return name, value


def _parts(value: str, flag: str) -> list[str]:
    parts = [p for p in value.split(",") if p]
    unknown = [p for p in parts if p not in SPLIT_NAMES]
    if not parts or unknown:
        raise InputError(flag, f"expected a comma-separated subset of {list(SPLIT_NAMES)}, got {value!r}")
    return parts


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..config import add_config_arguments

    p = subparsers.add_parser("baseline", help="score the configured baselines on the finetuning splits")
    p.add_argument("--data", required=True, help="full-width task array (e.g. total_IBD_otu.npy)")
    p.add_argument("--data-512", required=True, help="top-512 array of the same rows (for static_head)")
    p.add_argument("--labels", required=True, help="(n, 1) labels of the task")
    p.add_argument("--vocab-embeddings", required=True, help="vocab_embeddings.npy (tataru, static_head)")
    p.add_argument("--unlabelled", default=None,
                   help="unlabelled AGP samples for the representation methods (train_encodings_1897.npy)")
    p.add_argument("--run", action="append", required=True, metavar="NAME=SPLIT_TSV",
                   help="one model per split file (repeatable); NAME becomes the run column")
    p.add_argument("--train-parts", default="train", help="split parts to train on, e.g. train or train,val")
    p.add_argument("--eval-parts", default="val,test", help="split parts to score, e.g. val,test")
    p.add_argument("--eval-set", action="append", default=[], metavar="NAME=FULL.npy:TOP.npy:LABELS.npy",
                   help="external cohort scored by every run (repeatable)")
    p.add_argument("--methods", default=None, help="comma-separated methods (default: evaluation.baselines.methods)")
    p.add_argument("--out", required=True, help="scores TSV (columns method, run, epoch, split, row, label, score)")
    add_config_arguments(p)
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    import torch

    from ..config import config_from_args
    from ..train.device import resolve_device

    config = config_from_args(args)
    baselines = config["evaluation"]["baselines"]
    methods = args.methods.split(",") if args.methods else list(baselines["methods"])
    # The baseline networks are small: one intra-op thread beats several, and leaves the
    # other cores to the forests' n_jobs workers.
    torch.set_num_threads(1)
    embeddings = load_embeddings(args.vocab_embeddings)
    n_vocab = embeddings.shape[0]
    task = load_labelled_set(args.data, args.data_512, args.labels, n_vocab)
    runs = {name: load_run_split(path, task.labels.size) for name, path in
            (_assignment(s, "--run") for s in args.run)}
    eval_sets = {}
    for spec in args.eval_set:
        name, value = _assignment(spec, "--eval-set")
        paths = value.split(":")
        if len(paths) != 3:
            raise InputError("--eval-set", f"expected NAME=FULL.npy:TOP.npy:LABELS.npy, got {spec!r}")
        eval_sets[name] = load_labelled_set(*paths, n_vocab=n_vocab)
    pool = None
    if args.unlabelled and {"pca_rf", "rp_rf", "ae_rf"} & set(methods):
        candidates = trim_empty_slots(load_coordinate_array(args.unlabelled, vocab_size=n_vocab))
        pool = candidates[unlabelled_pool(candidates, [task.full, *(c.full for c in eval_sets.values())],
                                          source=args.unlabelled)]
        log.info("%s: %d unlabelled samples for the representations", args.unlabelled, pool.shape[0])
    inputs = BaselineInputs(n_vocab=n_vocab, vocab_embeddings=embeddings, unlabelled=pool,
                            n_jobs=config["threads"], device=str(resolve_device(config["device"])))
    table = score_baselines(methods, baselines, task, runs, _parts(args.train_parts, "--train-parts"),
                            _parts(args.eval_parts, "--eval-parts"), eval_sets, inputs, config["seed"])
    write_scores(args.out, table)
    return 0
