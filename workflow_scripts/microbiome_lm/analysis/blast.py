"""``microbiome-lm blast-overlap``: how many cohort ASVs match an AGP vocabulary ASV (reference 10).

The paper's ``run_blast_with_downloads.sh`` (not public) blasted the Halfvarson and HMP2
ASVs against the AGP vocabulary and kept hits with ``awk '$5 < 1e-20 && $8 >= 99'``
(e-value below 1e-20, identity at least 99 %). Here: ``makeblastdb`` on the vocabulary
(records renamed ``taxon_<id>``: short ids, since ``-parse_seqids`` rejects long ones),
``blastn`` of each cohort's fasta (outfmt 6), the same two thresholds from config, and an
optional minimum query coverage. The paper's filter has none, so a short local alignment
(say 55 of 150 nt at 100 %) counts as a match; ``blast.min_query_coverage`` (default 0, the
paper) can require more.

Outputs: the matched pairs (best HSP per query and subject), a per-cohort summary and a bar chart.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from ..config import add_config_arguments, config_from_args
from ..core.atomic import atomic_path
from ..core.errors import InputError
from ..data.fasta import read_fasta, read_vocabulary_fasta

log = logging.getLogger(__name__)

OUTFMT = ("qseqid", "sseqid", "pident", "length", "mismatch", "gapopen", "qlen", "qcovhsp", "evalue", "bitscore")
PAIR_COLUMNS = ("cohort", "query", "taxon", "pident", "length", "qcovhsp", "evalue", "bitscore")
SUMMARY_COLUMNS = ("cohort", "n_asvs", "n_matched", "fraction")
SUBJECT_PREFIX = "taxon_"
INSTALL_HINT = ("install BLAST+: Debian `apt-get install --no-install-recommends ncbi-blast+`, "
                "or conda with envs/blast.yaml")


def blast_tool(name: str) -> str:
    """Path of a BLAST+ program, or a clear error naming what to install."""
    path = shutil.which(name)
    if path is None:
        raise InputError(name, f"not found on PATH; {INSTALL_HINT}")
    return path


def _run(command: list[str], label: str | Path) -> None:
    log.info("running %s", " ".join(command))
    done = subprocess.run(command, check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise InputError(label, f"{Path(command[0]).name} failed (exit {done.returncode}): {done.stderr.strip()}")


def make_database(vocab_fasta: str | Path, folder: Path) -> Path:
    """BLAST nucleotide database of the vocabulary, subjects named ``taxon_<0-based id>``."""
    sequences = read_vocabulary_fasta(vocab_fasta)
    renamed = folder / "vocabulary.fasta"
    renamed.write_text("".join(f">{SUBJECT_PREFIX}{i}\n{seq}\n" for i, seq in enumerate(sequences)))
    database = folder / "vocabulary"
    _run([blast_tool("makeblastdb"), "-in", str(renamed), "-dbtype", "nucl", "-parse_seqids",
          "-out", str(database)], vocab_fasta)
    return database


def blast_cohort(query: str | Path, database: Path, out: Path, *, threads: int, task: str) -> pd.DataFrame:
    """All blastn HSPs of ``query`` against ``database`` as a table with the OUTFMT columns."""
    _run([blast_tool("blastn"), "-task", task, "-query", str(query), "-db", str(database),
          "-outfmt", "6 " + " ".join(OUTFMT), "-num_threads", str(threads), "-out", str(out)], query)
    if out.stat().st_size == 0:  # no hit at all
        return pd.DataFrame({name: pd.Series(dtype=str if name.endswith("id") else float) for name in OUTFMT})
    return pd.read_csv(out, sep="\t", names=list(OUTFMT), dtype={"qseqid": str, "sseqid": str})


def matched_pairs(hits: pd.DataFrame, *, max_evalue: float, min_identity: float,
                  min_query_coverage: float) -> pd.DataFrame:
    """Hits passing the thresholds (e-value strictly below, identity and coverage at least), best HSP per pair."""
    keep = hits[(hits["evalue"] < max_evalue) & (hits["pident"] >= min_identity)
                & (hits["qcovhsp"] >= min_query_coverage)]
    keep = keep.sort_values(["qseqid", "sseqid", "bitscore"], ascending=[True, True, False])
    keep = keep.drop_duplicates(["qseqid", "sseqid"])
    taxon = keep["sseqid"].str.removeprefix(SUBJECT_PREFIX).astype(int)
    return keep.assign(query=keep["qseqid"], taxon=taxon).sort_values(["query", "bitscore", "taxon"],
                                                                       ascending=[True, False, True])


def overlap(vocab_fasta: str | Path, cohorts: dict[str, Path], *, max_evalue: float, min_identity: float,
            min_query_coverage: float, threads: int, task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(matched pairs, summary) for every cohort."""
    pairs, summary = [], []
    with tempfile.TemporaryDirectory() as tmp:
        database = make_database(vocab_fasta, Path(tmp))
        for cohort, fasta in cohorts.items():
            names = [name for name, _ in read_fasta(fasta)]
            if len(set(names)) != len(names):
                raise InputError(fasta, "duplicate record names")
            hits = blast_cohort(fasta, database, Path(tmp) / f"{cohort}.tsv", threads=threads, task=task)
            matched = matched_pairs(hits, max_evalue=max_evalue, min_identity=min_identity,
                                    min_query_coverage=min_query_coverage).assign(cohort=cohort)
            pairs.append(matched[list(PAIR_COLUMNS)])
            n_asvs, n_matched = len(names), matched["query"].nunique()
            summary.append((cohort, n_asvs, n_matched, n_matched / n_asvs))
            log.info("%s: %d of %d ASVs match the vocabulary", cohort, n_matched, n_asvs)
    return pd.concat(pairs, ignore_index=True), pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS))


