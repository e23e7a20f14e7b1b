"""Host-to-index pickles: which rows of a task's arrays come from which AGP host.

What ``DeepMicro/data/host_to_indices/host_to_ids.py`` intended (reference Appendix A),
with its bugs fixed (reference 13 #22):

* the pickle maps each host to **row indices** (the finetuning code expects indices; the
  original stored the rows themselves);
* the vocabulary FASTA is read record by record, so the last sequence is not dropped;
* rows are matched by a hash of their (id, count) content in one pass, instead of
  comparing every rebuilt row with every array row.

The sequence table is streamed in chunks so the 18,480 x 26,726 real table never sits
in memory as a dense frame. Columns that are not vocabulary sequences are dropped (the
published table is the unfiltered one, reference 13 #27) and counted in the log.
"""

from __future__ import annotations

import argparse
import logging
import pickle
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.arrays import load_coordinate_array, nonzero_taxa, row_content_key
from ..core.atomic import atomic_path
from ..core.errors import InputError
from .fasta import read_vocabulary_fasta

log = logging.getLogger(__name__)


def read_table(path: str | Path, required: list[str]) -> pd.DataFrame:
    """Read a tab-separated metadata table as strings and check its required columns."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(path, f"missing column(s) {missing}; found {list(table.columns)[:10]}")
    return table


def unique_mapping(table: pd.DataFrame, key: str, value: str, source: str | Path) -> dict[str, str]:
    """``key -> value`` from two columns; a key mapped to two different values is an error."""
    pairs = table[[key, value]].drop_duplicates()
    dup = pairs[key].duplicated(keep=False)
    if dup.any():
        example = pairs[dup].iloc[0][key]
        raise InputError(source, f"{key} {example!r} maps to more than one {value}")
    return dict(zip(pairs[key], pairs[value]))


def seqtab_content_keys(
    seqtab_path: str | Path, vocabulary: list[str], chunk_rows: int = 500
) -> dict[bytes, list[str]]:
    """Content key of every sample of the DADA2 sequence table -> run accessions having it."""
    seqtab_path = Path(seqtab_path)
    if not seqtab_path.is_file():
        raise InputError(seqtab_path, "file not found")
    seq_to_id = {seq: i for i, seq in enumerate(vocabulary)}
    keys: dict[bytes, list[str]] = defaultdict(list)
    column_ids = None
    reader = pd.read_csv(seqtab_path, sep="\t", index_col=0, chunksize=chunk_rows)
    for chunk in reader:
        if column_ids is None:
            columns = [str(c).upper() for c in chunk.columns]
            column_ids = np.array([seq_to_id.get(c, -1) for c in columns])
            n_in_vocab = int((column_ids >= 0).sum())
            if n_in_vocab == 0:
                raise InputError(seqtab_path, "no column is a vocabulary sequence")
            log.info("%s: %d of %d columns are vocabulary sequences", seqtab_path, n_in_vocab, len(columns))
            keep = column_ids >= 0
        values = chunk.to_numpy()[:, keep]
        if not np.issubdtype(values.dtype, np.number) or np.any(values < 0):
            raise InputError(seqtab_path, "read counts must be non-negative numbers")
        ids = column_ids[keep]
        for run, row in zip(chunk.index.astype(str), values):
            nz = row > 0
            keys[row_content_key(ids[nz], row[nz].astype(np.float64))].append(run)
    if column_ids is None:
        raise InputError(seqtab_path, "the sequence table has no rows")
    return keys


def host_indices(
    array_path: str | Path,
    seqtab_keys: dict[bytes, list[str]],
    run_to_sample: dict[str, str],
    sample_to_host: dict[str, str],
    max_unmatched_fraction: float,
) -> tuple[dict[str, list[int]], pd.DataFrame]:
    """Map every row of a full-width array to its host; returns the mapping and a per-row report."""
    array = load_coordinate_array(array_path)
    hosts: dict[str, list[int]] = defaultdict(list)
    report = []
    for row_index in range(array.shape[0]):
        ids, counts = nonzero_taxa(array[row_index])
        runs = seqtab_keys.get(row_content_key(ids, counts), [])
        candidates = sorted({sample_to_host.get(run_to_sample.get(run, ""), "") for run in runs} - {""})
        if len(candidates) == 1:
            status, host = "matched", candidates[0]
        else:
            status = "ambiguous" if candidates else "unmatched"
            host = f"{status}_row{row_index}"
        hosts[host].append(row_index)
        report.append((row_index, ",".join(runs), host, status))
    table = pd.DataFrame(report, columns=["row", "run_accessions", "host_subject_id", "status"])
    bad = table["status"] != "matched"
    if bad.any():
        fraction = bad.mean()
        log.warning("%s: %d of %d rows could not be tied to one host; each is its own host", array_path,
                    int(bad.sum()), len(table))
        if fraction > max_unmatched_fraction:
            first = table[bad].iloc[0]
            raise InputError(
                array_path,
                f"{int(bad.sum())} of {len(table)} rows ({fraction:.1%}) could not be tied to one host "
                f"(first: row {first['row']}, {first['status']}); allowed at most {max_unmatched_fraction:.1%}",
            )
    return dict(hosts), table


def write_host_pickle(mapping: dict[str, list[int]], report: pd.DataFrame, pickle_path: str | Path,
                      report_path: str | Path) -> None:
    """Write the pickle (host -> sorted list of int indices, protocol 4) and its TSV report atomically."""
    clean = {str(h): sorted(int(i) for i in rows) for h, rows in sorted(mapping.items())}
    with atomic_path(pickle_path) as tmp, atomic_path(report_path) as tmp_report:
        with open(tmp, "wb") as handle:
            pickle.dump(clean, handle, protocol=4)
        report.to_csv(tmp_report, sep="\t", index=False)


def build_host_pickles(
    *,
    seqtab: str | Path,
    vocab_fasta: str | Path,
    err_to_qid: str | Path,
    mapping: str | Path,
    arrays: dict[str, str | Path],
    out_dir: str | Path,
    max_unmatched_fraction: float = 0.01,
) -> dict[str, Path]:
    """Build ``host_to_indices_<key>_512.pkl`` for every ``key -> full array`` in ``arrays``."""
    vocabulary = read_vocabulary_fasta(vocab_fasta)
    run_table = read_table(err_to_qid, ["run_accession", "sample_title"])
    run_to_sample = unique_mapping(run_table, "run_accession", "sample_title", err_to_qid)
    meta = read_table(mapping, ["#SampleID", "HOST_SUBJECT_ID"])
    sample_to_host = unique_mapping(meta, "#SampleID", "HOST_SUBJECT_ID", mapping)
    keys = seqtab_content_keys(seqtab, vocabulary)
    written = {}
    for key, array_path in arrays.items():
        hosts, report = host_indices(array_path, keys, run_to_sample, sample_to_host, max_unmatched_fraction)
        pickle_path = Path(out_dir) / f"host_to_indices_{key}_512.pkl"
        write_host_pickle(hosts, report, pickle_path, pickle_path.with_suffix(".tsv"))
        log.info("%s: %d hosts for %d rows", pickle_path, len(hosts), len(report))
        written[key] = pickle_path
    return written


def load_host_pickle(path: str | Path, n_rows: int | None = None) -> dict[str, list[int]]:
    """Read a host pickle safely (plain dict of str -> list of int) and check it covers each row once."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")

    class _PlainUnpickler(pickle.Unpickler):
        def find_class(self, module, name):  # only builtin containers are allowed
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    with open(path, "rb") as handle:
        try:
            mapping = _PlainUnpickler(handle).load()
        except (pickle.UnpicklingError, EOFError) as err:
            raise InputError(path, f"not a host-to-indices pickle ({err})") from err
    if not isinstance(mapping, dict) or not all(isinstance(v, list) for v in mapping.values()):
        raise InputError(path, "expected a dict of host id -> list of row indices")
    rows = [i for v in mapping.values() for i in v]
    if not all(isinstance(i, int) for i in rows):
        raise InputError(path, "row indices must be integers (the original stored rows; rebuild with this tool)")
    if n_rows is not None and sorted(rows) != list(range(n_rows)):
        raise InputError(path, f"indices do not cover rows 0..{n_rows - 1} exactly once")
    return mapping


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("hosts", help="build host_to_indices_<task>_512.pkl files from the AGP metadata")
    p.add_argument("--seqtab", required=True, help="seqtab_final_filter.07.txt")
    p.add_argument("--vocab-fasta", required=True, help="seqs_.07_embed.fasta")
    p.add_argument("--err-to-qid", required=True, help="err-to-qid.txt")
    p.add_argument("--mapping", required=True, help="AG_mapping.txt")
    p.add_argument("--array", action="append", required=True, metavar="KEY=PATH",
                   help="host key and full-width array, e.g. total_IBD=total_IBD_otu.npy (repeatable)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--max-unmatched-fraction", type=float, default=0.01)
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    arrays = {}
    for item in args.array:
        key, sep, path = item.partition("=")
        if not sep or not key or not path:
            raise InputError(None, f"--array expects KEY=PATH, got {item!r}")
        arrays[key] = path
    build_host_pickles(seqtab=args.seqtab, vocab_fasta=args.vocab_fasta, err_to_qid=args.err_to_qid,
                       mapping=args.mapping, arrays=arrays, out_dir=args.out_dir,
                       max_unmatched_fraction=args.max_unmatched_fraction)
    return 0
