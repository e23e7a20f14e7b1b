"""Real 16S V4 fragments for the toy vocabulary, cut from Debian's RDP-derived gold set.

The toy mirror needs sequences that look like the published vocabulary (150-nt ASVs that
start right after the 515F primer, reference 3) and carry a real lineage, so that taxonomy
assignment, BLAST and phylum-coloured plots mean something on the miniature. This module
derives a small subset from ``microbiomeutil-data``'s ``rRNA16S.gold.fasta`` (BSD-3,
headers end with a tab-separated 6-rank lineage) and reads the shipped copy back; the
generator itself never needs the Debian package.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from ..config import REPO_ROOT
from ..core.atomic import atomic_path
from ..core.errors import InputError

log = logging.getLogger(__name__)

GOLD_FASTA = Path("/usr/share/microbiomeutil-data/RESOURCES/rRNA16S.gold.fasta")
RESOURCE_DIR = REPO_ROOT / "resources" / "toy_16s"
FASTA_NAME = "toy_16s.fasta"
LINEAGE_NAME = "toy_16s_lineage.tsv"
RANKS = ("kingdom", "phylum", "class", "order", "family", "genus")
FRAGMENT_LENGTH = 150  # AGP forward reads were 150 nt (reference 3)
PRIMER_515F = re.compile("GTG[CT]CAGC[AC]GCCGCGGTAA")  # GTGYCAGCMGCCGCGGTAA

# A gut-like phylum mix (Firmicutes and Bacteroidetes dominate, a tail of rarer phyla).
PHYLUM_QUOTAS = {
    "Firmicutes": 170,
    "Bacteroidetes": 100,
    "Proteobacteria": 90,
    "Actinobacteria": 60,
    "Tenericutes": 15,
    "Fusobacteria": 12,
    "Spirochaetes": 10,
    "Verrucomicrobia": 8,
    "Euryarchaeota": 6,
    "Deferribacteres": 4,
    "Chloroflexi": 3,
    "Lentisphaerae": 2,
}
# Orders common in human stool; their genera are picked first within each phylum.
GUT_ORDERS = frozenset({
    "Clostridiales", "Lactobacillales", "Erysipelotrichales", "Selenomonadales", "Bacillales",
    "Bacteroidales", "Enterobacteriales", "Burkholderiales", "Desulfovibrionales", "Pasteurellales",
    "Campylobacterales", "Bifidobacteriales", "Coriobacteriales", "Actinomycetales",
    "Verrucomicrobiales", "Fusobacteriales", "Methanobacteriales", "Spirochaetales",
    "Mycoplasmatales", "Anaeroplasmatales", "Victivallales",
})
GUT_HEAD_START = 3  # gut genera give up to this many fragments before other genera give their first
# The gold lineages have no Cyanobacteria: these genera are filed under Bacteroidetes or
# Firmicutes there (platform notes), so records naming them are skipped.
CYANOBACTERIA = frozenset({
    "Anabaena", "Aphanizomenon", "Nostoc", "Prochlorococcus", "Synechococcus", "Synechocystis",
    "Trichodesmium", "Cyanothece", "Microcystis", "Acaryochloris", "Thermosynechococcus",
    "Gloeobacter", "Arthrospira", "Lyngbya", "Nodularia", "Crocosphaera",
})


@dataclass(frozen=True)
class Fragment:
    """One vocabulary candidate: source id, V4 fragment and its 6-rank lineage."""

    source_id: str
    sequence: str
    lineage: tuple[str, ...]

    @property
    def phylum(self) -> str:
        return self.lineage[1]


def read_gold(path: str | Path) -> list[tuple[str, str, tuple[str, ...], str]]:
    """``(id, description, lineage, sequence)`` for every record of the gold fasta."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found (install the Debian package microbiomeutil-data)")
    records: list[tuple[str, str, tuple[str, ...], list[str]]] = []
    with open(path) as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\n")
            if line.startswith(">"):
                fields = line[1:].split("\t")
                lineage = tuple(rank.strip() for rank in fields[-1].split(";"))
                if len(fields) < 2 or len(lineage) != len(RANKS):
                    raise InputError(path, f"line {number}: header does not end with a tab-separated 6-rank lineage")
                records.append((fields[0].split()[0], " ".join(fields[:-1]), lineage, []))
            elif records:
                records[-1][3].append(line.strip().upper())
            elif line.strip():
                raise InputError(path, f"line {number}: sequence before the first '>' header")
    if not records:
        raise InputError(path, "no FASTA records")
    return [(rid, text, lineage, "".join(chunks)) for rid, text, lineage, chunks in records]


def v4_fragment(sequence: str, length: int = FRAGMENT_LENGTH) -> str | None:
    """The ``length`` bases after the 515F primer, or None (no primer site, too short, ambiguous bases)."""
    match = PRIMER_515F.search(sequence)
    if match is None:
        return None
    fragment = sequence[match.end(): match.end() + length]
    if len(fragment) < length or set(fragment) - set("ACGT"):
        return None
    return fragment


