"""Row splits of the evaluation protocols (reference 8.4 A and B).

**Protocol A** (``begin.py --val_then_no_val_run``): hosts are shuffled and cut at 70 % / 80 %;
a split is accepted when every part's positive fraction *and* sample fraction lie within
+-10 % (relative) of the targets, trying up to 10,000 shuffles. Each attempt here draws its
permutation from ``np.random.default_rng([data_split_seed, attempt])`` (a NumPy
``SeedSequence``). The original seeded each attempt with ``hash((seed, attempt)) % 2**32 - 1``:
hashes of int tuples are not salted, so that value is stable across CPython processes, but it
is not a documented contract (other interpreters and 32-bit builds differ) and it is -1, an
invalid seed, once in 2**32 attempts (reference 13 #19). Exact parity with the published
splits is out of reach anyway: the original also shuffled the *same* host list again at every
attempt (attempt k depended on all earlier ones) and its host order came from pickles that were
never published. So this module shuffles the hosts, sorted by id, afresh at each attempt: the
split depends only on the host mapping, the labels and the two integers.

**Protocol B** (``--val_split_cross_gen_frac 0.1``): a random 10 % of the AGP rows becomes
the validation set, rows not hosts (reference 13 #18). ``np.random.RandomState(seed)``
reproduces the original ``np.random.seed(seed); np.random.shuffle(...)`` draw exactly. A
host-blocked variant is available as an option.

Indices inside each part are returned in ascending order (the original kept the shuffled
order, which only changes where the weighted sampler's draws land).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.arrays import load_labels
from ..core.atomic import atomic_path
from ..core.errors import ConfigError, InputError

log = logging.getLogger(__name__)

SPLIT_NAMES = ("train", "val", "test")
PROTOCOLS = ("host_blocked", "cross_gen")


@dataclass(frozen=True)
class Split:
    """Row indices of each part; ``test`` is empty for protocol B (the test set is a cohort)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    attempts: int = 1

    def parts(self) -> dict[str, np.ndarray]:
        return {"train": self.train, "val": self.val, "test": self.test}


