"""The optimiser of a training stage from its config section (``optimizer``, ``lr``, ...).

The published runs used SGD with momentum 0.9 everywhere (reference 5, 6, 8.2); the
finetuning code also had ``--adam`` (AdamW with a constant schedule after a linear warmup).
Both are config choices here, so the paper config reproduces SGD and a small model trained
from scratch (the toy) can use AdamW.
"""

from __future__ import annotations

from typing import Iterable

import torch

OPTIMIZERS = ("sgd", "adamw")


def make_optimizer(params: Iterable[torch.nn.Parameter], stage: dict) -> torch.optim.Optimizer:
    """SGD(lr, momentum, weight_decay) or AdamW(lr, weight_decay), per ``stage['optimizer']``."""
    name = stage.get("optimizer", "sgd")
    params = list(params)
    if name == "sgd":
        return torch.optim.SGD(params, lr=stage["lr"], momentum=stage["momentum"],
                               weight_decay=stage.get("weight_decay", 0.0))
    if name == "adamw":
        return torch.optim.AdamW(params, lr=stage["lr"], weight_decay=stage.get("weight_decay", 0.0))
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}")


def warmup_schedule(optimizer: torch.optim.Optimizer, warmup_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warmup over ``warmup_steps`` optimiser steps, then the constant rate
    (transformers' ``get_constant_schedule_with_warmup``, as the published ``--adam``)."""
    from transformers import get_constant_schedule_with_warmup

    return get_constant_schedule_with_warmup(optimizer, num_warmup_steps=warmup_steps)
