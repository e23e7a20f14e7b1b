"""Feature-ablation speed: every single-taxon deletion batched into shared forward passes vs one pass each.

    python benchmarks/ablation_speed.py                      # paper dimensions, a few samples, CPU
    python benchmarks/ablation_speed.py --device cuda --samples 64
    python benchmarks/ablation_speed.py --toy                # toy dimensions (config/toy.yaml)

Both paths compute the same numbers (``tests/test_interpret_attribution.py`` checks it): the
base score of each sample and its score with each encoded taxon deleted, for an ensemble
of ``--members`` randomly initialised classifiers. "loop" is one forward pass per sample
and per taxon (what a Captum ``FeatureAblation`` with one feature per taxon and
``perturbations_per_eval=1`` does); "batched" is ``interpret.attribution.ablation_scores``
with ``--batch-rows`` sequences per pass. Samples are synthetic, AGP-shaped (heavy-tailed
taxon counts, ``--taxa`` taxa on average). Prints a table of rows scored per second.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from transformers import ElectraConfig, ElectraForSequenceClassification

from microbiome_lm.core.tokens import build_token_table
from microbiome_lm.interpret.attribution import ablation_scores, ablation_scores_loop
from microbiome_lm.interpret.ensemble import Ensemble
from microbiome_lm.model.electra import EmbeddedElectra
from microbiome_lm.model.encoding import EncodedSamples, encode_samples

PAPER = {"n_vocab": 26726, "dim": 100, "hidden": 200, "layers": 5, "heads": 5, "ffn": 400, "max_taxa": 512}
TOY = {"n_vocab": 300, "dim": 16, "hidden": 32, "layers": 2, "heads": 2, "ffn": 64, "max_taxa": 64}


def synthetic(n: int, mean_taxa: int, dims: dict, rng: np.random.Generator) -> np.ndarray:
    sizes = np.clip(rng.lognormal(np.log(mean_taxa), 0.5, n).astype(int), 1, min(dims["n_vocab"], 800))
    array = np.zeros((n, int(sizes.max()), 2))
    for i, k in enumerate(sizes):
        array[i, :k, 0] = rng.choice(dims["n_vocab"], k, replace=False)
        array[i, :k, 1] = rng.integers(1, 1000, k)
    return array


def ensemble(dims: dict, members: int, device: str) -> Ensemble:
    table = build_token_table(np.random.default_rng(0).normal(size=(dims["n_vocab"], dims["dim"])), cls_init="zeros")
    config = ElectraConfig(vocab_size=table.size, embedding_size=dims["dim"], hidden_size=dims["hidden"],
                           num_hidden_layers=dims["layers"], num_attention_heads=dims["heads"],
                           intermediate_size=dims["ffn"], max_position_embeddings=dims["max_taxa"] + 1, num_labels=2,
                           attn_implementation="sdpa")
    return Ensemble([EmbeddedElectra(ElectraForSequenceClassification(config), table).to(device).eval()
                     for _ in range(members)])


def timed(fn) -> tuple[float, tuple]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy", action="store_true", help="toy dimensions instead of the paper's")
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--taxa", type=int, default=None, help="mean taxa per sample (default: paper 150, toy 30)")
    parser.add_argument("--members", type=int, default=2)
    parser.add_argument("--batch-rows", type=int, default=None, help="default 256 on CPU, 2048 on CUDA")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    dims = TOY if args.toy else PAPER
    batch_rows = args.batch_rows or (2048 if args.device == "cuda" else 256)
    ens = ensemble(dims, args.members, args.device)
    array = synthetic(args.samples, args.taxa or (30 if args.toy else 150), dims, np.random.default_rng(1))
    encoded: EncodedSamples = encode_samples(array, ens.table, dims["max_taxa"])
    rows = int(encoded.lengths.sum())
    with torch.inference_mode():
        t_batch, (base, ablated) = timed(lambda: ablation_scores(ens.probability, encoded, "delete", ens.pad_id,
                                                                 ens.mask_id, batch_rows, args.device))
        t_loop, (base_l, ablated_l) = timed(lambda: ablation_scores_loop(ens.probability, encoded, "delete",
                                                                         ens.pad_id, ens.mask_id, args.device))
    diff = max(np.abs(base - base_l).max(), max(np.abs(a - b).max(initial=0) for a, b in zip(ablated, ablated_l)))
    print(f"dims={'toy' if args.toy else 'paper'} device={args.device} threads={args.threads} samples={args.samples} "
          f"rows={rows} (sequences incl. each sample itself) members={args.members} batch_rows={batch_rows}")
    print(f"{'path':<10}{'seconds':>10}{'rows/s':>12}{'speed-up':>10}")
    print(f"{'loop':<10}{t_loop:>10.2f}{rows / t_loop:>12.1f}{1.0:>10.1f}")
    print(f"{'batched':<10}{t_batch:>10.2f}{rows / t_batch:>12.1f}{t_loop / t_batch:>10.1f}")
    print(f"largest |difference| between the two: {diff:.2e}")


if __name__ == "__main__":
    main()
