"""Byte-reproducible file writing for the mirror: npy bytes, coordinate lists, zips.

The same seed must give byte-identical files, so zips carry a fixed timestamp, fixed
permissions and sorted members, and arrays are serialised in memory with ``np.save``.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ...core.arrays import top_k_by_abundance

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # earliest timestamp a zip can hold


def npy_bytes(array: np.ndarray) -> bytes:
    """``np.save`` output of ``array`` (no pickles)."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def coordinate_rows(counts: np.ndarray, width: int) -> np.ndarray:
    """Full-width coordinate-list array from a dense (n_samples, n_taxa) count matrix.

    Occupied slots hold (vocabulary id, count) in ascending id order, as in the published
    ``*_otu`` / ``*_1897`` files (reference 2); the rest are (0, 0). The caller checks that
    no sample has more taxa than ``width``.
    """
    out = np.zeros((counts.shape[0], width, 2), dtype=np.float64)
    for row, sample in enumerate(counts):
        ids = np.flatnonzero(sample)
        out[row, : ids.size, 0] = ids
        out[row, : ids.size, 1] = sample[ids]
    return out


def top_rows(full: np.ndarray, width: int) -> np.ndarray:
    """The ``*_512`` form: each row's top-``width`` taxa by descending count, ties by ascending id."""
    return np.stack([top_k_by_abundance(row, width) for row in full]) if len(full) else np.zeros((0, width, 2))


def labels_array(values) -> np.ndarray:
    """Labels as the published ``(n, 1)`` int64 arrays."""
    return np.asarray(values, dtype=np.int64).reshape(-1, 1)


def write_zip(path: str | Path, members: Mapping[str, bytes]) -> None:
    """Write a deflated zip whose bytes depend only on ``members`` (sorted, fixed metadata)."""
    with zipfile.ZipFile(path, "w") as archive:
        for name in sorted(members):
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so the permissions below are read as such everywhere
            info.external_attr = 0o644 << 16
            archive.writestr(info, members[name], compresslevel=6)
