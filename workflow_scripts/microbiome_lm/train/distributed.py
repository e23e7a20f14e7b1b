"""Data-parallel pretraining under ``torchrun``: one process per GPU, or CPU ranks with gloo.

``torchrun --nproc-per-node N -m microbiome_lm pretrain-generator ...`` starts N copies of the
command. Each builds every global batch (corruption is seeded per batch, so all agree), keeps
its slice of the rows (``batching.Shard``) and divides its loss by the whole batch's target
count. An optimiser pre-step hook then sums the gradients over the ranks, which gives every
rank the single-process gradient of the global batch and so the same update: the ranks stay
identical without broadcasting weights. Rank 0 alone evaluates and writes checkpoints,
metrics and resume points; the others wait at barriers. Without torchrun (no WORLD_SIZE, or
1) everything here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..core.errors import ConfigError
from .batching import Shard


@dataclass(frozen=True)
class World:
    """This process's place among the ranks of one training job."""

    rank: int = 0
    size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> Shard:
        return Shard(self.rank, self.size)

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on at least one (e.g. a SIGTERM seen by one rank)."""
        if self.size == 1:
            return flag
        value = torch.tensor([float(flag)], device=_collective_device())
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def sum(self, value: float) -> float:
        """``value`` summed over the ranks (e.g. the shards' parts of a batch loss)."""
        if self.size == 1:
            return value
        total = torch.tensor([value], dtype=torch.float64, device=_collective_device())
        dist.all_reduce(total)
        return float(total.item())

    def gather(self, obj: object) -> list:
        """Every rank's ``obj``, in rank order, on every rank (e.g. each rank's random state)."""
        if self.size == 1:
            return [obj]
        out = [None] * self.size
        dist.all_gather_object(out, obj)
        return out

    def close(self) -> None:
        if self.size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _collective_device() -> torch.device:
    """nccl reduces CUDA tensors only; gloo CPU ones."""
    return torch.device("cuda") if dist.get_backend() == "nccl" else torch.device("cpu")


def init_world(device: torch.device, batch_size: int) -> World:
    """Join the process group torchrun describes in the environment (nccl on CUDA, else gloo).

    On CUDA each rank takes the GPU of its LOCAL_RANK, so ``torch.device("cuda")`` means that GPU.
    """
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return World()
    if batch_size < size:
        raise ConfigError("configuration", f"batch size {batch_size} is smaller than the {size} DDP ranks "
                                           "(config key cluster.pretrain_gpus)")
    if device.type == "cuda":
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size())


def sum_gradients_before_step(optimizer: torch.optim.Optimizer, world: World) -> None:
    """Register a pre-step hook that sums every parameter's gradient over the ranks.

    A parameter without a gradient on some ranks (e.g. a shard with no selected position)
    contributes zeros there; one left without a gradient on every rank stays without one,
    as in a single process (SGD then skips it).
    """
    if world.size == 1:
        return
    params = [p for group in optimizer.param_groups for p in group["params"]]

    def hook(opt, args, kwargs):
        device = params[0].device
        has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=device)
        dist.all_reduce(has, op=dist.ReduceOp.MAX)
        live = [p for p, h in zip(params, has.tolist()) if h]
        if not live:
            return
        flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in live])
        dist.all_reduce(flat)
        offset = 0
        for p in live:
            n = p.numel()
            p.grad = flat[offset:offset + n].view_as(p).clone()
            offset += n

    optimizer.register_step_pre_hook(hook)