def check_binary_labels(labels: np.ndarray, source: str | Path) -> np.ndarray:
    """Flat int64 0/1 labels with both classes present, else :class:`InputError` naming ``source``."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1 or labels.size == 0:
        raise InputError(source, f"expected a non-empty label vector, found shape {labels.shape}")
    bad = ~np.isin(labels, (0, 1))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(source, f"row {row}: label {labels[row]!r} is not 0 or 1 ({int(bad.sum())} such rows)")
    labels = labels.astype(np.int64)
    if labels.min() == labels.max():
        raise InputError(source, f"all {labels.size} labels are {int(labels[0])}: the task has a single class")
    return labels


def _host_members(host_to_indices: Mapping[str, Sequence[int]], n_rows: int,
                  source: str | Path) -> tuple[list[str], list[np.ndarray]]:
    """Hosts sorted by id and their row indices; each of the ``n_rows`` rows must belong to one host."""
    hosts = sorted((str(h), np.asarray(rows, dtype=np.int64)) for h, rows in host_to_indices.items() if len(rows))
    if not hosts:
        raise InputError(source, "the host mapping is empty")
    every = np.concatenate([rows for _, rows in hosts])
    outside = every[(every < 0) | (every >= n_rows)]
    if outside.size:
        raise InputError(source, f"host mapping has row index {int(outside[0])} outside 0..{n_rows - 1} "
                                 f"(the labels have {n_rows} rows); labels and host mapping do not match")
    counts = np.bincount(every, minlength=n_rows)
    if (counts > 1).any():
        raise InputError(source, f"row {int(np.flatnonzero(counts > 1)[0])} belongs to more than one host")
    if (counts == 0).any():
        missing = np.flatnonzero(counts == 0)
        raise InputError(source, f"host mapping covers {int((counts > 0).sum())} of {n_rows} labelled rows "
                                 f"(first missing row {int(missing[0])}); labels and host mapping do not match")
    return [h for h, _ in hosts], [rows for _, rows in hosts]


def _check_fractions(fractions: Sequence[float]) -> np.ndarray:
    targets = np.asarray(fractions, dtype=np.float64)
    if targets.shape != (3,) or (targets <= 0).any() or abs(targets.sum() - 1) > 1e-6:
        raise ConfigError("evaluation.host_split.fractions",
                          f"expected three positive train/val/test fractions summing to 1, got {list(fractions)}")
    return targets


def host_blocked_split(
    labels: np.ndarray,
    host_to_indices: Mapping[str, Sequence[int]],
    seed: int,
    *,
    fractions: Sequence[float] = (0.7, 0.1, 0.2),
    tolerance: float = 0.1,
    max_attempts: int = 10_000,
    source: str | Path = "labels",
) -> Split:
    """Protocol A: a train/val/test split of whole hosts within ``tolerance`` of the targets."""
    labels = check_binary_labels(labels, source)
    targets = _check_fractions(fractions)
    hosts, members = _host_members(host_to_indices, labels.size, source)
    sizes = np.array([rows.size for rows in members])
    positives = np.array([labels[rows].sum() for rows in members])
    # Cut points at 70 % / 80 % of hosts; the epsilon keeps 0.7 + 0.1 = 0.7999... from losing a host.
    cuts = np.floor(len(hosts) * np.cumsum(targets)[:-1] + 1e-9).astype(int)
    for name, count in zip(SPLIT_NAMES, np.diff(np.concatenate([[0], cuts, [len(hosts)]]))):
        if count == 0:
            raise InputError(source, f"{len(hosts)} hosts are too few for a host-blocked "
                                     f"{'/'.join(f'{f:g}' for f in targets)} split: the {name} split would be empty")
    balance = labels.mean()
    best = (np.inf, None)
    for attempt in range(max_attempts):
        groups = np.split(np.random.default_rng([seed, attempt]).permutation(len(hosts)), cuts)
        n = np.array([sizes[g].sum() for g in groups])
        part_balance = np.array([positives[g].sum() for g in groups]) / n
        deviation = max(np.max(np.abs(part_balance - balance) / balance),
                        np.max(np.abs(n / labels.size - targets) / targets))
        if deviation <= tolerance:
            log.info("%s: host-blocked split (seed %d) accepted at attempt %d: %s", source, seed, attempt + 1,
                     ", ".join(f"{k} {c} rows, {b:.3f} positive" for k, c, b in zip(SPLIT_NAMES, n, part_balance)))
            rows = [np.sort(np.concatenate([members[h] for h in g])) for g in groups]
            return Split(*rows, attempts=attempt + 1)
        best = min(best, (deviation, attempt), key=lambda item: item[0])
    raise InputError(
        source,
        f"no host-blocked split within +-{tolerance:.0%} of the class balance {balance:.4f} and the fractions "
        f"{list(targets)} after {max_attempts} attempts (seed {seed}, {len(hosts)} hosts); the closest attempt "
        f"deviated by {best[0]:.0%}. Raise evaluation.host_split.max_attempts or tolerance",
    )


def random_validation_split(
    labels: np.ndarray,
    seed: int,
    *,
    val_frac: float = 0.1,
    host_to_indices: Mapping[str, Sequence[int]] | None = None,
    source: str | Path = "labels",
) -> Split:
    """Protocol B: hold out ``val_frac`` of the rows (or of whole hosts) for validation; no test part."""
    labels = check_binary_labels(labels, source)
    n_val = int(labels.size * val_frac)
    if not 0 < n_val < labels.size:
        raise InputError(source, f"a validation fraction of {val_frac} leaves {n_val} of {labels.size} rows "
                                 "for validation")
    if host_to_indices is None:
        order = np.arange(labels.size)
        np.random.RandomState(seed).shuffle(order)  # == begin.py: np.random.seed(seed); np.random.shuffle(indices)
        val, train = order[:n_val], order[n_val:]
    else:
        _, members = _host_members(host_to_indices, labels.size, source)
        order = np.random.default_rng(seed).permutation(len(members))
        n_hosts_val = int(np.searchsorted(np.cumsum([members[h].size for h in order]), n_val)) + 1
        if n_hosts_val >= len(members):
            raise InputError(source, f"{len(members)} hosts are too few to hold out {val_frac:.0%} of the rows by host")
        val = np.concatenate([members[h] for h in order[:n_hosts_val]])
        train = np.concatenate([members[h] for h in order[n_hosts_val:]])
    for name, rows in (("validation", val), ("training", train)):
        if np.unique(labels[rows]).size < 2:
            raise InputError(source, f"the {name} part of the seed-{seed} split ({rows.size} rows) has a single class; "
                                     "raise evaluation.cross_gen.val_frac")
    return Split(np.sort(train), np.sort(val))


def split_table(split: Split, host_to_indices: Mapping[str, Sequence[int]] | None = None) -> pd.DataFrame:
    """Tidy table, one row per sample: ``row``, ``split`` and (when known) ``host``."""
    frames = [pd.DataFrame({"row": rows, "split": name}) for name, rows in split.parts().items()]
    table = pd.concat(frames, ignore_index=True).sort_values("row", ignore_index=True)
    if host_to_indices is not None:
        row_host = {int(i): str(h) for h, rows in host_to_indices.items() for i in rows}
        table["host"] = table["row"].map(row_host)
    return table


def write_split(path: str | Path, split: Split, host_to_indices: Mapping[str, Sequence[int]] | None = None) -> None:
    """Write :func:`split_table` as a TSV, atomically."""
    with atomic_path(path) as tmp:
        split_table(split, host_to_indices).to_csv(tmp, sep="\t", index=False)


def read_split(path: str | Path, n_rows: int | None = None) -> Split:
    """Read a split TSV back; with ``n_rows`` also check that it covers rows ``0..n_rows-1`` once."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    table = pd.read_csv(path, sep="\t")
    if not {"row", "split"} <= set(table.columns):
        raise InputError(path, f"expected columns row and split, found {list(table.columns)}")
    unknown = sorted(set(table["split"]) - set(SPLIT_NAMES))
    if unknown:
        raise InputError(path, f"unknown split name(s) {unknown}; expected {list(SPLIT_NAMES)}")
    rows = table["row"].to_numpy()
    if len(np.unique(rows)) != rows.size:
        raise InputError(path, "a row is listed twice")
    if n_rows is not None and not np.array_equal(np.sort(rows), np.arange(n_rows)):
        raise InputError(path, f"the split does not cover rows 0..{n_rows - 1} exactly once")
    parts = {name: np.sort(rows[table["split"].to_numpy() == name]).astype(np.int64) for name in SPLIT_NAMES}
    return Split(**parts)


