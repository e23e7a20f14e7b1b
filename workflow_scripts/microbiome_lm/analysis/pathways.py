"""Embedding dimension x KEGG pathway correlations with a max-|r| permutation null (reference 3 step 7).

The semantics of ``metabolic_pathway_correlations.R``: each embedding dimension ("property") is
z-scored across taxa and correlated (Pearson) with each pathway column; pathways absent from
every taxon or present in every taxon are dropped; the rows of the pathway table are shuffled
``n_permutations`` times and the largest |r| of each shuffle forms the null; a correlation is
significant when its |r| exceeds the (1 - alpha) quantile of that null (alpha = 0 is the
original "above the largest null value"). Outputs: every r, the null, the significant set
(``property_pathway_dict_allsig``), the best pathway per property (``property_pathway_dict``)
and the top ``top_n`` per property (``top20Paths_per_property``).

Two engines compute the same thing: ``r`` runs ``workflow_scripts/R/pathway_correlations.R``
(the workflow's engine, as the original is R) and ``numpy`` is the same procedure here. Both
take the permutations drawn once here with ``numpy.random.default_rng(seed)``, so their
outputs agree exactly, and both compute each permutation as a matrix product.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import REPO_ROOT, add_config_arguments, config_from_args
from ..core.atomic import atomic_dir
from ..core.errors import InputError
from .pathway_inputs import EMBEDDING_KINDS, Aligned, align, load_embeddings, read_pathway_table

log = logging.getLogger(__name__)

R_SCRIPT = REPO_ROOT / "workflow_scripts" / "R" / "pathway_correlations.R"
BATCH_BYTES = 128 * 2**20  # memory for one batch of permuted pathway tables
TABLES = ("correlations.tsv", "null_max_abs_r.tsv", "significant.tsv", "best_per_property.tsv",
          "top_per_property.tsv")


@dataclass(frozen=True)
class Correlations:
    """r of every (property, kept pathway), the permutation null and the significance threshold."""

    r: np.ndarray  # (n_dims, n_kept) float64
    pathway_ids: list[str]  # kept pathways, table order
    dropped: list[str]  # constant pathways
    null_max: np.ndarray  # (n_permutations,) max |r| of each permutation
    threshold: float


def permutation_indices(n_taxa: int, n_permutations: int, seed: int) -> np.ndarray:
    """(n_permutations, n_taxa) 0-based row orders: the shuffles both engines apply to the pathway table."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.permutation(n_taxa) for _ in range(n_permutations)]).astype(np.int32)


def _zscore(matrix: np.ndarray) -> np.ndarray:
    return (matrix - matrix.mean(axis=0)) / matrix.std(axis=0, ddof=1)


