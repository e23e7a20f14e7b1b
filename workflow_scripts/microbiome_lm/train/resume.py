"""Resume points: everything a stopped run needs to end with the same weights as an unstopped one.

A resume point holds model and optimiser states, every random state (torch CPU and CUDA,
python, numpy) of every DDP rank (their dropout draws part ways), the position in the data order (epoch, batches done), the running epoch
sums and the metric rows so far. It is written atomically, so a kill during the write
leaves the previous one intact.

The store lives in ``<out_dir>/resume/``, next to (never inside) the checkpoint folders
that Snakemake declares as outputs: Snakemake deletes the outputs of a failed job, so the
completed checkpoints are kept in the store too and published again on resume. A store
written for other settings or inputs (another fingerprint) is discarded.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import signal
from pathlib import Path

import numpy as np
import torch

from ..core.atomic import atomic_dir, atomic_path

log = logging.getLogger(__name__)

STATE_FILE = "state.pt"
# Exit status of a run stopped by a signal after saving its resume point (128 + SIGTERM).
STOPPED_EXIT_CODE = 143


class StopRequested(Exception):
    """Raised by the training loop once the resume point of a stopped run is safely written."""


class StopSignal:
    """Turn SIGTERM (what SLURM sends at a time limit) and SIGINT into a flag checked between steps."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.requested = False
        self._previous = {}

    def _handle(self, signum, frame):
        log.warning("received %s: stopping after the current step", signal.Signals(signum).name)
        self.requested = True

    def __enter__(self) -> "StopSignal":
        for sig in self.SIGNALS:
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def capture_rng() -> dict:
    """Every random state the training loop touches, as tensors and plain values."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def rng_for_rank(saved: dict | list, rank: int, size: int) -> dict:
    """This rank's random state from a resume point's per-rank list (or the one state of a
    single-process point). Resumed on another number of ranks, rank r takes saved r mod n:
    the run goes on with the same batches, only its dropout draws differ from an unstopped run."""
    if isinstance(saved, dict):
        saved = [saved]
    if len(saved) != size:
        log.warning("resume point written by %d rank(s), resumed on %d: dropout draws will differ from an "
                    "uninterrupted run", len(saved), size)
    return saved[rank % len(saved)]


class ResumeStore:
    """The resume folder of one stage: ``state.pt`` plus completed checkpoints."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    @property
    def state_path(self) -> Path:
        return self.directory / STATE_FILE

    def load(self, fingerprint: str) -> dict | None:
        """The saved state if it belongs to this run (same fingerprint), else None (store cleared)."""
        if not self.state_path.is_file():
            return None
        state = torch.load(self.state_path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") != fingerprint:
            log.warning("%s was written for other settings or inputs: starting from scratch", self.state_path)
            self.clear()
            return None
        return state

    def save(self, state: dict) -> None:
        with atomic_path(self.state_path) as tmp:
            torch.save(state, tmp)

    def checkpoint(self, name: str) -> Path:
        return self.directory / "checkpoints" / name

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def publish(source: Path, target: Path) -> None:
    """Place a stored checkpoint at its output path (hard links, or copies across file systems)."""
    with atomic_dir(target) as tmp:
        for item in source.iterdir():
            try:
                os.link(item, tmp / item.name)
            except OSError:
                shutil.copy2(item, tmp / item.name)
