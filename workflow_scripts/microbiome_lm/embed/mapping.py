"""Map users' ASV sequences onto the model vocabulary: exact, then contained, then vsearch (or BLAST).

The published cohorts were mapped by BLAST (best hit, identity >= 99 %, reference 2). Here:

1. **exact**: the sequence is a vocabulary sequence;
2. **contained**: reads of the same region with other trim lengths: the sequence lies inside a
   vocabulary sequence (shorter read) or a vocabulary sequence lies inside it (longer read), with
   at least ``min_overlap`` nt shared; the lowest id (the most prevalent taxon) wins a tie;
3. **vsearch** (default) or **blast** for the rest, keeping the best hit at ``identity`` or more
   over at least ``min_overlap`` aligned columns.

vsearch options: ``--usearch_global --id <identity> --iddef 2`` (identity = matches / alignment
columns, terminal gaps excluded, so a read shorter or longer than its vocabulary sequence is judged
on the overlap), ``--mincols <min_overlap>`` (no short spurious overlaps), ``--strand plus``,
``--maxaccepts 8 --maxrejects 64 --top_hits_only`` (several candidates, keep the best identity),
``--blast6out`` for the hits. BLAST: ``blastn -perc_identity -evalue 1e-29`` (the Tataru mapping),
best bitscore kept. A sequence without a hit is unmapped; its reads are dropped and counted in
the coverage report.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from ..core.errors import InputError

log = logging.getLogger(__name__)
SEARCH_TOOLS = ("vsearch", "blast", "none")
BLAST_EVALUE = 1e-29  # reference 2: the Tataru embed_asv_table.R cut-off
HIT_COLUMNS = ["query", "target", "identity", "aligned"]
MAPPING_COLUMNS = ["feature_id", "sequence", "vocab_id", "method", "identity"]


class ContainmentIndex:
    """Substring matches in both directions over the vocabulary, without an O(queries x vocab) scan.

    Every vocabulary sequence is indexed by its ``SEED``-mers at offsets 0, ``STRIDE``,
    2 x ``STRIDE``, ... A read inside a vocabulary sequence shares one of those seeds at one of its
    own first ``STRIDE`` offsets, and a vocabulary sequence inside a read shares its offset-0 seed,
    so looking up every window of the read finds all candidates; each is then verified exactly.
    Complete for reads of at least ``SEED + STRIDE - 1`` nt (``embed.min_overlap`` is at least 40).
    """

    SEED, STRIDE = 24, 16

    def __init__(self, vocab: list[str], min_overlap: int):
        self.vocab, self.min_overlap = vocab, max(min_overlap, self.SEED + self.STRIDE - 1)
        self.seeds: dict[str, list[int]] = {}
        for taxon, sequence in enumerate(vocab):
            for offset in range(0, len(sequence) - self.SEED + 1, self.STRIDE):
                self.seeds.setdefault(sequence[offset:offset + self.SEED], []).append(taxon)

    def lookup(self, sequence: str) -> int | None:
        """Lowest vocabulary id that contains ``sequence`` or lies inside it (overlap >= min_overlap)."""
        if len(sequence) < self.min_overlap:
            return None
        candidates = {taxon for start in range(len(sequence) - self.SEED + 1)
                      for taxon in self.seeds.get(sequence[start:start + self.SEED], ())}
        found = [taxon for taxon in candidates
                 if sequence in self.vocab[taxon]
                 or (len(self.vocab[taxon]) >= self.min_overlap and self.vocab[taxon] in sequence)]
        return min(found) if found else None


def _write_fasta(path: Path, names: list[str], sequences: list[str]) -> None:
    with open(path, "w") as handle:
        handle.writelines(f">{name}\n{seq}\n" for name, seq in zip(names, sequences))


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {' '.join(command)}\n{done.stderr[-2000:]}")


def _require(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise InputError(tool, f"not installed: needed for embed.search (install it, or set embed.search "
                               f"to {'blast' if tool == 'vsearch' else 'vsearch'} or none)")
    return found


def vsearch_hits(queries: list[str], vocab: list[str], identity: float, min_overlap: int,
                 threads: int, folder: Path) -> pd.DataFrame:
    """Best vsearch hit per query index (columns :data:`HIT_COLUMNS`, identity as a fraction)."""
    binary = _require("vsearch")
    _write_fasta(folder / "q.fa", [f"q{i}" for i in range(len(queries))], queries)
    _write_fasta(folder / "db.fa", [f"t{i}" for i in range(len(vocab))], vocab)
    _run([binary, "--usearch_global", str(folder / "q.fa"), "--db", str(folder / "db.fa"), "--id", str(identity),
          "--iddef", "2", "--mincols", str(min_overlap), "--strand", "plus", "--maxaccepts", "8",
          "--maxrejects", "64", "--top_hits_only", "--threads", str(threads), "--quiet",
          "--blast6out", str(folder / "hits.tsv")], "vsearch")
    return _read_hits(folder / "hits.tsv", scale=100.0)


def blast_hits(queries: list[str], vocab: list[str], identity: float, min_overlap: int,
               threads: int, folder: Path) -> pd.DataFrame:
    """Best blastn hit per query index at ``identity`` or more (e-value < 1e-29, reference 2)."""
    makeblastdb, blastn = _require("makeblastdb"), _require("blastn")
    _write_fasta(folder / "q.fa", [f"q{i}" for i in range(len(queries))], queries)
    _write_fasta(folder / "db.fa", [f"t{i}" for i in range(len(vocab))], vocab)
    _run([makeblastdb, "-in", str(folder / "db.fa"), "-dbtype", "nucl", "-out", str(folder / "db")], "makeblastdb")
    _run([blastn, "-query", str(folder / "q.fa"), "-db", str(folder / "db"), "-perc_identity", str(100 * identity),
          "-evalue", str(BLAST_EVALUE), "-max_target_seqs", "8", "-num_threads", str(threads),
          "-outfmt", "6 qseqid sseqid pident length", "-out", str(folder / "hits.tsv")], "blastn")
    hits = _read_hits(folder / "hits.tsv", scale=100.0)
    return hits[(hits["aligned"] >= min_overlap) & (hits["identity"] >= identity)]


def _read_hits(path: Path, scale: float) -> pd.DataFrame:
    """Best hit per query: highest identity, then longest alignment, then lowest vocabulary id."""
    if not path.is_file() or path.stat().st_size == 0:
        return pd.DataFrame(columns=HIT_COLUMNS)
    hits = pd.read_csv(path, sep="\t", header=None, usecols=[0, 1, 2, 3], names=HIT_COLUMNS)
    hits["query"] = hits["query"].str[1:].astype(int)
    hits["target"] = hits["target"].str[1:].astype(int)
    hits["identity"] = hits["identity"] / scale
    hits = hits.sort_values(["query", "identity", "aligned", "target"], ascending=[True, False, False, True])
    return hits.drop_duplicates("query")


SEARCHES = {"vsearch": vsearch_hits, "blast": blast_hits}


def map_to_vocabulary(feature_ids: list[str], sequences: list[str], vocab: list[str], identity: float = 0.99,
                      min_overlap: int = 100, search: str = "vsearch", threads: int = 1) -> pd.DataFrame:
    """One row per feature: its vocabulary id (-1 when unmapped), the method and the identity."""
    if search not in SEARCH_TOOLS:
        raise ValueError(f"search must be one of {SEARCH_TOOLS}, got {search!r}")
    index = ContainmentIndex(vocab, min_overlap)
    exact = {}
    for taxon, sequence in enumerate(vocab):
        exact.setdefault(sequence, taxon)
    unique = list(dict.fromkeys(sequences))
    found: dict[str, tuple[int, str, float]] = {}
    for sequence in unique:
        if sequence in exact:
            found[sequence] = (exact[sequence], "exact", 1.0)
        elif (taxon := index.lookup(sequence)) is not None:
            found[sequence] = (taxon, "contained", 1.0)
    rest = [s for s in unique if s not in found]
    if rest and search != "none":
        with tempfile.TemporaryDirectory(prefix="embed-map-") as folder:
            hits = SEARCHES[search](rest, vocab, identity, min_overlap, threads, Path(folder))
        for row in hits.itertuples(index=False):
            found[rest[row.query]] = (int(row.target), search, float(row.identity))
    log.info("mapped %d of %d distinct sequences (%d exact or contained, %d by %s)", len(found), len(unique),
             len(unique) - len(rest), len(found) - (len(unique) - len(rest)), search)
    rows = [(fid, seq, *found.get(seq, (-1, "unmapped", float("nan")))) for fid, seq in zip(feature_ids, sequences)]
    return pd.DataFrame(rows, columns=MAPPING_COLUMNS)
