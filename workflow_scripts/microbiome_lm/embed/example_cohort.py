"""``microbiome-lm embed-example-cohort``: the small BIOM cohort shipped in resources/example_cohort/.

Its ASVs are vocabulary fragments as another sequencing run would give them, so that every
mapping path runs: identical, 3'-trimmed (contained), one mismatch and trimmed + one mismatch
(>= 99 % identity, vsearch), and novel sequences five mismatches (96.7 %) from their source,
which must stay unmapped. Some taxa get two ASVs, whose reads the embedding sums. A variant is
kept only when its nearest vocabulary sequence is unambiguously its source. Output (same seed,
same vocabulary -> same bytes): ``example_cohort.biom`` (BIOM v1 JSON, written by biom-format,
feature ids ``asvNNN``), ``example_cohort_seqs.fasta`` and ``example_cohort_truth.tsv`` (kind and
expected vocabulary id of every ASV, -1 for novel ones).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.atomic import atomic_dir
from ..data.fasta import read_vocabulary_fasta

BIOM_FILE, FASTA_FILE, TRUTH_FILE = "example_cohort.biom", "example_cohort_seqs.fasta", "example_cohort_truth.tsv"
KINDS = {"identical": 8, "trimmed": 8, "mismatch": 8, "trimmed_mismatch": 8, "novel": 6, "second_asv": 4}
NOVEL_MISMATCHES = 5
FIXED_DATE = "2026-01-01T00:00:00"  # biom stamps the creation time; fixed so the file is reproducible


def _mutate(rng: np.random.Generator, sequence: str, n: int) -> str:
    chars = list(sequence)
    for position in rng.choice(len(chars), size=n, replace=False):
        chars[position] = str(rng.choice([b for b in "ACGT" if b != chars[position]]))
    return "".join(chars)


def _nearest_is(sequence: str, source: int, vocab: list[str], min_gap: int) -> bool:
    """``source`` is the only vocabulary sequence within ``min_gap - 1`` mismatches of ``sequence``'s span."""
    query = np.frombuffer(sequence.encode(), np.uint8)
    for taxon, other in enumerate(vocab):
        if taxon == source or len(other) < len(sequence):
            continue
        if (np.frombuffer(other[: len(sequence)].encode(), np.uint8) != query).sum() < min_gap:
            return False
    return True


def _variant(rng: np.random.Generator, vocab: list[str], taxon: int, kind: str) -> str | None:
    source = vocab[taxon]
    trim = int(rng.integers(3, 13)) if "trimmed" in kind else 0
    base = source[: len(source) - trim] if trim else source
    mismatches = {"identical": 0, "trimmed": 0, "second_asv": 0, "mismatch": 1, "trimmed_mismatch": 1,
                  "novel": NOVEL_MISMATCHES}[kind]
    sequence = _mutate(rng, base, mismatches) if mismatches else base
    if kind == "novel":
        return sequence if _nearest_is(sequence, -1, vocab, 3) else None
    return sequence if _nearest_is(sequence, taxon, vocab, mismatches + 2) else None


def make_example_cohort(vocab: list[str], n_samples: int = 12, seed: int = 1) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(counts samples x ASVs, truth table) for the vocabulary ``vocab``."""
    rng = np.random.default_rng(seed)
    pool = [int(t) for t in rng.permutation(min(len(vocab), 150))]
    records: list[dict] = []

    def add(kind: str, taxon: int) -> bool:
        sequence = _variant(rng, vocab, taxon, "trimmed" if kind == "second_asv" else kind)
        if sequence is None or any(sequence == r["sequence"] for r in records):
            return False
        records.append({"kind": kind, "vocab_id": -1 if kind == "novel" else taxon, "sequence": sequence})
        return True

    for kind, number in KINDS.items():
        if kind == "second_asv":  # trimmed second ASVs of the first (identical) taxa
            for taxon in [r["vocab_id"] for r in records[:number]]:
                add(kind, taxon)
            continue
        made = 0
        while made < number and pool:
            made += add(kind, pool.pop())
    truth = pd.DataFrame(records)
    truth.insert(0, "feature_id", [f"asv{i + 1:03d}" for i in range(len(truth))])
    counts = np.zeros((n_samples, len(truth)), dtype=np.int64)
    for row in counts:
        present = rng.choice(len(truth), size=int(rng.integers(12, 25)), replace=False)
        row[present] = np.maximum(1, np.round(rng.lognormal(5.0, 1.2, size=present.size))).astype(np.int64)
    frame = pd.DataFrame(counts, index=[f"sample{i + 1:02d}" for i in range(n_samples)], columns=truth["feature_id"])
    return frame, truth


def write_example_cohort(vocab_fasta: str | Path, out_dir: str | Path, n_samples: int = 12, seed: int = 1) -> Path:
    from biom import Table

    counts, truth = make_example_cohort(read_vocabulary_fasta(vocab_fasta), n_samples, seed)
    table = Table(counts.to_numpy().T, list(counts.columns), list(counts.index))
    document = json.loads(table.to_json("microbiome-lm embed-example-cohort"))
    document["date"] = FIXED_DATE
    with atomic_dir(out_dir) as tmp:
        (tmp / BIOM_FILE).write_text(json.dumps(document, sort_keys=True) + "\n")
        (tmp / FASTA_FILE).write_text("".join(f">{r.feature_id}\n{r.sequence}\n" for r in truth.itertuples()))
        truth.drop(columns="sequence").to_csv(tmp / TRUTH_FILE, sep="\t", index=False)
        readme = Path(out_dir) / "README.md"
        if readme.is_file():
            (tmp / "README.md").write_text(readme.read_text())
    return Path(out_dir)


def register(subparsers) -> None:
    p = subparsers.add_parser("embed-example-cohort", help="write the example BIOM cohort (resources/example_cohort)",
                              description=__doc__.splitlines()[0])
    p.add_argument("--vocab-fasta", required=True,
                   help="vocabulary FASTA (the toy mirror's dryad/seqs_.07_embed.fasta)")
    p.add_argument("--out", required=True, type=Path, help="output folder (replaced atomically; README.md kept)")
    p.add_argument("--samples", type=int, default=12, help="number of samples")
    p.add_argument("--seed", type=int, default=1, help="random seed")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    write_example_cohort(args.vocab_fasta, args.out, args.samples, args.seed)
    return 0
