"""The per-epoch metrics table (tidy TSV: one row per epoch)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..core.atomic import atomic_path


def write_metrics(path: str | Path, rows: list[dict]) -> None:
    """Write the rows atomically; columns in first-seen order."""
    with atomic_path(path, suffix=".tsv") as tmp:
        pd.DataFrame(rows).to_csv(tmp, sep="\t", index=False, float_format="%.6g")