def plot_summary(summary: pd.DataFrame, out: str | Path) -> None:
    """Stacked bars per cohort: ASVs matching the vocabulary and the rest, labelled with the fraction."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 3.2))
    unmatched = summary["n_asvs"] - summary["n_matched"]
    ax.bar(summary["cohort"], summary["n_matched"], color="#4477aa", label="match an AGP ASV")
    ax.bar(summary["cohort"], unmatched, bottom=summary["n_matched"], color="#cccccc", label="no match")
    for x, row in enumerate(summary.itertuples()):
        ax.text(x, row.n_asvs, f"{100 * row.fraction:.1f} %", ha="center", va="bottom")
    ax.set_ylabel("cohort ASVs")
    ax.set_ylim(0, 1.35 * summary["n_asvs"].max())
    ax.legend(frameon=False, fontsize="small", loc="upper center", ncol=2)
    fig.tight_layout()
    with atomic_path(out, suffix=Path(out).suffix) as tmp:
        fig.savefig(tmp, dpi=150)
    plt.close(fig)


def _cohort_arg(value: str) -> tuple[str, Path]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise argparse.ArgumentTypeError(f"expected NAME=FASTA, got {value!r}")
    return name, Path(path)


def _main(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    settings = config["blast"]
    cohorts = dict(args.cohort)
    if len(cohorts) != len(args.cohort):
        raise InputError("--cohort", "a cohort name is given twice")
    pairs, summary = overlap(args.vocab_fasta, cohorts, max_evalue=settings["max_evalue"],
                             min_identity=settings["min_identity"],
                             min_query_coverage=settings["min_query_coverage"],
                             threads=args.threads or config["threads"], task=settings["task"])
    for table, out in ((pairs, args.pairs), (summary, args.summary)):
        with atomic_path(out) as tmp:
            table.to_csv(tmp, sep="\t", index=False)
    plot_summary(summary, args.figure)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("blast-overlap", help="BLAST the cohorts' ASVs against the AGP vocabulary",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--vocab-fasta", required=True, help="vocabulary fasta (seqs_.07_embed.fasta)")
    p.add_argument("--cohort", type=_cohort_arg, action="append", required=True, metavar="NAME=FASTA",
                   help="a cohort's ASV fasta (repeatable)")
    p.add_argument("--pairs", required=True, help="matched-pairs table to write (TSV)")
    p.add_argument("--summary", required=True, help="per-cohort summary to write (TSV)")
    p.add_argument("--figure", required=True, help="bar chart to write (.png, .pdf, .svg)")
    p.add_argument("--threads", type=int, default=None, help="blastn threads (default: config key threads)")
    add_config_arguments(p)
    p.set_defaults(func=_main)
