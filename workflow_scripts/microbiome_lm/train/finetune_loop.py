"""Training several finetuning models in lockstep: one batched step for all of them.

Each model ("member": a seed of protocols A/B or an ensemble member of C) keeps its own
random streams, derived from its seed: head initialisation, class-balanced sampler draws,
training token dropout and evaluation token dropout. Its batches are therefore the ones it
would see alone, and the step is exactly its own (a sum of per-member losses over disjoint
parameters gives each member its own gradient; SGD acts per parameter). The encoder dropout
of HF's modules draws from torch's process-wide stream, so with dropout > 0 a member trained
together is statistically, not bitwise, the one trained alone; with dropout 0 the two agree
to float rounding (tests/test_finetune_cli.py::test_together_equals_alone). ``members_per_pass``
cuts a step into several forward/backward passes to bound memory, with the same update.

Sampling (reference 4, ``create_weighted_sampler``): each row weighs N / count(its class) and
``len(train)`` rows are drawn with replacement per epoch (torch's ``WeightedRandomSampler``
with the member's generator); batches are consecutive draws, the last one may be short.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler
from tqdm import tqdm

from ..model.classifier import MemberStack, drop_tokens, probability_of_class1
from .batching import Padding, derive_seed
from .finetune_data import RunSpec, Scored

# Random streams of a member, derived from (member seed, stream).
STREAMS = {"init": 1, "sampler": 2, "train_dropout": 3, "eval_dropout": 4}
LOSSES = ("mse", "ce", "ce_on_probabilities")


@dataclass
class Member:
    """A run with its random generators."""

    spec: RunSpec
    seed: int
    sampler: torch.Generator
    dropout: torch.Generator

    @classmethod
    def create(cls, spec: RunSpec, seed: int) -> "Member":
        return cls(spec, seed, torch.Generator().manual_seed(derive_seed(seed, STREAMS["sampler"])),
                   torch.Generator().manual_seed(derive_seed(seed, STREAMS["train_dropout"])))


def loss_fn(name: str, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """mse = MSE on p(class 1) (published); ce = cross-entropy on logits; ce_on_probabilities =
    the published ``--ce``, cross-entropy applied to softmax probabilities (reference 13 #15)."""
    if name == "mse":
        return torch.nn.functional.mse_loss(probability_of_class1(logits), labels.float())
    if name == "ce":
        return torch.nn.functional.cross_entropy(logits.float(), labels)
    if name == "ce_on_probabilities":
        return torch.nn.functional.cross_entropy(torch.softmax(logits.float(), dim=-1), labels)
    raise ValueError(f"loss must be one of {LOSSES}, got {name!r}")


def epoch_order(rows: np.ndarray, labels: np.ndarray, balanced: bool, generator: torch.Generator) -> np.ndarray:
    """Training rows of one epoch: class-balanced draws with replacement, or a permutation."""
    if balanced:
        classes, counts = np.unique(labels[rows], return_counts=True)
        per_class = dict(zip(classes.tolist(), (rows.size / counts).tolist()))
        weights = torch.tensor([per_class[int(c)] for c in labels[rows]], dtype=torch.double)
        draws = list(WeightedRandomSampler(weights, rows.size, replacement=True, generator=generator))
        return rows[np.asarray(draws, dtype=np.int64)]
    return rows[torch.randperm(rows.size, generator=generator).numpy()]


@dataclass
class Settings:
    """The ``finetune`` config values the loop reads, plus device and padding."""

    epochs: int
    batch_size: int
    eval_batch_size: int
    loss: str
    balanced: bool
    token_dropout: float
    token_dropout_eval: bool
    device: torch.device
    padding: Padding
    progress: bool = True
    members_per_pass: int | None = None  # None: every active member in one pass


def passes(active: list[int], size: int | None) -> list[list[int]]:
    """``active`` member indices cut into consecutive passes of at most ``size`` members (none
    when no member is active, e.g. a scoring step past every member's last batch)."""
    if size is None:
        return [active] if active else []
    return [active[i:i + size] for i in range(0, len(active), size)]


class LockstepTrainer:
    """Trains a :class:`MemberStack` whose member k is ``members[k]``; collects scores and losses."""

    def __init__(self, stack: MemberStack, members: list[Member], labels: np.ndarray, settings: Settings,
                 optimizer: torch.optim.Optimizer, pad_id: int, scheduler=None):
        self.stack, self.members, self.labels, self.s = stack, members, labels, settings
        self.optimizer, self.pad_id, self.scheduler = optimizer, pad_id, scheduler
        self.score_rows: list[dict[str, np.ndarray]] = []
        self.log_rows: list[dict] = []

    def _device_batch(self, k: int, ids: torch.Tensor, width: int):
        ids = ids[:, :width].to(self.s.device)
        return k, ids, (ids != self.pad_id).long()

    def _width(self, id_blocks: list[torch.Tensor]) -> int:
        """Common width of one step's blocks: the longest sample, rounded up (or the full length)."""
        if not self.s.padding.dynamic:
            return id_blocks[0].shape[1]
        longest = max(int((ids != self.pad_id).sum(1).max()) for ids in id_blocks)
        return self.s.padding.width(longest, id_blocks[0].shape[1])

    def train_epoch(self, samples, epoch: int) -> dict[int, float]:
        """One epoch for every member; returns each member's mean training loss."""
        s = self.s
        plans = []
        for m in self.members:
            order = epoch_order(m.spec.train_rows, self.labels, s.balanced, m.sampler)
            plans.append([order[i:i + s.batch_size] for i in range(0, order.size, s.batch_size)])
        sums = [torch.zeros((), device=s.device) for _ in self.members]
        total = sum(len(m.spec.train_rows) for m in self.members)
        self.stack.train()
        with tqdm(total=total, unit="sample", desc=f"finetune epoch {epoch}", disable=not s.progress,
                  mininterval=2.0) as bar:
            for step in range(max(len(p) for p in plans)):
                active = [k for k, p in enumerate(plans) if step < len(p)]
                self.optimizer.zero_grad(set_to_none=True)
                # Members share no trainable parameter, so backward pass by pass gives each its
                # own gradient, the same as one pass; one optimiser step then updates them all.
                for chunk in passes(active, s.members_per_pass):
                    ids = [drop_tokens(samples.ids[torch.from_numpy(plans[k][step])], self.pad_id,
                                       s.token_dropout, self.members[k].dropout) for k in chunk]
                    width = self._width(ids)
                    logits = self.stack([self._device_batch(k, block, width) for k, block in zip(chunk, ids)])
                    losses = []
                    for k, out in zip(chunk, logits):
                        target = torch.from_numpy(self.labels[plans[k][step]]).to(s.device)
                        losses.append(loss_fn(s.loss, out, target))
                        sums[k] = sums[k] + losses[-1].detach() * len(target)
                    torch.stack(losses).sum().backward()
                self.optimizer.step()
                if self.scheduler is not None:
                    self.scheduler.step()
                bar.update(sum(len(plans[k][step]) for k in active))
        return {k: float(total_loss) / len(m.spec.train_rows) for k, (m, total_loss)
                in enumerate(zip(self.members, sums))}

    @torch.no_grad()
    def score(self, epoch: int) -> None:
        """Every member scores its ``scored`` sets; appends tidy rows (run, epoch, split, row, label, score)."""
        s = self.s
        self.stack.eval()
        n_sets = len(self.members[0].spec.scored)
        for index in range(n_sets):
            sets: list[Scored] = [m.spec.scored[index] for m in self.members]
            plans = [np.array_split(x.rows, max(1, -(-x.rows.size // s.eval_batch_size))) for x in sets]
            generators = [torch.Generator().manual_seed(derive_seed(m.seed, STREAMS["eval_dropout"], epoch, index))
                          for m in self.members]
            outputs: list[list[torch.Tensor]] = [[] for _ in self.members]
            for step in range(max(len(p) for p in plans)):
                active = [k for k, p in enumerate(plans) if step < len(p) and p[step].size]
                for chunk in passes(active, s.members_per_pass):
                    ids = [sets[k].samples.ids[torch.from_numpy(plans[k][step])] for k in chunk]
                    if s.token_dropout_eval:
                        ids = [drop_tokens(block, self.pad_id, s.token_dropout, generators[k])
                               for k, block in zip(chunk, ids)]
                    width = self._width(ids)
                    logits = self.stack([self._device_batch(k, block, width) for k, block in zip(chunk, ids)])
                    for k, out in zip(chunk, logits):
                        outputs[k].append(probability_of_class1(out).cpu())
            for k, m in enumerate(self.members):
                rows = sets[k].rows
                self.score_rows.append({
                    "run": np.full(rows.size, m.spec.name, dtype=object), "epoch": np.full(rows.size, epoch),
                    "split": np.full(rows.size, sets[k].split, dtype=object), "row": rows,
                    "label": sets[k].labels[rows],
                    "score": torch.cat(outputs[k]).numpy() if outputs[k] else np.zeros(0)})

    def run(self, samples) -> None:
        """All epochs: train, then score; one train_log row per member and epoch."""
        for epoch in range(self.s.epochs):
            started = time.monotonic()
            losses = self.train_epoch(samples, epoch)
            self.score(epoch)
            seconds = time.monotonic() - started
            for k, m in enumerate(self.members):
                self.log_rows.append({"run": m.spec.name, "epoch": epoch, "train_loss": losses[k],
                                      "seconds": seconds})
