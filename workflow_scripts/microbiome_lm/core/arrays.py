"""The coordinate-list sample array, the data contract shared by every stage.

A cohort is an ``(n_samples, max_taxa, 2)`` array: ``[..., 0]`` holds the vocabulary id
(stored as float64 in the published files), ``[..., 1]`` the read count; empty slots are
``(0, 0)``. Labels are ``(n_samples, 1)`` integer arrays. Loading goes through
:func:`load_coordinate_array`, which refuses anything the original code would have
silently mangled (fractional counts cast to ``long`` became padding, reference 13 #28).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InputError


def _first_bad(mask: np.ndarray) -> tuple[int, ...]:
    """Index of the first True cell of ``mask`` (row-major)."""
    return tuple(int(i) for i in np.argwhere(mask)[0])


def validate_coordinate_array(
    array: np.ndarray,
    source: str | Path,
    vocab_size: int | None = None,
    max_taxa: int | None = None,
) -> np.ndarray:
    """Check shape, ids and counts of a coordinate-list array; raise :class:`InputError` naming the row.

    ``vocab_size`` is the number of real taxa (ids must lie in ``[0, vocab_size)``);
    ``max_taxa`` the expected width, when known.
    """
    if array.ndim != 3 or array.shape[2] != 2:
        raise InputError(source, f"expected shape (n_samples, max_taxa, 2), found {array.shape}")
    if max_taxa is not None and array.shape[1] != max_taxa:
        raise InputError(source, f"expected {max_taxa} taxa per sample (axis 1), found {array.shape[1]}")
    if not np.issubdtype(array.dtype, np.number):
        raise InputError(source, f"expected a numeric array, found dtype {array.dtype}")
    ids = array[..., 0]
    counts = array[..., 1]
    checks = [
        (~np.isfinite(ids), "vocabulary id is not finite"),
        (np.isfinite(ids) & (ids != np.round(ids)), "vocabulary id is not an integer"),
        (ids < 0, "vocabulary id is negative"),
        (~np.isfinite(counts), "abundance is not finite"),
        (counts < 0, "abundance is negative"),
    ]
    if vocab_size is not None:
        checks.append((ids >= vocab_size, f"vocabulary id is outside the vocabulary (size {vocab_size})"))
    for bad, problem in checks:
        if bad.any():
            row, slot = _first_bad(bad)
            value = array[row, slot]
            raise InputError(
                source,
                f"row {row}, slot {slot}: {problem} (id={value[0]!r}, abundance={value[1]!r}); "
                f"{int(bad.sum())} slot(s) affected",
            )
    return array


def load_npy(path: str | Path) -> np.ndarray:
    """An ``.npy`` array, never unpickled; a missing or unreadable file is an :class:`InputError`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise InputError(path, f"not a readable .npy array ({err})") from err


def load_coordinate_array(
    path: str | Path,
    vocab_size: int | None = None,
    max_taxa: int | None = None,
) -> np.ndarray:
    """Load and validate an ``.npy`` coordinate-list array (no pickles are ever unpickled)."""
    path = Path(path)
    array = load_npy(path)
    return validate_coordinate_array(array, path, vocab_size=vocab_size, max_taxa=max_taxa)


def load_labels(path: str | Path, n_samples: int | None = None) -> np.ndarray:
    """Load binary labels stored as ``(n, 1)`` (or ``(n,)``) and return a flat int64 vector."""
    path = Path(path)
    labels = load_npy(path)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim != 1:
        raise InputError(path, f"expected labels of shape (n, 1) or (n,), found {labels.shape}")
    if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
        row = int(np.argwhere(~np.isfinite(labels) | (labels != np.round(labels)))[0][0])
        raise InputError(path, f"row {row}: label {labels[row]!r} is not an integer")
    if n_samples is not None and labels.shape[0] != n_samples:
        raise InputError(path, f"{labels.shape[0]} labels for {n_samples} samples")
    return labels.astype(np.int64)


def nonzero_taxa(row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids and counts of the occupied slots of one sample, in ascending id order."""
    keep = row[:, 1] > 0
    ids = row[keep, 0].astype(np.int64)
    counts = row[keep, 1]
    order = np.argsort(ids, kind="stable")
    return ids[order], counts[order]


def row_content_key(ids: np.ndarray, counts: np.ndarray) -> bytes:
    """A hashable key of a sample's content, independent of slot order and padding.

    Used to match samples across files (the host step) in linear time instead of the
    original quadratic scan (reference 13 #22).
    """
    order = np.argsort(ids, kind="stable")
    ids = np.asarray(ids, dtype=np.int64)[order]
    counts = np.asarray(counts, dtype=np.float64)[order]
    return ids.tobytes() + b"|" + counts.tobytes()


def top_k_by_abundance(row: np.ndarray, k: int) -> np.ndarray:
    """The top-``k`` slots by descending abundance; ties broken by ascending vocabulary id.

    The published ``compress_data.py`` used an unstable argsort (reference 2, 13 #28); a
    documented, stable tie-break makes the encoding reproducible.
    """
    ids, counts = nonzero_taxa(row)
    order = np.lexsort((ids, -counts))[:k]
    out = np.zeros((k, 2), dtype=np.float64)
    out[: order.size, 0] = ids[order]
    out[: order.size, 1] = counts[order]
    return out
