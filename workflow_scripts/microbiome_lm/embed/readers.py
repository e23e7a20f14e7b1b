"""Users' feature tables: BIOM (v1 JSON, v2.1 HDF5), QIIME 2 ``.qza``, TSV / CSV, plus their sequences.

Every reader returns the same :class:`FeatureTable` (samples x features, integer counts, one
DNA sequence per feature) and every problem is an :class:`InputError` naming the file. BIOM
parsing is biom-format's (``biom.load_table`` detects JSON, HDF5 and the classic
``#OTU ID`` TSV); a ``.qza`` is a zip whose ``<uuid>/data/`` folder holds the BIOM
(``feature-table.biom``) or the FASTA (``dna-sequences.fasta``), so we read the member
inside, no QIIME 2 needed.
"""

from __future__ import annotations

import csv
import re
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from ..core.errors import InputError
from ..data.fasta import read_fasta

FORMATS = ("auto", "biom", "qza", "tsv", "csv")
QZA_TABLE_MEMBER = "data/feature-table.biom"
QZA_SEQUENCES_MEMBER = "data/dna-sequences.fasta"
# Feature ids that are themselves sequences (deblur, some DADA2 exports); shorter ones are ids.
_DNA = re.compile(r"^[ACGTUN]{30,}$", re.IGNORECASE)
_SUFFIX_FORMAT = {".biom": "biom", ".h5": "biom", ".hdf5": "biom", ".json": "biom", ".qza": "qza",
                  ".tsv": "tsv", ".txt": "tsv", ".csv": "csv"}


@dataclass
class FeatureTable:
    """Counts ``(n_samples, n_features)`` (CSR, int64), ids, and each feature's DNA sequence."""

    sample_ids: list[str]
    feature_ids: list[str]
    counts: sparse.csr_matrix
    sequences: list[str]
    source: str

    @property
    def n_samples(self) -> int:
        return len(self.sample_ids)


def detect_format(path: str | Path) -> str:
    """Format from the file name; BIOM-style text tables (``#OTU ID`` header) read as BIOM."""
    path = Path(path)
    fmt = _SUFFIX_FORMAT.get(path.suffix.lower())
    if fmt is None:
        raise InputError(path, f"cannot tell the format from the suffix {path.suffix!r}; "
                               f"set embed.format to one of {', '.join(FORMATS[1:])}")
    if fmt == "tsv" and path.is_file():
        with open(path, errors="replace") as handle:
            first = handle.readline()
        if first.startswith(("#OTU ID", "# Constructed from biom file")):
            return "biom"
    return fmt


