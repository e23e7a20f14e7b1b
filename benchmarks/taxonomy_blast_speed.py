"""Taxonomy (DADA2 in R) and BLAST overlap on the toy data: wall time, CPU time, and what they recover.

    python benchmarks/taxonomy_blast_speed.py            # the toy of config/toy.yaml, 2 threads
    python benchmarks/taxonomy_blast_speed.py --threads 1

Generates the toy mirror, converts Debian's RDP gold set to DADA2's format, classifies the
toy vocabulary (its true lineages are known: resources/toy_16s) and blasts the two toy cohorts
against it (planted shared/novel ASVs are known: planted_signal.json). CPU time counts child
processes (Rscript, blastn), so it stays meaningful on a loaded machine where wall time does not.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

from microbiome_lm.analysis.blast import overlap
from microbiome_lm.analysis.rdp_reference import dada2_records, write_training_fasta
from microbiome_lm.analysis.taxonomy import assign_taxonomy
from microbiome_lm.config import REPO_ROOT, load_config
from microbiome_lm.data.toy import generate_toy_mirror
from microbiome_lm.data.toy_16s import GOLD_FASTA, load_toy_16s


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(rows: list, step: str, function, *args, **kwargs):
    wall, cpu = time.perf_counter(), _cpu()
    result = function(*args, **kwargs)
    rows.append((step, time.perf_counter() - wall, _cpu() - cpu))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    config = load_config(REPO_ROOT / "config" / "toy.yaml")
    rows: list = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        timed(rows, "toy mirror (not part of these stages)", generate_toy_mirror, tmp / "mirror", config)
        fasta = tmp / "mirror" / "dryad" / "seqs_.07_embed.fasta"
        reference = tmp / "rdp.fa.gz"
        timed(rows, "rdp-reference", lambda: write_training_fasta(dada2_records(GOLD_FASTA), reference))
        settings = config["taxonomy"]
        table = timed(rows, f"taxonomy ({config['toy']['n_taxa']} taxa, {args.threads} threads)", assign_taxonomy,
                      fasta, reference, tmp / "taxonomy.tsv", min_boot=settings["min_boot"], seed=settings["seed"],
                      threads=args.threads)
        cohorts = {name: tmp / "mirror" / "cohorts" / f"{name}_asvs.fasta" for name in ("halfvarson", "hmp2")}
        blast = config["blast"]
        _, summary = timed(rows, f"blast-overlap ({args.threads} threads)", overlap, fasta, cohorts,
                           max_evalue=blast["max_evalue"], min_identity=blast["min_identity"],
                           min_query_coverage=blast["min_query_coverage"], threads=args.threads, task=blast["task"])
        planted = json.loads((tmp / "mirror" / "planted_signal.json").read_text())["cohorts"]

    truth = {f.sequence: f.lineage for f in load_toy_16s()}
    print(f"{'step':<40} {'wall s':>8} {'cpu s':>8}")
    for step, wall, cpu in rows:
        print(f"{step:<40} {wall:>8.1f} {cpu:>8.1f}")
    print()
    for level, rank in enumerate(("Kingdom", "Phylum", "Class", "Order", "Family", "Genus")):
        right = (table[rank] == [truth[s][level] for s in table["sequence"]]).mean()
        print(f"{rank:<8} assigned {100 * table[rank].notna().mean():5.1f} %   correct {100 * right:5.1f} %")
    print()
    for row in summary.itertuples():
        shared = sum(a["vocab_id"] is not None for a in planted[row.cohort]["asvs"])
        print(f"{row.cohort:<11} {row.n_matched} of {row.n_asvs} ASVs match ({100 * row.fraction:.1f} %); "
              f"planted shared ASVs: {shared}")


if __name__ == "__main__":
    main()
