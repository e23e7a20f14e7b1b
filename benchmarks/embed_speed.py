"""Speed of the embed stage at the paper's sizes: mapping onto the vocabulary, then embedding.

    python benchmarks/embed_speed.py                        # CPU, about a minute
    python benchmarks/embed_speed.py --device cuda --samples 2000

Mapping: a synthetic vocabulary of ``--vocab`` 150-nt sequences (26,726 in the paper: real toy
16S fragments, each copied with random substitutions so the sequences are distinct but
16S-like) and ``--queries`` user ASVs, a quarter each identical, 3'-trimmed, one mismatch and
novel (5 mismatches). Rows: exact + contained lookup alone, and the whole mapping with vsearch.
Embedding: the paper's discriminator dimensions (hidden 200, 5 layers, 5 heads, 513 positions,
random weights) on ``--samples`` synthetic samples of 50-400 taxa, batch 64, through
:class:`SampleEmbedder` with a 10-member ensemble, as ``microbiome-lm embed`` runs it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy import sparse
from transformers import ElectraForSequenceClassification

from microbiome_lm.config import REPO_ROOT
from microbiome_lm.core.tokens import build_token_table
from microbiome_lm.data.fasta import read_fasta
from microbiome_lm.embed.embedder import SampleEmbedder, coordinate_rows
from microbiome_lm.embed.mapping import ContainmentIndex, map_to_vocabulary
from microbiome_lm.model.electra import EmbeddedElectra, build_model, electra_config

MODEL = {"hidden_size": 200, "num_hidden_layers": 5, "num_attention_heads": 5, "intermediate_size": 400,
         "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "attn_implementation": "sdpa",
         "initializer_range": 0.02}


def mutate(rng, sequence: str, n: int) -> str:
    chars = list(sequence)
    for p in rng.choice(len(chars), n, replace=False):
        chars[p] = "ACGT"[("ACGT".index(chars[p]) + int(rng.integers(1, 4))) % 4]
    return "".join(chars)


def synthetic_vocab(rng, size: int) -> list[str]:
    base = [s for _, s in read_fasta(REPO_ROOT / "resources" / "toy_16s" / "toy_16s.fasta")]
    vocab = dict.fromkeys(base)
    while len(vocab) < size:
        vocab[mutate(rng, base[int(rng.integers(len(base)))], int(rng.integers(3, 12)))] = None
    return list(vocab)[:size]


def queries(rng, vocab: list[str], n: int) -> list[str]:
    out = []
    for i in range(n):
        source = vocab[int(rng.integers(len(vocab)))]
        kind = i % 4
        out.append([source, source[:-int(rng.integers(3, 12))], mutate(rng, source, 1), mutate(rng, source, 5)][kind])
    return out


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab", type=int, default=26726)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    vocab = synthetic_vocab(rng, args.vocab)
    asvs = queries(rng, vocab, args.queries)
    rows = []
    seconds, _ = timed(lambda: ContainmentIndex(vocab, 100))
    rows.append(("containment index build", f"{args.vocab} vocab seqs", seconds, args.vocab / seconds, "seqs/s"))
    index = ContainmentIndex(vocab, 100)
    seconds, _ = timed(lambda: [index.lookup(q) for q in asvs])
    rows.append(("exact + contained lookup", f"{args.queries} ASVs", seconds, args.queries / seconds, "ASVs/s"))
    seconds, mapped = timed(lambda: map_to_vocabulary([str(i) for i in range(len(asvs))], asvs, vocab,
                                                      search="vsearch", threads=args.threads))
    share = (mapped["vocab_id"] >= 0).mean()
    rows.append((f"whole mapping, vsearch ({share:.0%} mapped)", f"{args.queries} ASVs", seconds,
                 args.queries / seconds, "ASVs/s"))

    device = torch.device(args.device)
    table = build_token_table(rng.normal(size=(args.vocab, 100)), cls_init="mean")
    config = electra_config(MODEL, "discriminator", table, 512)
    encoder = build_model("discriminator", config, table, train_embeddings=False).to(device).eval()
    config.num_labels = 2
    ensemble = [EmbeddedElectra(ElectraForSequenceClassification(config), table).to(device).eval() for _ in range(10)]
    counts = sparse.lil_matrix((args.samples, args.vocab), dtype=np.int64)
    for i in range(args.samples):
        taxa = rng.choice(args.vocab, int(rng.integers(50, 400)), replace=False)
        counts[i, taxa] = np.maximum(1, rng.lognormal(3, 1.5, taxa.size).astype(np.int64))
    counts = counts.tocsr()
    for name, members in (("embed (encoder only)", []), ("embed + 10-member p(IBD)", ensemble)):
        embedder = SampleEmbedder(encoder, members, table, 512, device)

        def run(embedder=embedder):
            for start in range(0, args.samples, 64):
                embedder.embed(coordinate_rows(counts[start:start + 64]))

        seconds, _ = timed(run)
        rows.append((name, f"{args.samples} samples, batch 64", seconds, args.samples / seconds, "samples/s"))

    print(f"| step | size | seconds | throughput | unit |  (device {args.device}, {args.threads} threads)")
    print("|---|---|---|---|---|")
    for step, size, seconds, rate, unit in rows:
        print(f"| {step} | {size} | {seconds:.2f} | {rate:,.3g} | {unit} |")


if __name__ == "__main__":
    main()
