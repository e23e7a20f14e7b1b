"""Inputs of ``finetune``: which rows each model trains on and what it scores, all checked first.

Every problem is an :class:`InputError` naming the file, raised before anything is written:
labels that do not match the samples or are not 0/1, split files whose rows fall outside the
data, an empty or single-class training part, malformed ``NAME=...`` arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.arrays import load_coordinate_array, load_labels
from ..core.errors import InputError
from ..core.tokens import TokenTable
from ..evaluate.splits import SPLIT_NAMES, read_split
from ..model.encoding import EncodedSamples, encode_samples

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass
class Scored:
    """Rows of one array that a model scores every epoch, under the name ``split``."""

    split: str
    samples: EncodedSamples
    labels: np.ndarray  # of every row of the array
    rows: np.ndarray


@dataclass
class RunSpec:
    """One model: its name, its position k (seed = config seed + k), its rows."""

    name: str
    index: int
    train_rows: np.ndarray
    scored: list[Scored] = field(default_factory=list)


def binary_labels(path: str | Path, n_samples: int) -> np.ndarray:
    """``(n, 1)`` / ``(n,)`` labels of ``n_samples`` rows, every one 0 or 1."""
    labels = load_labels(path, n_samples)
    bad = ~np.isin(labels, (0, 1))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(path, f"row {row}: label {labels[row]} is not 0 or 1 ({int(bad.sum())} such rows)")
    return labels


def load_cohort(array_path: str | Path, labels_path: str | Path, table: TokenTable,
                max_taxa: int) -> tuple[EncodedSamples, np.ndarray]:
    """A validated coordinate-list array, encoded, with its 0/1 labels."""
    array = load_coordinate_array(array_path, vocab_size=table.n_vocab)
    return encode_samples(array, table, max_taxa), binary_labels(labels_path, array.shape[0])


def split_name_value(item: str, flag: str) -> tuple[str, str]:
    """``NAME=VALUE`` with a NAME usable as a folder name."""
    name, sep, value = item.partition("=")
    if not sep or not value or not NAME.match(name):
        raise InputError(flag, f"expected NAME=VALUE with NAME of letters, digits, _ . -, got {item!r}")
    return name, value


def _parts(text: str, flag: str) -> list[str]:
    parts = [p for p in text.split(",") if p]
    unknown = sorted(set(parts) - set(SPLIT_NAMES))
    if unknown:
        raise InputError(flag, f"unknown split part(s) {unknown}; expected some of {list(SPLIT_NAMES)}")
    return parts


def _check_training_rows(rows: np.ndarray, labels: np.ndarray, source: str | Path, what: str) -> None:
    if rows.size == 0:
        raise InputError(source, f"{what} is empty: nothing to train on")
    classes = np.unique(labels[rows])
    if classes.size < 2:
        raise InputError(source, f"{what} has only class {int(classes[0])} ({rows.size} rows): "
                                 "a classifier needs both classes")


def split_runs(items: list[str], train_parts: str, eval_parts: str, samples: EncodedSamples,
               labels: np.ndarray) -> list[RunSpec]:
    """One run per ``NAME=SPLIT_TSV`` (a ``microbiome-lm split`` file over the rows of --data)."""
    train_names, eval_names = _parts(train_parts, "--train-parts"), _parts(eval_parts, "--eval-parts")
    if not train_names:
        raise InputError("--train-parts", "names no split part")
    runs, n = [], len(samples)
    for index, item in enumerate(items, start=1):
        name, path = split_name_value(item, "--run")
        split = read_split(path)
        parts = split.parts()
        every = np.concatenate(list(parts.values()))
        outside = every[(every < 0) | (every >= n)]
        if outside.size:
            raise InputError(path, f"row {int(outside[0])} is outside the data (rows 0..{n - 1}); "
                                   f"{outside.size} such rows")
        train = np.sort(np.concatenate([parts[p] for p in train_names]))
        _check_training_rows(train, labels, path, f"training part {'+'.join(train_names)}")
        scored = [Scored(p, samples, labels, parts[p]) for p in eval_names]  # an empty part scores no rows
        runs.append(RunSpec(name, index, train, scored))
    _unique([r.name for r in runs], "--run")
    return runs


def member_runs(n_members: int, eval_parts: str, samples: EncodedSamples, labels: np.ndarray,
                labels_path: str | Path) -> list[RunSpec]:
    """``member1..memberN``, each on every row of --data (protocol C); ``train`` may be scored."""
    if n_members < 1:
        raise InputError("--members", f"needs at least one member, got {n_members}")
    names = _parts(eval_parts, "--eval-parts")
    if set(names) - {"train"}:
        raise InputError("--eval-parts", "with --members every row is training data: only 'train' can be scored")
    rows = np.arange(len(samples))
    _check_training_rows(rows, labels, labels_path, "the training data")
    scored = [Scored("train", samples, labels, rows)] if names else []
    return [RunSpec(f"member{k}", k, rows, list(scored)) for k in range(1, n_members + 1)]


def _unique(names: list[str], flag: str) -> None:
    seen = {n for n in names if names.count(n) > 1}
    if seen:
        raise InputError(flag, f"name(s) {sorted(seen)} given more than once")


def eval_sets(items: list[str], table: TokenTable, max_taxa: int) -> list[Scored]:
    """External cohorts from ``NAME=ARRAY.npy:LABELS.npy``; every model scores every row."""
    sets = []
    for item in items:
        name, value = split_name_value(item, "--eval-set")
        if name in SPLIT_NAMES:
            raise InputError("--eval-set", f"name {name!r} is reserved for a split part")
        array_path, sep, labels_path = value.rpartition(":")
        if not sep or not array_path:
            raise InputError("--eval-set", f"expected NAME=ARRAY.npy:LABELS.npy, got {item!r}")
        samples, labels = load_cohort(array_path, labels_path, table, max_taxa)
        sets.append(Scored(name, samples, labels, np.arange(len(samples))))
    _unique([s.split for s in sets], "--eval-set")
    return sets
