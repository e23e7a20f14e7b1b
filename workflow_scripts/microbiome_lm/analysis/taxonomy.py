"""``microbiome-lm taxonomy``: DADA2 taxonomy of the vocabulary, one row per taxon id.

The paper ran ``assignTaxonomy`` (dada2, SILVA nr v132, ``set.seed(100)``) on
``seqs_.07_embed.fasta`` (reference 10, ``assign_16S_to_phyla.R``). Here R runs as a
subprocess (``Rscript workflow_scripts/R/assign_taxonomy.R``) rather than in-process
through rpy2: the R script also runs by hand, R's own multithreading (RcppParallel) and
memory stay out of the Python process, a crash in R cannot take Python down, and no
R/rpy2 ABI pairing is needed (rpy2 3.6 fails on Debian's R 4.2, platform notes). Python
checks the inputs first and writes the final table atomically, so a failing R run leaves
no output.

Output (``TAXONOMY_TABLE``): tab-separated, columns ``taxon`` (0-based vocabulary id, i.e.
the number in ``>embed<n>`` minus 1, the id used in every coordinate-list array),
``sequence``, the ranks ``Kingdom..Genus`` and ``boot_<rank>`` (bootstrap confidence, 0-100);
``NA`` where DADA2 gave no assignment at ``min_boot``.
"""

from __future__ import annotations

import argparse
import gzip
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from ..config import REPO_ROOT, add_config_arguments, config_from_args
from ..core.atomic import atomic_path
from ..core.errors import InputError
from ..data.fasta import read_vocabulary_fasta

log = logging.getLogger(__name__)

RANKS = ("Kingdom", "Phylum", "Class", "Order", "Family", "Genus")
COLUMNS = ("taxon", "sequence", *RANKS, *(f"boot_{rank}" for rank in RANKS))
R_SCRIPT = REPO_ROOT / "workflow_scripts" / "R" / "assign_taxonomy.R"
R_MISSING_PACKAGE = 3  # exit status of assign_taxonomy.R when optparse or dada2 is absent
INSTALL_HINT = ("install R and DADA2: Debian `apt-get install --no-install-recommends r-base-core "
                "r-bioc-dada2 r-cran-optparse`, or conda with envs/r.yaml")


def rscript() -> str:
    """Path of Rscript, or a clear error naming what to install."""
    path = shutil.which("Rscript")
    if path is None:
        raise InputError("Rscript", f"not found on PATH; {INSTALL_HINT}")
    return path


def check_reference(path: str | Path) -> Path:
    """A DADA2 training fasta must exist and start with a '>' header (gzipped or not)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "taxonomy reference not found")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(path, f"cannot read the taxonomy reference: {err}") from err
    if not first.startswith(">") or ";" not in first:
        raise InputError(path, "not a DADA2 training fasta (headers like '>Kingdom;Phylum;...;Genus;')")
    return path


def run_dada2(fasta: Path, reference: Path, out: Path, *, min_boot: int, seed: int, threads: int,
              try_rc: bool, script: Path = R_SCRIPT) -> None:
    """Run the R script; its stderr goes to ours (the rule's log)."""
    command = [rscript(), "--vanilla", str(script), "--seqs", str(fasta), "--reference", str(reference),
               "--out", str(out), "--min-boot", str(min_boot), "--seed", str(seed), "--threads", str(threads)]
    if try_rc:
        command.append("--try-rc")
    log.info("running %s", " ".join(command))
    status = subprocess.run(command, check=False).returncode
    if status == R_MISSING_PACKAGE:
        raise InputError(script, f"a required R package is missing (see the message above); {INSTALL_HINT}")
    if status != 0:
        raise InputError(script, f"Rscript failed with exit status {status} (see the R messages above)")


def taxonomy_table(sequences: list[str], r_output: Path) -> pd.DataFrame:
    """Join the R output (one row per fasta record, in order) to the vocabulary ids."""
    table = pd.read_csv(r_output, sep="\t", dtype=str, keep_default_na=False, na_values=["NA"])
    expected = [f"embed{i + 1}" for i in range(len(sequences))]
    if table.get("record") is None or table["record"].tolist() != expected:
        raise InputError(r_output, "R output rows do not match the vocabulary fasta record by record")
    table.insert(0, "taxon", range(len(sequences)))
    table.insert(1, "sequence", sequences)
    for rank in RANKS:
        table[f"boot_{rank}"] = pd.to_numeric(table[f"boot_{rank}"]).astype("Int64")
    return table[list(COLUMNS)]


def rank_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per rank: taxa assigned and the median bootstrap confidence of all taxa (the report's table)."""
    rows = [(rank, len(table), int(table[rank].notna().sum()), float(table[rank].notna().mean()),
             float(table[f"boot_{rank}"].median())) for rank in RANKS]
    return pd.DataFrame(rows, columns=["rank", "n_taxa", "n_assigned", "fraction_assigned", "median_boot"])


def assign_taxonomy(fasta: str | Path, reference: str | Path, out: str | Path, *, min_boot: int, seed: int,
                    threads: int, try_rc: bool = False) -> pd.DataFrame:
    """Classify the vocabulary fasta with DADA2 and write the taxon x rank table atomically."""
    sequences = read_vocabulary_fasta(fasta)
    reference = check_reference(reference)
    with tempfile.TemporaryDirectory() as tmp:
        r_output = Path(tmp) / "dada2.tsv"
        run_dada2(Path(fasta), reference, r_output, min_boot=min_boot, seed=seed, threads=threads,
                  try_rc=try_rc)
        table = taxonomy_table(sequences, r_output)
    with atomic_path(out) as tmp_out:
        table.to_csv(tmp_out, sep="\t", index=False, na_rep="NA")
    assigned = table["Phylum"].notna().mean()
    log.info("wrote %s: %d taxa, phylum assigned for %.1f %%", out, len(table), 100 * assigned)
    return table


def _main(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    settings = config["taxonomy"]
    table = assign_taxonomy(args.fasta, args.reference, args.out, min_boot=settings["min_boot"],
                            seed=settings["seed"], threads=args.threads or config["threads"],
                            try_rc=settings["try_rc"])
    if args.summary:
        with atomic_path(args.summary) as tmp:
            rank_summary(table).to_csv(tmp, sep="\t", index=False)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("taxonomy", help="DADA2 assignTaxonomy of the vocabulary fasta (in R)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fasta", required=True, help="vocabulary fasta (seqs_.07_embed.fasta, >embed1..>embedN)")
    p.add_argument("--reference", required=True, help="DADA2 training fasta (SILVA, converted RDP gold, ...)")
    p.add_argument("--out", required=True, help="taxonomy table to write (TSV)")
    p.add_argument("--summary", default=None, help="per-rank summary to write (TSV, optional)")
    p.add_argument("--threads", type=int, default=None, help="R threads (default: config key threads)")
    add_config_arguments(p)
    p.set_defaults(func=_main)
