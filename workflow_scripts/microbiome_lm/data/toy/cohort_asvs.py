"""ASV sequences of the external cohorts, as they relate to the AGP vocabulary.

The published cohorts were denoised separately and mapped onto the vocabulary by BLAST
(best hit, identity >= 99 %, reference 2); ASVs without a hit were dropped. The toy cohorts
reproduce the cases that mapping meets: sequences identical to a vocabulary ASV, shorter
ones (trimmed reads), ones with a single mismatch (149/150 = 99.3 % identity), and novel
sequences at least ``NOVEL_MIN_MISMATCHES`` away from every vocabulary ASV.
"""

from __future__ import annotations

import numpy as np

KINDS = ("identical", "trimmed", "mismatch")
NOVEL_MIN_MISMATCHES = 3  # <= 98 % identity over 150 nt: below the 99 % threshold
MAX_TRIM = 12


def _codes(sequences: list[str]) -> np.ndarray:
    """Equal-length sequences as a uint8 matrix, for vectorised mismatch counts."""
    return np.frombuffer("".join(sequences).encode(), dtype=np.uint8).reshape(len(sequences), -1)


def mismatches(candidates: list[str], reference: list[str]) -> np.ndarray:
    """(len(candidates), len(reference)) Hamming distances of equal-length sequences."""
    a, b = _codes(candidates), _codes(reference)
    return (a[:, None, :] != b[None, :, :]).sum(axis=2)


def far_from(candidates: list[str], reference: list[str], minimum: int = NOVEL_MIN_MISMATCHES) -> np.ndarray:
    """Mask of candidates at least ``minimum`` mismatches from every reference sequence."""
    if not candidates:
        return np.zeros(0, dtype=bool)
    return mismatches(candidates, reference).min(axis=1) >= minimum


def variant(rng: np.random.Generator, vocab: list[str], vocab_codes: np.ndarray, taxon: int,
            kind: str) -> tuple[str, str]:
    """A cohort ASV for vocabulary taxon ``taxon`` whose best BLAST hit is unambiguously that taxon.

    Falls back to the identical sequence when no unambiguous trimmed or mismatched form exists
    (e.g. two vocabulary ASVs that differ only in their last bases).
    """
    source = vocab[taxon]
    others = np.delete(np.arange(len(vocab)), taxon)
    if kind == "trimmed":
        trimmed = source[: len(source) - int(rng.integers(1, MAX_TRIM + 1))]
        if not any(vocab[o].startswith(trimmed) for o in others):
            return trimmed, kind
    elif kind == "mismatch":
        for _ in range(20):
            position = int(rng.integers(len(source)))
            base = str(rng.choice([b for b in "ACGT" if b != source[position]]))
            mutated = source[:position] + base + source[position + 1:]
            code = np.frombuffer(mutated.encode(), dtype=np.uint8)
            if (vocab_codes[others] != code).sum(axis=1).min() >= 2:
                return mutated, kind
    return source, "identical"


def cohort_asvs(rng: np.random.Generator, vocab: list[str], vocab_reads: np.ndarray, novel: list[str],
                novel_reads: np.ndarray, kind_probabilities: list[float], prefix: str) -> list[dict]:
    """One ASV per observed vocabulary taxon and per observed novel sequence.

    ``vocab_reads`` / ``novel_reads`` are the cohort's total reads per taxon. Records come in
    descending read order (ties: sequence), as DADA2 orders its sequence table, named
    ``<prefix>_asv<k>``; each carries the vocabulary id it stands for (None when novel).
    """
    vocab_codes = _codes(vocab)
    records = []
    for taxon in np.flatnonzero(vocab_reads):
        kind = str(rng.choice(KINDS, p=kind_probabilities))
        sequence, kind = variant(rng, vocab, vocab_codes, int(taxon), kind)
        records.append({"sequence": sequence, "vocab_id": int(taxon), "kind": kind,
                        "reads": int(vocab_reads[taxon])})
    for index in np.flatnonzero(novel_reads):
        records.append({"sequence": novel[index], "vocab_id": None, "kind": "novel",
                        "reads": int(novel_reads[index])})
    records.sort(key=lambda r: (-r["reads"], r["sequence"]))
    for number, record in enumerate(records, start=1):
        record["name"] = f"{prefix}_asv{number}"
    return records