def _rank_key(text: str) -> str:
    """A deterministic, content-derived order (so the subset does not depend on file order)."""
    return hashlib.sha1(text.encode()).hexdigest()


def select_subset(records, quotas: dict[str, int] = PHYLUM_QUOTAS,
                  length: int = FRAGMENT_LENGTH) -> list[Fragment]:
    """Deduplicated V4 fragments, ``quotas[phylum]`` per phylum, spread over genera.

    The k-th fragment of a genus gets priority k, plus ``GUT_HEAD_START`` when the genus is
    not from a gut-associated order; the lowest priorities fill the quota. The subset thus
    spans many genera, with several ASVs per gut genus as in a stool vocabulary.
    """
    seen: set[str] = set()
    by_genus: dict[str, dict[tuple[str, ...], list[Fragment]]] = defaultdict(lambda: defaultdict(list))
    for source_id, description, lineage, sequence in records:
        fragment = v4_fragment(sequence, length)
        if fragment is None or fragment in seen or lineage[1] not in quotas:
            continue
        if CYANOBACTERIA & set(description.replace(";", " ").split()):
            continue
        seen.add(fragment)
        by_genus[lineage[1]][lineage[:6]].append(Fragment(source_id, fragment, lineage))
    chosen: list[Fragment] = []
    for phylum, quota in quotas.items():
        ranked = []
        for genus, fragments in by_genus.get(phylum, {}).items():
            head_start = 0 if genus[3] in GUT_ORDERS else GUT_HEAD_START
            for k, fragment in enumerate(sorted(fragments, key=lambda f: _rank_key(f.sequence))):
                ranked.append((k + head_start, _rank_key("".join(genus)), k, fragment))
        picked = [item[-1] for item in sorted(ranked, key=lambda item: item[:3])[:quota]]
        if len(picked) < quota:
            log.warning("phylum %s: only %d of %d fragments available", phylum, len(picked), quota)
        chosen.extend(picked)
    return chosen


def write_subset(fragments: list[Fragment], out_dir: str | Path) -> tuple[Path, Path]:
    """Write the fasta (``>source_id``) and the lineage table, both atomically."""
    out_dir = Path(out_dir)
    fasta, table = out_dir / FASTA_NAME, out_dir / LINEAGE_NAME
    with atomic_path(fasta) as tmp_fasta, atomic_path(table) as tmp_table:
        tmp_fasta.write_text("".join(f">{f.source_id}\n{f.sequence}\n" for f in fragments))
        rows = ["\t".join(("id",) + RANKS)] + ["\t".join((f.source_id,) + f.lineage) for f in fragments]
        tmp_table.write_text("\n".join(rows) + "\n")
    return fasta, table


def load_toy_16s(directory: str | Path = RESOURCE_DIR) -> list[Fragment]:
    """Read the shipped subset back; fasta and lineage table must list the same ids in the same order."""
    directory = Path(directory)
    fasta, table = directory / FASTA_NAME, directory / LINEAGE_NAME
    for path in (fasta, table):
        if not path.is_file():
            raise InputError(path, "file not found (regenerate with `microbiome-lm toy-16s-subset`)")
    lines = fasta.read_text().split()
    if len(lines) % 2 or not all(line.startswith(">") for line in lines[::2]):
        raise InputError(fasta, "expected two-line records (>id, sequence)")
    sequences = [(h[1:], s) for h, s in zip(lines[::2], lines[1::2])]
    rows = [line.split("\t") for line in table.read_text().splitlines()]
    if not rows or tuple(rows[0]) != ("id",) + RANKS:
        raise InputError(table, f"header must be {('id',) + RANKS}")
    rows = rows[1:]
    if [r[0] for r in rows] != [sid for sid, _ in sequences]:
        raise InputError(table, f"ids do not match {fasta.name} record by record")
    if any(len(r) != len(RANKS) + 1 for r in rows):
        raise InputError(table, "every row needs an id and 6 ranks")
    if len({s for _, s in sequences}) != len(sequences):
        raise InputError(fasta, "sequences are not unique")
    return [Fragment(sid, seq, tuple(row[1:])) for (sid, seq), row in zip(sequences, rows)]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("toy-16s-subset",
                              help="regenerate resources/toy_16s from Debian's rRNA16S.gold.fasta")
    p.add_argument("--gold", default=str(GOLD_FASTA), help="RDP gold fasta of microbiomeutil-data")
    p.add_argument("--out", default=str(RESOURCE_DIR), help="output folder")
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    fragments = select_subset(read_gold(args.gold))
    fasta, _ = write_subset(fragments, args.out)
    phyla = defaultdict(int)
    for f in fragments:
        phyla[f.phylum] += 1
    log.info("%s: %d fragments (%s)", fasta, len(fragments), ", ".join(f"{p} {n}" for p, n in phyla.items()))
    return 0
