"""Speed of the pathway-correlation engines (R and numpy) at toy and paper sizes; prints a table.

    .venv/bin/python benchmarks/pathway_speed.py [--permutations 20] [--engines numpy r]

Synthetic data of the stated sizes (Gaussian embeddings, Bernoulli pathways); the paper size is
26,726 taxa x 200 contextual dimensions x 150 pathways (the Piphillin table's kept pathways are
of that order). Seconds per permutation extrapolate to the paper's 1000 permutations.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

from microbiome_lm.analysis.pathway_inputs import Aligned
from microbiome_lm.analysis.pathways import correlate, permutation_indices, run_r

SIZES = {"toy": (276, 32, 58), "paper": (26726, 200, 150)}


def synthetic(n_taxa: int, dims: int, n_pathways: int) -> Aligned:
    rng = np.random.default_rng(0)
    pathways = (rng.random((n_taxa, n_pathways)) < rng.uniform(0.05, 0.5, n_pathways)).astype(np.float64)
    return Aligned(taxa=np.arange(n_taxa), embeddings=rng.normal(size=(n_taxa, dims)), pathways=pathways,
                   pathway_ids=[f"ko{i:05d}" for i in range(n_pathways)])


def _cpu() -> float:
    """CPU seconds of this process and its finished children (Rscript): shared machines inflate wall time."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def time_engine(engine: str, data: Aligned, permutations: np.ndarray) -> tuple[float, float]:
    """Wall and CPU seconds of one engine run."""
    start, cpu = time.perf_counter(), _cpu()
    if engine == "numpy":
        correlate(data.embeddings, data.pathways, data.pathway_ids, permutations, alpha=0.0)
    else:
        with tempfile.TemporaryDirectory() as out:
            run_r(data, permutations, alpha=0.0, top_n=20, out_dir=Path(out))
    return time.perf_counter() - start, _cpu() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--permutations", type=int, default=20)
    parser.add_argument("--engines", nargs="+", default=["numpy", "r"], choices=["numpy", "r"])
    args = parser.parse_args()
    print(f"{'size':6} {'taxa':>6} {'dims':>5} {'paths':>5} {'engine':6} {'perms':>5} {'wall s':>8} "
          f"{'cpu s':>8} {'cpu s/perm':>10} {'1000 perms, cpu s':>17}")
    for size, (n_taxa, dims, n_pathways) in SIZES.items():
        data = synthetic(n_taxa, dims, n_pathways)
        permutations = permutation_indices(n_taxa, args.permutations, 0)
        for engine in args.engines:
            wall, cpu = time_engine(engine, data, permutations)
            per = cpu / args.permutations
            print(f"{size:6} {n_taxa:>6} {dims:>5} {n_pathways:>5} {engine:6} {args.permutations:>5} "
                  f"{wall:>8.2f} {cpu:>8.2f} {per:>10.4f} {1000 * per:>17.1f}")


if __name__ == "__main__":
    main()