def _qza_member(path: Path, member: str) -> str:
    """Name of ``<uuid>/<member>`` inside a QIIME 2 archive (one uuid folder at the root)."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile as err:
        raise InputError(path, f"not a QIIME 2 archive (zip): {err}") from err
    hits = [n for n in names if n.count("/") >= 2 and n.split("/", 1)[1] == member]
    if len(hits) != 1:
        raise InputError(path, f"expected one <uuid>/{member} in the archive, found {len(hits)}")
    root = hits[0].split("/", 1)[0]
    if f"{root}/metadata.yaml" not in names:
        raise InputError(path, f"{root}/metadata.yaml missing: not laid out as a QIIME 2 archive")
    return hits[0]


def _extract(path: Path, member: str, folder: Path) -> Path:
    with zipfile.ZipFile(path) as archive:
        target = folder / Path(member).name
        target.write_bytes(archive.read(member))
    return target


def _load_biom(path: Path, shown: Path) -> tuple[list[str], list[str], sparse.csr_matrix]:
    import biom

    try:
        table = biom.load_table(str(path))
    except Exception as err:  # biom raises many types (TableException, KeyError, ValueError, OSError)
        raise InputError(shown, f"not a readable BIOM table ({type(err).__name__}: {err})") from err
    samples = [str(s) for s in table.ids(axis="sample")]
    features = [str(f) for f in table.ids(axis="observation")]
    counts = sparse.csr_matrix(table.matrix_data.T)
    return samples, features, counts


def _load_delimited(path: Path, sep: str) -> tuple[list[str], list[str], sparse.csr_matrix]:
    """Samples in rows (first column = sample id), features in columns."""
    try:
        frame = pd.read_csv(path, sep=sep, index_col=0, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(path, f"not a readable table ({err})") from err
    with open(path, newline="", errors="replace") as handle:
        header = next(csv.reader(handle, delimiter=sep), [])
    if len(header) == frame.shape[1] + 1:  # pandas renames duplicated columns (X, X.1): keep the real names
        frame.columns = header[1:]
    values = frame.apply(pd.to_numeric, errors="coerce")
    bad = values.isna() & frame.notna()
    if bad.to_numpy().any():
        row, col = np.argwhere(bad.to_numpy())[0]
        raise InputError(path, f"sample {frame.index[row]!r}, feature {frame.columns[col]!r}: "
                               f"count {frame.iat[row, col]!r} is not a number")
    matrix = values.fillna(0).to_numpy(dtype=np.float64)
    return [str(s) for s in frame.index], [str(c) for c in frame.columns], sparse.csr_matrix(matrix)


def _check_counts(source: Path, samples: list[str], features: list[str], counts: sparse.csr_matrix) -> None:
    if not samples or not features or counts.nnz == 0 or counts.sum() == 0:
        raise InputError(source, f"empty table ({len(samples)} samples x {len(features)} features, no reads)")
    for kind, ids in (("sample", samples), ("feature", features)):
        seen = pd.Index(ids)
        if seen.has_duplicates:
            raise InputError(source, f"duplicated {kind} id(s): {', '.join(seen[seen.duplicated()].unique()[:5])}")
    data = counts.tocoo()
    checks = [(~np.isfinite(data.data), "is not finite"), (data.data < 0, "is negative"),
              (np.isfinite(data.data) & (data.data != np.round(data.data)), "is not an integer read count")]
    for bad, problem in checks:
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(source, f"sample {samples[data.row[i]]!r}, feature {features[data.col[i]]!r}: "
                                     f"count {data.data[i]:g} {problem}; {int(bad.sum())} value(s) affected")
    empty = np.flatnonzero(np.asarray(counts.sum(axis=1)).ravel() == 0)
    if empty.size:
        raise InputError(source, f"{empty.size} sample(s) without reads: {', '.join(samples[i] for i in empty[:5])}")


def read_sequences(path: str | Path) -> dict[str, str]:
    """Feature id -> sequence from a FASTA or a QIIME 2 ``FeatureData[Sequence]`` ``.qza``."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    if path.suffix.lower() == ".qza":
        member = _qza_member(path, QZA_SEQUENCES_MEMBER)
        with tempfile.TemporaryDirectory() as folder:
            try:
                records = read_fasta(_extract(path, member, Path(folder)))
            except InputError as err:
                raise InputError(path, f"{member}: {err.problem}") from None
    else:
        records = read_fasta(path)
    out: dict[str, str] = {}
    for name, sequence in records:
        if name in out:
            raise InputError(path, f"sequence id {name!r} appears twice")
        out[name] = sequence.replace("U", "T")
    return out


def _sequences_for(source: Path, features: list[str], sequences_path: str | Path | None) -> list[str]:
    if sequences_path is not None:
        known = read_sequences(sequences_path)
        missing = [f for f in features if f not in known]
        if missing:
            raise InputError(sequences_path, f"{len(missing)} feature id(s) of {source} have no sequence here, "
                                             f"e.g. {', '.join(missing[:5])}")
        return [known[f] for f in features]
    not_dna = [f for f in features if not _DNA.match(f)]
    if not_dna:
        raise InputError(source, f"feature ids are not DNA sequences (e.g. {not_dna[0]!r}): "
                                 "give the representative sequences (FASTA or .qza)")
    return [f.upper().replace("U", "T") for f in features]


def read_feature_table(path: str | Path, sequences: str | Path | None = None, fmt: str = "auto") -> FeatureTable:
    """Read and validate a user's table; ``sequences`` is needed unless feature ids are sequences."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    if fmt not in FORMATS:
        raise InputError(path, f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    if fmt == "biom":
        samples, features, counts = _load_biom(path, path)
    elif fmt == "qza":
        member = _qza_member(path, QZA_TABLE_MEMBER)
        with tempfile.TemporaryDirectory() as folder:
            samples, features, counts = _load_biom(_extract(path, member, Path(folder)), path)
    else:
        samples, features, counts = _load_delimited(path, "," if fmt == "csv" else "\t")
    _check_counts(path, samples, features, counts)
    return FeatureTable(sample_ids=samples, feature_ids=features, counts=counts.astype(np.int64).tocsr(),
                        sequences=_sequences_for(path, features, sequences), source=str(path))