def correlate(embeddings: np.ndarray, pathways: np.ndarray, pathway_ids: list[str],
              permutations: np.ndarray, alpha: float) -> Correlations:
    """The whole procedure in numpy (the R script mirrors it line by line)."""
    constant = pathways.min(axis=0) == pathways.max(axis=0)
    n = embeddings.shape[0]
    z = _zscore(embeddings)
    p = _zscore(pathways[:, ~constant])
    r = z.T @ p / (n - 1)
    batch = max(1, BATCH_BYTES // (p.nbytes or 1))
    null = np.empty(len(permutations))
    for start in range(0, len(permutations), batch):
        shuffled = p[permutations[start: start + batch]]  # (b, n, k): rows of the table shuffled
        null[start: start + batch] = np.abs(np.matmul(z.T, shuffled)).max(axis=(1, 2)) / (n - 1)
    threshold = float(np.quantile(null, 1.0 - alpha))  # linear interpolation = R's quantile type 7
    kept = [pid for pid, c in zip(pathway_ids, constant) if not c]
    dropped = [pid for pid, c in zip(pathway_ids, constant) if c]
    return Correlations(r=r, pathway_ids=kept, dropped=dropped, null_max=null, threshold=threshold)


def result_tables(result: Correlations, top_n: int) -> dict[str, pd.DataFrame]:
    """The five output tables (the R script writes the same columns and row orders)."""
    n_dims, n_kept = result.r.shape
    long = pd.DataFrame({
        "property": np.repeat(np.arange(n_dims), n_kept),
        "path_id": np.tile(result.pathway_ids, n_dims),
        "corr_val": result.r.ravel(),
    })
    long["significant"] = (long["corr_val"].abs() > result.threshold).astype(int)
    ranked = long.assign(abs_r=long["corr_val"].abs()).sort_values(
        ["property", "abs_r"], ascending=[True, False], kind="stable")
    ranked["rank"] = ranked.groupby("property").cumcount() + 1
    columns = ["property", "path_id", "corr_val"]
    return {
        "correlations.tsv": long[columns],
        "null_max_abs_r.tsv": pd.DataFrame({"permutation": np.arange(1, len(result.null_max) + 1),
                                            "max_abs_r": result.null_max}),
        "significant.tsv": ranked.loc[ranked["significant"] == 1, columns],
        "best_per_property.tsv": ranked.loc[ranked["rank"] == 1, columns + ["significant"]],
        "top_per_property.tsv": ranked.loc[ranked["rank"] <= top_n, ["property", "rank", "path_id", "corr_val",
                                                                       "significant"]],
    }


def _write_r_inputs(folder: Path, data: Aligned, permutations: np.ndarray, alpha: float, top_n: int) -> Path:
    """Binary little-endian matrices (row-major) and a JSON header: exact doubles, fast to read in R."""
    data.embeddings.astype("<f8").tofile(folder / "embeddings.f64")
    data.pathways.astype("<f8").tofile(folder / "pathways.f64")
    permutations.astype("<i4").tofile(folder / "permutations.i32")
    header = {"n_taxa": int(data.embeddings.shape[0]), "n_dims": int(data.embeddings.shape[1]),
              "pathway_ids": data.pathway_ids, "n_permutations": int(len(permutations)),
              "alpha": alpha, "top_n": top_n}
    path = folder / "inputs.json"
    path.write_text(json.dumps(header))
    return path


def run_r(data: Aligned, permutations: np.ndarray, alpha: float, top_n: int, out_dir: Path) -> dict:
    """Run the R script on ``data``: it writes the tables into ``out_dir``; return its threshold, kept and dropped."""
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise InputError(R_SCRIPT, "Rscript is not on PATH (install r-base-core, or use --engine numpy)")
    with tempfile.TemporaryDirectory(prefix="pathways_r_") as tmp:
        header = _write_r_inputs(Path(tmp), data, permutations, alpha, top_n)
        run = subprocess.run([rscript, "--vanilla", str(R_SCRIPT), "--inputs", str(header), "--out-dir",
                              str(out_dir)], capture_output=True, text=True)
    if run.stdout:
        log.info("R: %s", run.stdout.strip())
    if run.returncode != 0:
        raise InputError(R_SCRIPT, f"R failed (exit {run.returncode}): {run.stderr.strip()[-2000:]}")
    missing = [name for name in (*TABLES, "r_summary.json") if not (out_dir / name).is_file()]
    if missing:
        raise InputError(R_SCRIPT, f"R exited 0 but wrote no {', '.join(missing)}")
    summary = json.loads((out_dir / "r_summary.json").read_text())
    (out_dir / "r_summary.json").unlink()
    return {"threshold": float(summary["threshold"]), "n_kept": int(summary["n_kept"]),
            "dropped": list(summary["dropped"])}


def run_pathway_correlations(embeddings: str | Path, kind: str, pathway_table: str | Path, out_dir: str | Path,
                             settings: dict, engine: str, vocab_fasta: str | Path | None = None) -> dict:
    """Load, align, run one engine and write every table atomically into ``out_dir``; return the summary."""
    taxa, matrix = load_embeddings(embeddings, kind)
    table = read_pathway_table(pathway_table, vocab_fasta)
    data = align(taxa, matrix, table, embeddings, pathway_table)
    permutations = permutation_indices(len(data.taxa), settings["n_permutations"], settings["seed"])
    with atomic_dir(out_dir) as tmp:
        if engine == "r":
            r_summary = run_r(data, permutations, settings["alpha"], settings["top_n"], tmp)
            threshold, n_kept, dropped = r_summary["threshold"], r_summary["n_kept"], r_summary["dropped"]
        elif engine == "numpy":
            result = correlate(data.embeddings, data.pathways, data.pathway_ids, permutations, settings["alpha"])
            for name, frame in result_tables(result, settings["top_n"]).items():
                frame.to_csv(tmp / name, sep="\t", index=False, float_format="%.17g")
            threshold, n_kept, dropped = result.threshold, len(result.pathway_ids), result.dropped
        else:
            raise InputError(None, f"unknown engine {engine!r}; expected r or numpy")
        summary = {
            "kind": kind, "engine": engine, "embeddings": str(embeddings), "pathway_table": str(pathway_table),
            "n_taxa": int(len(data.taxa)), "n_properties": int(data.embeddings.shape[1]),
            "n_pathways": len(data.pathway_ids), "n_pathways_kept": int(n_kept), "dropped_pathways": dropped,
            "n_permutations": settings["n_permutations"], "alpha": settings["alpha"], "seed": settings["seed"],
            "threshold": threshold,
            "n_significant": int(len(pd.read_csv(tmp / "significant.tsv", sep="\t"))),
        }
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    log.info("%s (%s): %d taxa, %d properties x %d pathways, threshold |r| > %.4f, %d significant",
             kind, engine, summary["n_taxa"], summary["n_properties"], n_kept, threshold, summary["n_significant"])
    return summary


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("pathway-correlations",
                              help="embedding dimension x KEGG pathway correlations with a max-|r| permutation null")
    p.add_argument("--embeddings", required=True, help=".npy embeddings of the kind given by --kind")
    p.add_argument("--kind", required=True, choices=EMBEDDING_KINDS)
    p.add_argument("--pathway-table", required=True, help="taxon x pathway 0/1 table (filtered_otu_pathway_table.txt)")
    p.add_argument("--vocab-fasta", default=None, help="vocabulary fasta, when table rows are named by sequence")
    p.add_argument("--engine", choices=("r", "numpy"), default=None, help="default: config pathways.engine")
    p.add_argument("--out-dir", required=True)
    add_config_arguments(p)
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    settings = config_from_args(args)["pathways"]
    run_pathway_correlations(args.embeddings, args.kind, args.pathway_table, args.out_dir, settings,
                             args.engine or settings["engine"], args.vocab_fasta)
    return 0