def make_split(protocol: str, labels: np.ndarray, seed: int, evaluation: Mapping,
               host_to_indices: Mapping[str, Sequence[int]] | None, source: str | Path) -> Split:
    """The split of ``protocol`` with the settings of the config section ``evaluation``."""
    if protocol == "host_blocked":
        if host_to_indices is None:
            raise InputError(source, "protocol host_blocked needs the host mapping (--hosts)")
        cfg = evaluation["host_split"]
        return host_blocked_split(labels, host_to_indices, seed, fractions=cfg["fractions"], tolerance=cfg["tolerance"],
                                  max_attempts=cfg["max_attempts"], source=source)
    cfg = evaluation["cross_gen"]
    if cfg["host_blocked_val"] and host_to_indices is None:
        raise InputError(source, "evaluation.cross_gen.host_blocked_val is true but no host mapping was given "
                                 "(--hosts)")
    return random_validation_split(labels, seed, val_frac=cfg["val_frac"], source=source,
                                   host_to_indices=host_to_indices if cfg["host_blocked_val"] else None)


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..config import add_config_arguments

    p = subparsers.add_parser("split", help="write the train/val(/test) split of one task, protocol and seed")
    p.add_argument("--task", required=True, help="task name (used in messages)")
    p.add_argument("--labels", required=True, help="(n, 1) label array of the task")
    p.add_argument("--hosts", default=None, help="host_to_indices_<task>_512.pkl (needed for host_blocked)")
    p.add_argument("--protocol", required=True, choices=PROTOCOLS,
                   help="host_blocked = protocol A (70/10/20 by host); cross_gen = protocol B (random validation rows)")
    p.add_argument("--seed", required=True, type=int, help="data_split_seed")
    p.add_argument("--out", required=True, help="output TSV (columns row, split[, host])")
    add_config_arguments(p)
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    from ..config import config_from_args
    from ..data.hosts import load_host_pickle

    evaluation = config_from_args(args)["evaluation"]
    labels = load_labels(args.labels)
    hosts = load_host_pickle(args.hosts, n_rows=labels.size) if args.hosts else None
    source = f"{args.labels} (task {args.task})"
    split = make_split(args.protocol, labels, args.seed, evaluation, hosts, source)
    write_split(args.out, split, hosts)
    return 0
