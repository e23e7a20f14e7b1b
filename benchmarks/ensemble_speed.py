"""Finetuning K models one at a time versus together in one process (protocol C's ensemble).

    python benchmarks/ensemble_speed.py                        # CPU, paper and toy sizes
    python benchmarks/ensemble_speed.py --device cuda --steps 20
    python benchmarks/ensemble_speed.py --sizes paper --members-per-pass 1 2 5

Each model trains ``--steps`` batches of 32 with the published recipe (frozen encoder, CLS
row, embedding block, projection and head trainable, token dropout 0.1, MSE, SGD), on
synthetic samples of the model's length (AGP-like: most samples far shorter than the maximum).
"alone" trains the K models one after another (K optimiser loops, what K separate jobs do);
"together" runs them through one :class:`MemberStack` (one concatenated pass through the
shared frozen encoder per step); "together/N" does each step in passes of at most N members
(config ``finetune.members_per_pass``: the same update, bounded memory). Times cover training
steps only (no loading, no scoring): wall seconds, and the process's CPU seconds (all
threads), which a shared machine's load disturbs less; samples/s and speed-up are from wall
time. Each row runs in its own process, so "peak MB" is that row's peak resident memory (CPU)
or peak allocated GPU memory (CUDA).
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from microbiome_lm.config import validate_config
from microbiome_lm.core.tokens import build_token_table
from microbiome_lm.model.classifier import MemberStack, build_member, classifier_config
from microbiome_lm.model.electra import build_model, electra_config
from microbiome_lm.model.encoding import encode_samples
from microbiome_lm.train.batching import Padding
from microbiome_lm.train.finetune_data import RunSpec
from microbiome_lm.train.finetune_loop import LockstepTrainer, Member, Settings

SIZES = {
    "paper": dict(n_vocab=26726, dim=100, max_taxa=512, model={"hidden_size": 200, "num_hidden_layers": 5,
                                                                "num_attention_heads": 5, "intermediate_size": 400}),
    "toy": dict(n_vocab=300, dim=16, max_taxa=64, model={"hidden_size": 32, "num_hidden_layers": 2,
                                                          "num_attention_heads": 2, "intermediate_size": 64}),
}


def synthetic(n: int, n_vocab: int, max_taxa: int, rng: np.random.Generator) -> np.ndarray:
    """Coordinate rows with lognormal richness (median max_taxa / 2.5) and integer counts."""
    out = np.zeros((n, max_taxa, 2))
    for i in range(n):
        k = int(np.clip(rng.lognormal(np.log(max_taxa / 2.5), 0.6), 3, max_taxa))
        out[i, :k, 0] = np.sort(rng.choice(n_vocab, k, replace=False))
        out[i, :k, 1] = rng.integers(1, 1000, k)
    return out


def setup(size: str, device: torch.device, seed: int = 0):
    spec = SIZES[size]
    cfg = validate_config({"vocab": {"n_taxa": spec["n_vocab"], "embedding_dim": spec["dim"]},
                           "encoding": {"max_taxa": spec["max_taxa"]}, "model": spec["model"]})
    rng = np.random.default_rng(seed)
    table = build_token_table(rng.normal(size=(spec["n_vocab"], spec["dim"])), cls_init="zeros")
    torch.manual_seed(seed)
    disc = build_model("discriminator", electra_config(cfg["model"], "discriminator", table, spec["max_taxa"]),
                       table, False)
    state = disc.hf.electra.state_dict()
    config = classifier_config(disc.hf.config, cfg["model"])
    return cfg, table, state, config, rng, spec


def train(k: int, together: bool, steps: int, size: str, device: torch.device,
          per_pass: int | None = None) -> tuple[float, float]:
    """Wall and CPU seconds to train k models for ``steps`` batches each."""
    cfg, table, state, config, rng, spec = setup(size, device)
    ft = cfg["finetune"]
    n = steps * ft["batch_size"]
    samples = encode_samples(synthetic(n, spec["n_vocab"], spec["max_taxa"], rng), table, spec["max_taxa"])
    labels = rng.integers(0, 2, n)
    settings = Settings(epochs=1, batch_size=ft["batch_size"], eval_batch_size=64, loss="mse", balanced=True,
                        token_dropout=ft["token_dropout"], token_dropout_eval=False, device=device,
                        padding=Padding(), progress=False, members_per_pass=per_pass)
    cls_row = torch.zeros(table.dim)
    groups = [list(range(1, k + 1))] if together else [[m] for m in range(1, k + 1)]
    wall = cpu = 0.0
    for group in groups:
        members = [Member.create(RunSpec(f"member{m}", m, np.arange(n)), m) for m in group]
        models = [build_member(state, config, table, cls_row, m, ft["table_rows"], ft["frozen_encoder_layers"])
                  for m in group]
        stack = MemberStack(models).to(device)
        optimizer = torch.optim.SGD([p for p in stack.parameters() if p.requires_grad], lr=ft["lr"],
                                    momentum=ft["momentum"])
        trainer = LockstepTrainer(stack, members, labels, settings, optimizer, table.pad_id)
        if device.type == "cuda":
            torch.cuda.synchronize()
        started, started_cpu = time.perf_counter(), time.process_time()
        trainer.train_epoch(samples, 0)
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall += time.perf_counter() - started
        cpu += time.process_time() - started_cpu
    return wall, cpu


def measure(k: int, together: bool, steps: int, size: str, device_name: str, threads: int,
            per_pass: int | None) -> tuple[float, float, float]:
    """(wall s, CPU s, peak MB) of one row, after a one-model warm-up; run in a fresh process."""
    torch.set_num_threads(threads)
    device = torch.device(device_name)
    train(1, True, 1, size, device)  # warm-up (allocator, kernels)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    wall, cpu = train(k, together, steps, size, device, per_pass)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return wall, cpu, peak


def isolated(*task) -> tuple[float, float, float]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(measure, *task).result()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--members", type=int, nargs="+", default=[10])
    parser.add_argument("--sizes", nargs="+", default=["toy", "paper"], choices=list(SIZES))
    parser.add_argument("--steps", type=int, default=None, help="batches per model (default: 2 on CPU, 20 on CUDA)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--members-per-pass", type=int, nargs="+", default=[],
                        help="also time 'together' in passes of at most N members (finetune.members_per_pass)")
    parser.add_argument("--skip-all-at-once", action="store_true",
                        help="leave out the 'together' row with every member in one pass (e.g. it does not fit)")
    args = parser.parse_args()
    device = torch.device(args.device)
    steps = args.steps or (20 if device.type == "cuda" else 2)
    print(f"device {device}, {steps} batches of 32 per model, torch {torch.__version__}")
    print(f"{'size':<6} {'K':>3} {'mode':<12} {'wall s':>8} {'CPU s':>8} {'samples/s':>10} {'speed-up':>9} "
          f"{'peak MB':>9}")
    for size in args.sizes:
        for k in args.members:
            n = k * steps * 32
            rows = [("alone", False, None)]
            rows += [] if args.skip_all_at_once else [("together", True, None)]
            rows += [(f"together/{p}", True, p) for p in args.members_per_pass]
            alone_wall = None
            for mode, together, per_pass in rows:
                wall, cpu, peak = isolated(k, together, steps, size, args.device, args.threads, per_pass)
                alone_wall = alone_wall or wall
                speedup = f"{alone_wall / wall:.2f}x" if together else ""
                print(f"{size:<6} {k:>3} {mode:<12} {wall:>8.2f} {cpu:>8.2f} {n / wall:>10.1f} {speedup:>9} "
                      f"{peak:>9,.0f}", flush=True)


if __name__ == "__main__":
    main()
