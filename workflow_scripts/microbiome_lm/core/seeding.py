"""One place that seeds every random number generator a stage touches."""

from __future__ import annotations

import random

import numpy as np


def seed_everything(seed: int) -> None:
    """Seed python, numpy and (if installed) torch.

    PYTHONHASHSEED is deliberately not touched: it only acts at interpreter start, and setting
    it here would leak a possibly invalid value into every child process.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency, but keep core importable
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
