"""The per-sample scores file shared by finetuning and the baselines (``scores.tsv``).

One row per (run, epoch, split, row): ``run`` names a seed's split or an ensemble member,
``epoch`` is 0-based, ``split`` is train / val / test or the name of an external eval set,
``row`` the sample's row in the array it came from, ``label`` its 0/1 label and ``score``
p(class 1). Baseline files carry a ``method`` column too; finetuning files do not, so the
reader adds ``method = transformer``. Every later step reads scores through :func:`read_scores`,
so a truncated or mismatched file fails there with its name, not as a wrong number.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..core.atomic import atomic_path
from ..core.errors import InputError

SCORE_COLUMNS = ("method", "run", "epoch", "split", "row", "label", "score")
TRANSFORMER = "transformer"


def read_scores(path: str | Path) -> pd.DataFrame:
    """Read and check a scores file; adds ``method = transformer`` when the column is absent."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "file not found")
    table = pd.read_csv(path, sep="\t", dtype={"run": str, "split": str, "method": str})
    missing = [c for c in SCORE_COLUMNS if c != "method" and c not in table.columns]
    if missing:
        raise InputError(path, f"missing column(s) {missing}; expected {list(SCORE_COLUMNS)}")
    if table.empty:
        raise InputError(path, "no scores")
    if "method" not in table.columns:
        table.insert(0, "method", TRANSFORMER)
    table = table[list(SCORE_COLUMNS)]
    if table[["epoch", "row", "label", "score"]].isna().any().any():
        raise InputError(path, "empty cells in epoch, row, label or score")
    if not table["label"].isin((0, 1)).all():
        raise InputError(path, "labels must be 0 or 1")
    score = table["score"].to_numpy(dtype=np.float64)
    if not (np.isfinite(score) & (score >= 0) & (score <= 1)).all():
        raise InputError(path, "scores must be probabilities in [0, 1]")
    if table.duplicated(["method", "run", "epoch", "split", "row"]).any():
        raise InputError(path, "a (method, run, epoch, split, row) appears twice")
    return table.astype({"epoch": np.int64, "row": np.int64, "label": np.int64, "score": np.float64})


def write_scores(path: str | Path, table: pd.DataFrame) -> None:
    """Write a scores table atomically, columns in the shared order."""
    with atomic_path(path) as tmp:
        table[list(SCORE_COLUMNS)].to_csv(tmp, sep="\t", index=False, float_format="%.6g")
