"""Dropout on the CPU at a fraction of the cost of torch's, with the same distribution.

Profiling the pretraining steps at the paper's shapes on a CPU (benchmarks/pretrain_throughput.py)
showed a third of the generator step in ``aten::bernoulli_``: torch draws every dropout
mask element from its Mersenne Twister at ~11 ns. Most of those elements are the attention
probabilities (batch x heads x length x length), which also force SDPA off its fused CPU
kernel (that kernel has no dropout) onto a math path with extra passes.

Here each dropout call takes one 63-bit seed from torch's global generator (so seeding,
checkpoint RNG state and resumed runs behave exactly as before) and draws its keep mask
from numpy's SFC64, 16 bits per element (:func:`keep_mask`: independent, dropped with
probability p to float precision). The kept values are scaled by 1 / (1 - p) as
``nn.Dropout`` does. Only the random stream differs from torch's, not the distribution.

* :class:`FastDropout` replaces the ``nn.Dropout`` modules of an HF model (no parameters,
  so state dicts do not change);
* :func:`attention_forward` is registered with HF's ``AttentionInterface`` as
  ``"sdpa_fast_dropout"``: without dropout (evaluation, or p = 0) it is HF's SDPA path
  unchanged; with dropout it computes softmax(QK^T * scale + mask) with the fast dropout mask
  in as few passes as the maths allows.

Off the CPU both fall back to torch's own (fast, Philox-based) dropout and SDPA kernels.
On the CPU both serve float32 and the bf16/fp16 tensors of mixed precision (``amp: bf16``,
where torch's ``bernoulli_`` cost even more than in float32).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

ATTENTION_NAME = "sdpa_fast_dropout"
FAST_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


def keep_mask(shape: tuple[int, ...], p: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A CPU tensor of ``dtype`` holding 0 (dropped, probability ``p``) and 1 (kept), elements independent.

    Each element takes a 16-bit word w: dropped when w < floor(p * 2**16); the words equal to
    that bound (one in 65,536) are dropped with the remaining fraction by one more uniform
    draw, so P(drop) = p to float precision. A float mask, not a bool one: multiplying by it
    is the cheapest pass on a CPU (masked_fill and bool-to-float promotion both cost more).
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    n = math.prod(shape)
    seed = int(torch.randint(0, 2**63 - 1, (1,), dtype=torch.int64))
    rng = np.random.Generator(np.random.SFC64(seed))
    words = rng.bit_generator.random_raw((n + 3) // 4).view(np.uint16)[:n]
    bound, fraction = divmod(p * 65536, 1.0)
    keep = words >= np.uint16(bound)
    edge = np.flatnonzero(words == np.uint16(bound))
    keep[edge] = rng.random(len(edge)) >= fraction
    if dtype == torch.float32:  # numpy's uint8 -> float32 cast is ~3.5x faster than torch's
        return torch.from_numpy(keep.view(np.uint8).astype(np.float32)).view(shape)
    return torch.from_numpy(keep.view(np.uint8)).to(dtype).view(shape)


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """``F.dropout`` with the fast CPU mask."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0 or x.dtype not in FAST_DTYPES:
        return nn.functional.dropout(x, p, training)
    return x * keep_mask(tuple(x.shape), p, x.dtype) * (1.0 / (1.0 - p))


class FastDropout(nn.Dropout):
    """``nn.Dropout`` (same ``p``, same ``inplace``-free semantics) drawing its mask with :func:`keep_mask`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)


def attention_forward(module: nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                      **kwargs) -> tuple[torch.Tensor, None]:
    """HF attention interface: SDPA unless dropout is active on a CPU tensor, then the math path.

    ``attention_mask`` is what HF's ``sdpa_mask`` builds: None or a bool ``(batch, 1, q, k)``
    tensor, True where attended.
    """
    if dropout == 0.0 or query.device.type != "cpu" or query.dtype not in FAST_DTYPES:
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    scale = query.shape[-1] ** -0.5 if scaling is None else scaling
    scores = torch.matmul(query * scale, key.transpose(-1, -2))  # scale the small tensor, not the L x L one
    if attention_mask is not None:
        if attention_mask.dtype == torch.bool:
            scores.masked_fill_(~attention_mask, torch.finfo(scores.dtype).min)
        else:
            scores.add_(attention_mask)
    probs = torch.softmax(scores, dim=-1)
    kept = probs * keep_mask(tuple(probs.shape), dropout, probs.dtype)
    out = torch.matmul(kept, value) * (1.0 / (1.0 - dropout))  # scale the small tensor, not the L x L one
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register(ATTENTION_NAME, attention_forward)
ALL_MASK_ATTENTION_FUNCTIONS.register(ATTENTION_NAME, sdpa_mask)


def install(model: nn.Module) -> int:
    """Swap every ``nn.Dropout`` of ``model`` for :class:`FastDropout` and route the attention of
    HF models whose implementation is SDPA through :func:`attention_forward`.

    Returns the number of dropout modules swapped. Eager attention (needed for attention
    maps) is left alone.
    """
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Dropout:
                setattr(parent, name, FastDropout(child.p))
                swapped += 1
    for sub in model.modules():
        config = getattr(sub, "config", None)
        if hasattr(sub, "set_attn_implementation") and getattr(config, "_attn_implementation", None) == "sdpa":
            sub.set_attn_implementation(ATTENTION_NAME)
    return swapped
