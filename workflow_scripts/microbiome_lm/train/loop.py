"""The epoch loop shared by both pretraining stages: progress, metrics, checkpoints, resume.

Per epoch: train over the epoch's batches (progress bar with samples/s), evaluate on the
held-out set, append a metrics row, write the epoch's checkpoint if it has one, save a
resume point. A SIGTERM (or SIGINT) stops the run after the current step with a resume
point; rerunning the same command continues from it. Resume points are also written every
``resume_every_s`` seconds, so a hard kill loses at most that much work.

Under DDP (``Runtime.world``, see distributed.py) every rank trains its shard of each batch;
rank 0 evaluates and writes everything, and the ranks agree on when to stop or save.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

import torch
from tqdm import tqdm

from ..core.tokens import TokenTable
from ..model.checkpoint import save_checkpoint
from ..model.encoding import EncodedSamples
from ..model.masking import MaskingProbs
from .batching import STREAMS, Batch, EpochBatches, Padding, batch_loader, epoch_batches
from .distributed import World
from .metrics import write_metrics
from .resume import ResumeStore, StopRequested, StopSignal, capture_rng, publish, restore_rng, rng_for_rank

log = logging.getLogger(__name__)

METRICS_FILE = "metrics.tsv"


class Task(Protocol):
    """A stage's step. ``train_batch`` returns sums ``[loss, *train_metrics]`` over the batch's
    targets and their number; the epoch's row divides each by the epoch's targets."""

    name: str
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    train_metrics: tuple[str, ...]

    def train_batch(self, batch: Batch) -> tuple[torch.Tensor, int]: ...

    def evaluate(self, batches: list[Batch]) -> dict[str, float]: ...


@dataclass
class Schedule:
    """What to run: epochs, batching, and which epochs leave a checkpoint (and under what name)."""

    epochs: int
    batch_size: int
    shuffle: bool
    drop_last: bool
    probs: MaskingProbs
    checkpoint_name: Callable[[int], str | None]
    epoch_info: Callable[[int], dict] = lambda epoch: {}
    before_epoch: Callable[[int], None] = lambda epoch: None


@dataclass
class Runtime:
    """How to run it: seed, padding, loader, progress and resume settings."""

    seed: int
    padding: Padding
    eval_batches: list[Batch]
    num_workers: int = 0
    pin_memory: bool = False
    resume_every_s: float = 1800.0
    progress: bool = True
    world: World = World()


def eval_batches(data: EncodedSamples, table: TokenTable, probs: MaskingProbs, padding: Padding, seed: int,
                 batch_size: int) -> list[Batch]:
    """The held-out batches, corrupted once with fixed seeds so every epoch is scored on the same masks."""
    plan = epoch_batches(len(data), batch_size, shuffle=False, drop_last=False, seed=seed, stream=STREAMS["eval"],
                         epoch=0)
    source = EpochBatches(data, table, probs, padding, plan, seed, STREAMS["eval"], 0)
    return [source[i] for i in range(len(source))]


def _state(task: Task, fingerprint: str, epoch: int, step: int, sums: dict, rows: list, done: list,
           rngs: list[dict]) -> dict:
    """The resume point; ``rngs`` holds every rank's random state, in rank order."""
    return {
        "fingerprint": fingerprint, "epoch": epoch, "step": step, "sums": dict(sums), "rows": list(rows),
        "checkpoints": list(done), "model": task.model.state_dict(), "optimizer": task.optimizer.state_dict(),
        "rng": rngs,
    }


