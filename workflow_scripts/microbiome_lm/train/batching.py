"""Batches for pretraining: fixed order, per-batch seeded corruption, exact dynamic padding.

* Order: as published, consecutive rows without shuffling and with ``drop_last``
  (reference 5, 6); ``shuffle`` draws a permutation seeded by (seed, stream, epoch).
* Corruption: each batch has its own seed derived from (seed, stream, epoch, batch index),
  drawn on the full-length ids before any padding decision. A batch's masks therefore do
  not depend on the speed switches, on data-loader workers, or on where a resumed run
  started.
* Padding: the original padded every batch to 513. Sequences are CLS + taxa + PAD tail, PAD
  is never attended and positions are absolute, so cutting the tail changes no
  real-token output. ``groups > 1`` additionally splits a batch, sorted by length, into
  sub-batches padded to their own length; the step sums their losses before one optimiser
  update, which is the same batch loss as one padded tensor.
* Data parallel (``Shard``): every rank corrupts the whole batch, keeps its slice of the
  rows and the whole batch's target counts, so the losses it sums are its part of the
  single-process batch loss (train/distributed.py sums the gradients).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..core.tokens import TokenTable
from ..model.encoding import EncodedSamples
from ..model.masking import MaskingProbs, mask_tokens

# Independent random streams derived from the master seed.
STREAMS = {"generator": 1, "discriminator": 2, "eval": 3}


def derive_seed(*keys: int) -> int:
    """A 63-bit seed from integer keys (numpy SeedSequence: well mixed, platform independent)."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class Padding:
    """Dynamic padding to the longest sequence of each group, rounded up to ``multiple``.

    ``groups`` is a fixed number of equal-count groups, or None (auto): the split of the
    length-sorted batch that minimises padded positions plus ``group_cost`` per group, the
    fixed cost of one more forward/backward call counted in sequence positions (high for
    small models, where one group is best; ~30 for the paper's model on a CPU).
    """

    dynamic: bool = True
    groups: int | None = 1
    multiple: int = 8
    group_cost: int = 32

    def width(self, length: int, seq_len: int) -> int:
        return min(seq_len, self.multiple * math.ceil(length / self.multiple))

    def group_sizes(self, lengths: list[int], seq_len: int) -> list[int]:
        """Sizes of consecutive groups of ``lengths`` (sorted longest first)."""
        n = len(lengths)
        if self.groups is not None:
            return [len(c) for c in np.array_split(np.arange(n), max(1, min(self.groups, n)))]
        best, start = [0.0] + [math.inf] * n, [0] * (n + 1)
        for end in range(1, n + 1):  # best[end]: cheapest split of the first `end` rows
            for first in range(end):
                cost = best[first] + (end - first) * self.width(lengths[first], seq_len) + self.group_cost
                if cost < best[end]:
                    best[end], start[end] = cost, first
        sizes, end = [], n
        while end:
            sizes.append(end - start[end])
            end = start[end]
        return sizes[::-1]


