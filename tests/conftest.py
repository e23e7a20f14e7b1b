"""Shared fixtures: repository paths and small coordinate-list helpers."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def coordinate_rows(samples: list[dict[int, int]], width: int) -> np.ndarray:
    """Build an (n, width, 2) float64 array from {vocab id: count} dicts, ascending id order."""
    out = np.zeros((len(samples), width, 2), dtype=np.float64)
    for i, sample in enumerate(samples):
        for j, (taxon, count) in enumerate(sorted(sample.items())):
            out[i, j] = (taxon, count)
    return out


requires_r = pytest.mark.skipif(shutil.which("Rscript") is None, reason="R (Rscript) is not installed")
requires_blast = pytest.mark.skipif(
    shutil.which("blastn") is None or shutil.which("makeblastdb") is None,
    reason="BLAST+ (blastn, makeblastdb) is not installed (Debian package ncbi-blast+)")
requires_rdp_gold = pytest.mark.skipif(
    not Path("/usr/share/microbiomeutil-data/RESOURCES/rRNA16S.gold.fasta").is_file(),
    reason="the RDP gold 16S set is not installed (Debian package microbiomeutil-data)")
requires_vsearch = pytest.mark.skipif(shutil.which("vsearch") is None,
                                      reason="vsearch is not installed (Debian package vsearch)")
