"""``microbiome-lm rdp-reference``: Debian's RDP gold 16S set as a DADA2 ``assignTaxonomy`` training fasta.

The paper assigned taxonomy against SILVA nr v132 (reference 10), which needs internet. For
toy and offline runs the workflow builds its reference from ``microbiomeutil-data``'s
``rRNA16S.gold.fasta`` (5,181 RDP-derived sequences, BSD-3), whose headers end with a
tab-separated 6-rank lineage. DADA2 wants each header to be the lineage itself,
``>Kingdom;Phylum;Class;Order;Family;Genus;``. Records of cyanobacterial genera are dropped:
the gold set has no Cyanobacteria and files them under Bacteroidetes or Firmicutes (platform
notes), which would teach the classifier a wrong phylum.
"""

from __future__ import annotations

import argparse
import gzip
import logging
from pathlib import Path

from ..core.atomic import atomic_path
from ..core.errors import InputError
from ..data.toy_16s import CYANOBACTERIA, GOLD_FASTA, read_gold

log = logging.getLogger(__name__)


def dada2_records(gold: str | Path) -> list[tuple[str, str]]:
    """``(lineage header, sequence)`` pairs in file order; cyanobacterial records left out."""
    records = []
    dropped = 0
    for _, description, lineage, sequence in read_gold(gold):
        if CYANOBACTERIA & set(description.replace(";", " ").split()):
            dropped += 1
            continue
        if any(not rank for rank in lineage):
            raise InputError(gold, f"record {description[:60]!r} has an empty rank in its lineage")
        records.append(("".join(f"{rank};" for rank in lineage), sequence))
    log.info("%s: %d records kept, %d cyanobacterial records dropped", gold, len(records), dropped)
    return records


def write_training_fasta(records: list[tuple[str, str]], out: str | Path) -> Path:
    """Gzipped when ``out`` ends in .gz (no name, fixed mtime in the header: reruns give identical bytes)."""
    text = "".join(f">{header}\n{sequence}\n" for header, sequence in records).encode()
    with atomic_path(out) as tmp:
        if str(out).endswith(".gz"):
            with open(tmp, "wb") as raw, gzip.GzipFile(filename="", fileobj=raw, mode="wb", mtime=0) as handle:
                handle.write(text)
        else:
            tmp.write_bytes(text)
    return Path(out)


def _main(args: argparse.Namespace) -> int:
    out = write_training_fasta(dada2_records(args.gold), args.out)
    log.info("wrote %s", out)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("rdp-reference", help="convert Debian's RDP gold 16S set to DADA2's training format",
                              description=__doc__)
    p.add_argument("--gold", default=str(GOLD_FASTA),
                   help="rRNA16S.gold.fasta of the Debian package microbiomeutil-data")
    p.add_argument("--out", required=True, help="training fasta to write (.gz = gzipped)")
    p.set_defaults(func=_main)
