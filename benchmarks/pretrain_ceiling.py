"""The compute ceiling of a pretraining step on this machine, next to the issue's 10x target.

    python benchmarks/pretrain_ceiling.py --threads 2                 # CPU, ~2 minutes
    python benchmarks/pretrain_ceiling.py --device cuda               # on a GPU

Why this exists: ``pretrain_throughput.py`` measures how fast a step runs; this script says how
fast it *could* run. It counts the floating-point work of one of our real training steps (the
package's ``train.steps`` on the same synthetic paper-shaped batches as the throughput
benchmark, data path included) with ``torch.utils.flop_counter.FlopCounterMode``: every
matrix product of the forward and backward passes, attention included (counted on SDPA's
math path, which does the same products as the fused kernels). Element-wise work (GELU,
LayerNorm, softmax, dropout, the optimiser) is not counted, so the ceiling is generous.

It then times dense fp32 matrix products (``torch.mm``) at large square shapes and at the
model's own shapes and takes the fastest as this device's peak; the same in bf16 gives the
ceiling that bf16 autocast (``pretrain.speed.amp: bf16``) could approach, where the device
multiplies bf16 natively (CUDA; CPUs with AVX512-BF16 or AMX). ``peak / FLOP per sample`` is
the most samples per second any implementation doing the same maths in fp32 could reach;
the table sets it against the 10x target (ten times the original code's rate that the
pretraining issue quotes for this machine) and against our measured rate.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from pretrain_throughput import DIM, N_VOCAB, PAPER_MODEL, our_steps, synthetic_samples
from microbiome_lm.train.batching import padding_for

# The original code's rates on this 2-core machine, as the pretraining issue quotes them.
ORIGINAL_SAMPLES_PER_S = {"generator": 0.41, "discriminator": 1.70}
HIDDEN, FFN = PAPER_MODEL["hidden_size"], PAPER_MODEL["intermediate_size"]
GEMM_SHAPES = [(2048, 2048, 2048), (4096, 4096, 4096), (7200, HIDDEN, HIDDEN), (7200, HIDDEN, FFN),
               (7200, FFN, HIDDEN), (HIDDEN, 7200, FFN), (1100, DIM, N_VOCAB)]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_rate(m: int, k: int, n: int, device: torch.device, seconds: float = 1.0,
              dtype: torch.dtype = torch.float32) -> float:
    """Sustained GFLOP/s of ``(m x k) @ (k x n)`` in ``dtype``, repeated for about ``seconds``."""
    a, b = torch.randn(m, k, device=device, dtype=dtype), torch.randn(k, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    sync(device)
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        reps += 1
        if reps % 8 == 0:
            sync(device)
    sync(device)
    return 2 * m * k * n * reps / (time.perf_counter() - start) / 1e9


def step_flops(stage: str, args: argparse.Namespace, device: torch.device) -> tuple[float, float]:
    """(FLOP per sample of one training step, measured samples/s of the same steps)."""
    batch = args.batch_size
    samples = synthetic_samples((args.steps + 2) * batch, args.richness)
    vocab = np.random.default_rng(1).normal(size=(N_VOCAB, DIM))
    padding = padding_for("auto", True, device, HIDDEN)
    steps = our_steps(stage, samples, vocab, device, batch, padding, "off", False)
    next(steps)  # warm-up
    with FlopCounterMode(display=False) as counter, sdpa_kernel(SDPBackend.MATH):
        next(steps)
    sync(device)
    start = time.perf_counter()
    for _ in range(args.steps):
        next(steps)
    sync(device)
    rate = args.steps * batch / (time.perf_counter() - start)
    return counter.get_total_flops() / batch, rate


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--batch-size", type=int, default=32, help="the paper's 32 by default")
    parser.add_argument("--steps", type=int, default=3, help="timed steps for the measured rate")
    parser.add_argument("--stages", nargs="+", default=["generator", "discriminator"],
                        choices=["generator", "discriminator"])
    parser.add_argument("--richness", choices=["uniform", "agp"], default="uniform")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()}"

    print(f"matrix-product rate on {name} (bf16: what autocast's products could reach)\n")
    print("| m x k x n | fp32 GFLOP/s | bf16 GFLOP/s |")
    print("|---|---|---|")
    rates, bf16_rates = {}, {}
    for shape in GEMM_SHAPES:
        rates[shape] = gemm_rate(*shape, device)
        bf16_rates[shape] = gemm_rate(*shape, device, dtype=torch.bfloat16)
        print(f"| {' x '.join(map(str, shape))} | {rates[shape]:.1f} | {bf16_rates[shape]:.1f} |", flush=True)
    peak, bf16_peak = max(rates.values()), max(bf16_rates.values())

    print(f"\nceiling = fp32 peak {peak:.1f} GFLOP/s / counted FLOP per sample (batch {args.batch_size}, "
          f"{args.richness} richness); bf16 ceiling = bf16 peak {bf16_peak:.1f} GFLOP/s / the same count\n")
    print("| stage | GFLOP per sample | ceiling samples/s | bf16 ceiling samples/s | 10x target samples/s "
          "| ours measured samples/s (fp32) | ours, % of ceiling |")
    print("|---|---|---|---|---|---|---|")
    for stage in args.stages:
        flops, measured = step_flops(stage, args, device)
        ceiling, bf16_ceiling = peak * 1e9 / flops, bf16_peak * 1e9 / flops
        target = 10 * ORIGINAL_SAMPLES_PER_S[stage]
        print(f"| {stage} | {flops / 1e9:.2f} | {ceiling:.1f} | {bf16_ceiling:.1f} | {target:.1f} | "
              f"{measured:.2f} | {measured / ceiling:.0%} |", flush=True)


if __name__ == "__main__":
    main()