def run_training(task: Task, train: EncodedSamples, table: TokenTable, schedule: Schedule, runtime: Runtime,
                 out_dir: str | Path, fingerprint: str, meta: dict) -> list[dict]:
    """Train ``task`` (resuming if a matching resume point exists); returns the metric rows.

    Checkpoints go to ``out_dir/<name>``, the metrics to ``out_dir/metrics.tsv``. Raises
    :class:`StopRequested` after saving a resume point when a stop signal arrived.
    """
    out_dir = Path(out_dir)
    world = runtime.world
    store = ResumeStore(out_dir / "resume")
    stream = STREAMS[task.name]
    epoch, step, rows, done = 0, 0, [], []
    sums = {"loss": 0.0, "count": 0, "samples": 0, "seconds": 0.0}
    state = store.load(fingerprint) if world.is_main else None  # rank 0 first: it discards a stale store
    world.barrier()
    if not world.is_main:
        state = store.load(fingerprint)
    if state is not None:
        task.model.load_state_dict(state["model"])
        task.optimizer.load_state_dict(state["optimizer"])
        epoch, step, rows, done, sums = state["epoch"], state["step"], state["rows"], state["checkpoints"], state["sums"]
        restore_rng(rng_for_rank(state["rng"], world.rank, world.size))
        log.info("resuming %s at epoch %d, batch %d", task.name, epoch, step)
    for name in done if world.is_main else []:
        publish(store.checkpoint(name), out_dir / name)

    def add_sums(batch_sums) -> None:
        """Fold the device-side running sums into ``sums`` (one host sync)."""
        if isinstance(batch_sums, float):
            return
        for name, value in zip(("loss", *task.train_metrics), batch_sums.tolist()):
            sums[name] = sums.get(name, 0.0) + world.sum(value)

    def save_state() -> None:
        """Called on every rank at the same point (rank 0 alone writes)."""
        rngs = world.gather(capture_rng())
        if world.is_main:
            store.save(_state(task, fingerprint, epoch, step, sums, rows, done, rngs))

    last_save = time.monotonic()
    with StopSignal() as stop:
        while epoch < schedule.epochs:
            if world.any(stop.requested):
                save_state()
                raise StopRequested(f"{task.name} stopped before epoch {epoch}; resume point {store.state_path}")
            schedule.before_epoch(epoch)
            plan = epoch_batches(len(train), schedule.batch_size, schedule.shuffle, schedule.drop_last,
                                 runtime.seed, stream, epoch)
            batches = EpochBatches(train, table, schedule.probs, runtime.padding, plan, runtime.seed, stream, epoch,
                                   world.shard)
            batch_sums = 0.0  # a device tensor once the first batch is done (no per-step sync)
            bar = tqdm(total=len(plan) * schedule.batch_size, initial=step * schedule.batch_size, unit="sample",
                       desc=f"{task.name} epoch {epoch}", disable=not (runtime.progress and world.is_main),
                       mininterval=2.0)
            started = time.monotonic()
            for batch in batch_loader(batches, step, runtime.num_workers, runtime.pin_memory):
                values, count = task.train_batch(batch)
                batch_sums = batch_sums + values
                sums["count"] += count
                sums["samples"] += batch.size
                step += 1
                bar.update(batch.size)
                due = world.is_main and time.monotonic() - last_save > runtime.resume_every_s
                if world.any(stop.requested or due):
                    stopping = world.any(stop.requested)
                    add_sums(batch_sums)
                    batch_sums = 0.0
                    sums["seconds"] += time.monotonic() - started
                    started = time.monotonic()
                    save_state()
                    last_save = time.monotonic()
                    if stopping:
                        bar.close()
                        raise StopRequested(f"{task.name} stopped in epoch {epoch} after batch {step}; "
                                            f"resume point {store.state_path}")
            bar.close()
            add_sums(batch_sums)
            sums["seconds"] += time.monotonic() - started
            row = {"epoch": epoch, **schedule.epoch_info(epoch),
                   "train_loss": sums["loss"] / max(sums["count"], 1),
                   **{m: sums.get(m, 0.0) / max(sums["count"], 1) for m in task.train_metrics},
                   **(task.evaluate(runtime.eval_batches) if world.is_main else {}),
                   "train_samples_per_s": sums["samples"] / max(sums["seconds"], 1e-9)}
            rows.append(row)
            if world.is_main:
                log.info("%s", "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                         for k, v in row.items()))
            name = schedule.checkpoint_name(epoch)
            if name is not None:
                if world.is_main:
                    save_checkpoint(store.checkpoint(name), task.model, {**meta, "epoch": epoch, "name": name,
                                                                          **schedule.epoch_info(epoch)})
                    publish(store.checkpoint(name), out_dir / name)
                done.append(name)
            epoch, step = epoch + 1, 0
            sums = {"loss": 0.0, "count": 0, "samples": 0, "seconds": 0.0}
            save_state()
            if world.is_main:
                write_metrics(store.directory / METRICS_FILE, rows)
            last_save = time.monotonic()
    if world.is_main:
        write_metrics(out_dir / METRICS_FILE, rows)
        store.clear()
    world.barrier()  # no rank exits before rank 0 has written the outputs
    return rows