def padding_for(setting: int | str, dynamic: bool, device: torch.device, hidden_size: int,
                amp: torch.dtype | None = None) -> Padding:
    """The ``pretrain.speed`` padding: ``length_groups: auto`` never splits on CUDA (kernel
    launches cost more than the padding they save); on a CPU the cost of a group is
    ~1.2e6 / hidden_size**2 positions (per-call overhead over per-position work, measured
    with benchmarks/pretrain_throughput.py: ~30 for the paper's width, over 1,000 for toy ones),
    three times that under bf16 autocast, whose products are cheaper per position while each
    call still pays its casts and kernel set-up (paper width: ~25 vs ~21 samples/s for the
    discriminator step at 30)."""
    if setting != "auto":
        return Padding(dynamic=dynamic, groups=int(setting))
    if device.type == "cuda":
        return Padding(dynamic=dynamic, groups=1)
    cost = max(16, 1_200_000 // hidden_size**2) * (3 if amp is not None else 1)
    return Padding(dynamic=dynamic, groups=None, group_cost=cost)


@dataclass
class Group:
    """One padded tensor block of a batch."""

    ids: torch.Tensor  # original ids (targets)
    inputs: torch.Tensor  # corrupted ids
    selected: torch.Tensor  # bool, corrupted (target) positions
    attention_mask: torch.Tensor  # long, 1 on CLS and taxa

    def to(self, device: torch.device) -> "Group":
        nb = device.type == "cuda"
        return Group(*(t.to(device, non_blocking=nb) for t in (self.ids, self.inputs, self.selected,
                                                               self.attention_mask)))

    def pin_memory(self) -> "Group":
        return Group(*(t.pin_memory() for t in (self.ids, self.inputs, self.selected, self.attention_mask)))


@dataclass
class Batch:
    groups: list[Group]
    size: int  # samples of the whole batch (all ranks together)
    seed: int  # the batch's own seed (corruption; sampled replacements derive from it)
    n_selected: int  # corrupted (target) positions of the whole batch: the generator's loss divisor
    n_attended: int  # attended positions of the whole batch: the discriminator's loss divisor

    def pin_memory(self) -> "Batch":
        return Batch([g.pin_memory() for g in self.groups], self.size, self.seed, self.n_selected,
                     self.n_attended)


@dataclass(frozen=True)
class Shard:
    """This process's part of every batch under data parallelism: rank ``rank`` of ``size``."""

    rank: int = 0
    size: int = 1

    def rows(self, n: int) -> slice:
        """Contiguous, near-equal slices (ranks beyond ``n`` get none)."""
        bounds = np.linspace(0, n, self.size + 1).round().astype(int)
        return slice(int(bounds[self.rank]), int(bounds[self.rank + 1]))


def epoch_batches(n: int, batch_size: int, shuffle: bool, drop_last: bool, seed: int, stream: int,
                  epoch: int) -> list[np.ndarray]:
    """Row indices of every batch of one epoch."""
    order = np.random.default_rng([seed, stream, epoch]).permutation(n) if shuffle else np.arange(n)
    n_batches = n // batch_size if drop_last else math.ceil(n / batch_size)
    return [order[i * batch_size:(i + 1) * batch_size] for i in range(n_batches)]


def make_batch(data: EncodedSamples, rows: np.ndarray, table: TokenTable, probs: MaskingProbs, seed: int,
               padding: Padding, shard: Shard = Shard()) -> Batch:
    """Corrupt the rows' sequences with the batch seed, keep the shard's rows, cut them into padded groups."""
    index = torch.from_numpy(np.asarray(rows, dtype=np.int64))
    ids = data.ids[index]
    masked = mask_tokens(ids, table, probs, torch.Generator().manual_seed(seed))
    attention = (ids != table.pad_id).long()
    totals = dict(size=len(rows), seed=seed, n_selected=int(masked.selected.sum()), n_attended=int(attention.sum()))
    part = shard.rows(len(rows))
    index, ids, attention = index[part], ids[part], attention[part]
    inputs, selected = masked.inputs[part], masked.selected[part]
    if len(index) == 0:  # a last batch smaller than the number of ranks
        return Batch([], **totals)
    if not padding.dynamic:
        return Batch([Group(ids, inputs, selected, attention)], **totals)
    lengths = data.lengths[index]
    order = torch.argsort(lengths, descending=True, stable=True)
    groups = []
    for chunk in torch.split(order, padding.group_sizes(lengths[order].tolist(), data.seq_len)):
        width = padding.width(int(lengths[chunk[0]]), data.seq_len)
        groups.append(Group(ids[chunk, :width], inputs[chunk, :width], selected[chunk, :width],
                            attention[chunk, :width]))
    return Batch(groups, **totals)


class EpochBatches(Dataset):
    """The batches of one epoch, by index, so a data loader (and a resumed run) can start anywhere."""

    def __init__(self, data: EncodedSamples, table: TokenTable, probs: MaskingProbs, padding: Padding,
                 plan: list[np.ndarray], seed: int, stream: int, epoch: int, shard: Shard = Shard()):
        self.data, self.table, self.probs, self.padding, self.plan = data, table, probs, padding, plan
        self.seed, self.stream, self.epoch, self.shard = seed, stream, epoch, shard

    def __len__(self) -> int:
        return len(self.plan)

    def __getitem__(self, i: int) -> Batch:
        seed = derive_seed(self.seed, self.stream, self.epoch, i)
        return make_batch(self.data, self.plan[i], self.table, self.probs, seed, self.padding, self.shard)


def batch_loader(batches: EpochBatches, start: int, num_workers: int, pin_memory: bool) -> DataLoader:
    """Iterate batches ``start..end``. The loader gets its own generator: creating it must not
    consume torch's global random state, which drives dropout and must resume exactly."""
    return DataLoader(batches, batch_size=None, sampler=range(start, len(batches)), num_workers=num_workers,
                      pin_memory=pin_memory, generator=torch.Generator().manual_seed(0),
                      collate_fn=_as_is)


def _as_is(batch: Batch) -> Batch:
    return batch
