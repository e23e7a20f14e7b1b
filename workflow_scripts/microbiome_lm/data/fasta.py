"""Minimal FASTA reading for the vocabulary file (``>embed1`` ... in vocabulary order)."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import InputError


def read_fasta(path: str | Path) -> list[tuple[str, str]]:
    """Return ``(name, sequence)`` records; multi-line sequences are joined, case is upper.

    Unlike the original ``pd.read_csv`` reading (reference 13 #22) no record is lost.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    records: list[tuple[str, list[str]]] = []
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                records.append((line[1:].split()[0] if len(line) > 1 else "", []))
            elif not records:
                raise InputError(path, f"line {number}: sequence before the first '>' header")
            else:
                records[-1][1].append(line.upper())
    if not records:
        raise InputError(path, "no FASTA records")
    out = []
    for name, chunks in records:
        if not name:
            raise InputError(path, "a record has an empty header")
        if not chunks:
            raise InputError(path, f"record {name!r} has no sequence")
        out.append((name, "".join(chunks)))
    return out


def read_vocabulary_fasta(path: str | Path, n_taxa: int | None = None) -> list[str]:
    """Sequences in vocabulary order; checks headers are ``embed1..embedN`` in order."""
    records = read_fasta(path)
    for index, (name, _) in enumerate(records):
        if name != f"embed{index + 1}":
            raise InputError(path, f"record {index + 1} is named {name!r}, expected 'embed{index + 1}'")
    if n_taxa is not None and len(records) != n_taxa:
        raise InputError(path, f"{len(records)} sequences for a vocabulary of {n_taxa} taxa")
    return [seq for _, seq in records]
