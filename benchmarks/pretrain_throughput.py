"""Pretraining throughput: a faithful re-implementation of the original code path versus ours.

    python benchmarks/pretrain_throughput.py                 # CPU: a few steps, ~10 minutes
    python benchmarks/pretrain_throughput.py --device cuda   # more steps by default

"original" re-implements what the published code does per batch (reference 4-6): a
``Dataset.__getitem__`` that sorts, prepends CLS and corrupts each sample in a per-token
Python loop; the default collate to 513 positions; an external ``nn.Embedding`` feeding HF
ELECTRA with eager attention in fp32; the generator's loss from HF's LM head over all
26,729 classes at all 513 positions, plus the softmax its wrapper returned and the logged
metrics (masked top-1/3/5/10 and all-token accuracy from a full sort of every position's
scores); the discriminator stage running that generator, then argmax, then the
discriminator, and its accuracy. "ours" is the package's own path (train.batching +
train.steps, whose steps return the same metrics) with the config's speed switches.

Both run the paper's dimensions (vocab 26,726 x 100; generator 10 layers / 10 heads,
discriminator 5 / 5, hidden 200, FFN 400, 513 positions, dropout 0.1, SGD) on synthetic
samples: by default 50-400 taxa each (uniform), as the pretraining issue specifies;
``--richness agp`` draws AGP-shaped ones instead (lognormal, median 200, ~6 % above 512).
Samples/s counts every sample of the timed steps, data loading included; the one-off
encoding of the whole array is excluded from "ours" (it is done once per run). Each
measurement runs in its own process, so "peak MB" is that process's peak resident memory
(CPU) or peak allocated GPU memory (CUDA). The "data" rows time the input pipelines alone.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from transformers import ElectraConfig, ElectraForMaskedLM, ElectraForPreTraining

from microbiome_lm.core.tokens import build_token_table
from microbiome_lm.model.electra import build_model, electra_config
from microbiome_lm.model.encoding import encode_samples
from microbiome_lm.model.masking import MaskingProbs
from microbiome_lm.train.batching import EpochBatches, Padding, batch_loader, epoch_batches, padding_for
from microbiome_lm.train.device import amp_dtype, maybe_compile, maybe_fast_dropout
from microbiome_lm.train.steps import DiscriminatorTask, GeneratorTask

N_VOCAB, DIM, MAX_TAXA = 26726, 100, 512
PAPER_MODEL = {
    "hidden_size": 200, "num_hidden_layers": 5, "num_attention_heads": 5, "intermediate_size": 400,
    "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "attn_implementation": "sdpa",
    "initializer_range": 0.02,
    "generator": {"hidden_size": 200, "num_hidden_layers": 10, "num_attention_heads": 10, "intermediate_size": 400},
}


def synthetic_samples(n: int, richness: str = "uniform", seed: int = 0) -> np.ndarray:
    """Coordinate rows with 50-400 taxa (``uniform``) or AGP-shaped richness (``agp``: lognormal,
    median 200), Zipf-like taxon popularity, heavy-tailed integer counts with ties; top 512
    kept in ascending id order as in *_512.npy."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, N_VOCAB + 1) ** 0.8
    popularity /= popularity.sum()
    out = np.zeros((n, MAX_TAXA, 2))
    for i in range(n):
        if richness == "uniform":
            k = int(rng.integers(50, 401))
        else:
            k = int(np.clip(rng.lognormal(np.log(200), 0.6), 5, 1897))
        ids = rng.choice(N_VOCAB, size=k, replace=False, p=popularity)
        counts = np.floor(rng.pareto(1.2, size=k) * 3) + 1
        keep = np.lexsort((ids, -counts))[:MAX_TAXA]
        ids, counts = ids[keep], counts[keep]
        order = np.argsort(ids)
        out[i, : len(ids), 0], out[i, : len(ids), 1] = ids[order], counts[order]
    return out


# ----------------------------------------------------------------------------------------------
# The original code path (paraphrased from pretrain_{generator,discriminator}/dataset.py, the
# ElectraGenerator / ElectraDiscriminator wrappers and pretrain_hf.iteration).
# ----------------------------------------------------------------------------------------------
class OriginalDataset(Dataset):
    def __init__(self, samples: np.ndarray, vocab: np.ndarray):
        mins, maxes = np.amin(vocab, axis=0), np.amin(vocab, axis=0)  # the published bug: both amin
        mask, cls, pad = np.random.uniform(mins, maxes), np.average(vocab, axis=0), np.zeros(vocab.shape[1])
        self.embeddings = np.vstack([vocab, mask, cls, pad])
        self.mask_index, self.cls_index = len(vocab), len(vocab) + 1
        self.padding_index = self.cls_index + 1
        self.samples = samples

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        sample = self.samples[i]
        sample = sample[np.argsort(sample[:, 1])[::-1]]
        sample = np.concatenate([[[self.cls_index, 1]], sample])
        inputs, labels, freqs, locations = [], [], [], []
        for j in range(len(sample)):
            taxon, abundance = sample[j]
            token = int(taxon) if abundance > 0 else self.padding_index
            if j > 0 and token != self.padding_index and random.random() < 0.15:
                prob = random.random()
                if prob < 0.8:
                    inputs.append(self.mask_index)
                elif prob < 0.9:
                    inputs.append(random.randrange(len(self.embeddings) - 3))
                else:
                    inputs.append(token)
                locations.append(True)
            else:
                inputs.append(token)
                locations.append(False)
            labels.append(token if token != self.padding_index else -100)
            freqs.append(int(abundance))
        return {"electra_input": torch.tensor(inputs), "electra_label": torch.tensor(labels),
                "species_frequencies": torch.tensor(freqs), "mask_locations": torch.tensor(locations)}


class OriginalWrapper(nn.Module):
    def __init__(self, hf: nn.Module, table: np.ndarray, freeze: bool):
        super().__init__()
        self.embed_layer = nn.Embedding(table.shape[0], table.shape[1], padding_idx=table.shape[0] - 1)
        self.embed_layer.weight = nn.Parameter(torch.tensor(table).float(), requires_grad=not freeze)
        self.hf = hf

    def forward(self, inputs, attention_mask, labels):
        out = self.hf(attention_mask=attention_mask, inputs_embeds=self.embed_layer(inputs), labels=labels)
        if isinstance(self.hf, ElectraForMaskedLM):
            return out.loss, torch.softmax(out.logits, dim=2)
        return out.loss, torch.sigmoid(out.logits)


def original_config(layers: int, heads: int) -> ElectraConfig:
    return ElectraConfig(vocab_size=N_VOCAB + 3, embedding_size=DIM, hidden_size=200, num_hidden_layers=layers,
                         num_attention_heads=heads, intermediate_size=400, max_position_embeddings=MAX_TAXA + 1,
                         attn_implementation="eager")


def original_steps(stage: str, samples: np.ndarray, vocab: np.ndarray, device: torch.device, batch: int):
    """Yield one timed training step at a time (data loading included), the published way."""
    dataset = OriginalDataset(samples, vocab)
    generator = OriginalWrapper(ElectraForMaskedLM(original_config(10, 10)), dataset.embeddings, False).to(device)
    if stage == "discriminator":
        disc = OriginalWrapper(ElectraForPreTraining(original_config(5, 5)), dataset.embeddings, True).to(device)
        generator.eval()
        trained = disc
    else:
        trained = generator
    optimizer = torch.optim.SGD([p for p in trained.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
    for data in DataLoader(dataset, batch_size=batch, drop_last=True):
        data = {k: v.to(device) for k, v in data.items()}
        attention = (data["species_frequencies"] != 0).float()
        if stage == "generator":
            labels = data["electra_label"].masked_fill(~data["mask_locations"], -100)
            loss, scores = generator(data["electra_input"], attention, labels)
            original_generator_metrics(scores.detach(), data["electra_label"], data["mask_locations"])
        else:
            with torch.no_grad():
                labels = data["electra_label"].masked_fill(~data["mask_locations"], -100)
                _, scores = generator(data["electra_input"], attention, labels)
                g_pred = scores.argmax(dim=2)
            disc_input = torch.where(data["mask_locations"], g_pred, data["electra_input"])
            disc_label = ((data["electra_label"] != g_pred) & data["mask_locations"]).long()
            loss, probs = disc(disc_input, attention, disc_label)
            float(((probs.detach() > 0.5).long() == disc_label)[attention.bool()].float().mean())
        loss.mean().backward()
        optimizer.step()
        optimizer.zero_grad()
        yield


def original_generator_metrics(scores: torch.Tensor, labels: torch.Tensor, masked: torch.Tensor) -> list[float]:
    """The logged accuracies: a full descending sort of every position's 26,729 scores, then
    masked top-1/3/5/10 and all-token top-1."""
    order = torch.sort(scores, dim=2, descending=True).indices
    hit = order[..., :10] == labels[..., None]
    out = [float(hit[..., :k].any(dim=-1)[masked].float().mean()) for k in (1, 3, 5, 10)]
    return out + [float(hit[..., 0][labels != -100].float().mean())]


# ----------------------------------------------------------------------------------------------
# Ours: the package's data path and steps.
# ----------------------------------------------------------------------------------------------
def our_steps(stage: str, samples: np.ndarray, vocab: np.ndarray, device: torch.device, batch: int,
              padding: Padding, amp: str, compile_model: bool, fast_dropout: bool = True):
    table = build_token_table(vocab, "min", "mean")
    data = encode_samples(samples, table, MAX_TAXA)
    probs = MaskingProbs()
    amp_type = amp_dtype(amp, device)
    generator = build_model("generator", electra_config(PAPER_MODEL, "generator", table, MAX_TAXA), table, True)
    generator.to(device)
    if stage == "generator":
        maybe_compile(generator, compile_model, device)
        maybe_fast_dropout(generator, fast_dropout, device)
        optimizer = torch.optim.SGD(generator.parameters(), lr=0.01, momentum=0.9)
        task = GeneratorTask(generator, optimizer, device, amp_type, masked_only=True)
    else:
        disc = build_model("discriminator", electra_config(PAPER_MODEL, "discriminator", table, MAX_TAXA), table,
                           False).to(device)
        maybe_compile(disc, compile_model, device)
        maybe_fast_dropout(disc, fast_dropout, device)
        optimizer = torch.optim.SGD([p for p in disc.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
        task = DiscriminatorTask(disc, optimizer, device, amp_type, masked_only=True, replacement="greedy")
        task.set_generator(generator)
    plan = epoch_batches(len(data), batch, shuffle=False, drop_last=True, seed=0, stream=1, epoch=0)
    batches = EpochBatches(data, table, probs, padding, plan, seed=0, stream=1, epoch=0)
    for b in batch_loader(batches, 0, num_workers=0, pin_memory=device.type == "cuda"):
        task.train_batch(b)
        yield


def original_batches(samples: np.ndarray, vocab: np.ndarray, batch: int):
    """The original input pipeline alone: per-sample Python encoding and masking, collate to 513."""
    for _ in DataLoader(OriginalDataset(samples, vocab), batch_size=batch, drop_last=True):
        yield


def our_batches(samples: np.ndarray, vocab: np.ndarray, batch: int, padding: Padding):
    """Our input pipeline alone: vectorised masking and length-grouped padding of pre-encoded rows."""
    table = build_token_table(vocab, "min", "mean")
    data = encode_samples(samples, table, MAX_TAXA)
    plan = epoch_batches(len(data), batch, shuffle=False, drop_last=True, seed=0, stream=1, epoch=0)
    for _ in batch_loader(EpochBatches(data, table, MaskingProbs(), padding, plan, 0, 1, 0), 0, 0, False):
        yield


def measure(steps_iter, warmup: int, steps: int, batch: int, device: torch.device) -> float:
    """Samples per second over ``steps`` steps after ``warmup`` untimed ones."""
    for _ in range(warmup):
        next(steps_iter)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        next(steps_iter)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def run_one(method: str, stage: str, args: argparse.Namespace, batch: int, steps: int, warmup: int,
            amp: str = "auto") -> dict:
    """One (method, stage) measurement; meant to run in a fresh process (see ``isolated``)."""
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    random.seed(0)
    samples = synthetic_samples((steps + warmup) * batch, args.richness)
    vocab = np.random.default_rng(1).normal(size=(N_VOCAB, DIM))
    padding = padding_for(args.length_groups, True, device, PAPER_MODEL["hidden_size"], amp_dtype(amp, device))
    if stage == "data":
        run = (original_batches(samples, vocab, batch) if method == "original"
               else our_batches(samples, vocab, batch, padding))
    elif method == "original":
        run = original_steps(stage, samples, vocab, device, batch)
    else:
        run = our_steps(stage, samples, vocab, device, batch, padding, amp, args.compile, not args.torch_dropout)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rate = measure(run, warmup, steps, batch, device)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated(device) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"rate": rate, "peak_mb": peak}


def isolated(*task) -> dict:
    """``run_one`` in a fresh spawned process, so each row's peak memory is its own."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_one, *task).result()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=None,
                        help="default 32 (the paper's) on CUDA, 16 on CPU: the original generator step "
                             "with its metrics needs over 20 GB of RAM at 32")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 2 on CPU, 30 on CUDA)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps (default 1 on CPU, 5 on CUDA)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--stages", nargs="+", default=["data", "generator", "discriminator"],
                        help="data = the input pipeline alone (batches built, no model)")
    parser.add_argument("--richness", choices=["uniform", "agp"], default="uniform",
                        help="taxa per sample: uniform 50-400 (the issue's benchmark) or AGP-shaped")
    parser.add_argument("--length-groups", default="auto", help="ours: auto or an integer")
    parser.add_argument("--amp", nargs="+", default=["auto"], choices=["auto", "off", "bf16"],
                        help="ours: one row per setting (bf16 = autocast, also on a CPU with AVX512-BF16/AMX)")
    parser.add_argument("--compile", action="store_true", help="ours: torch.compile the encoders (CUDA)")
    parser.add_argument("--torch-dropout", action="store_true", help="ours: torch's dropout instead of fast_dropout")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    batch = args.batch_size or (32 if cuda else 16)
    steps = args.steps or (30 if cuda else 2)
    warmup = args.warmup if args.warmup is not None else (5 if cuda else 1)
    richness = (synthetic_samples(256, args.richness)[..., 1] > 0).sum(axis=1)
    name = torch.cuda.get_device_name(device) if cuda else f"cpu x{args.threads or torch.get_num_threads()}"
    print(f"synthetic samples ({args.richness}): taxa per sample median {np.median(richness):.0f}, "
          f"mean {richness.mean():.0f}, {(richness >= MAX_TAXA).mean():.0%} at {MAX_TAXA}; "
          f"{warmup} warm-up + {steps} timed steps\n")
    print("| method | stage | device | batch | samples/s | peak MB | speed-up |")
    print("|---|---|---|---|---|---|---|")
    for stage in args.stages:
        n_steps = max(steps, 20) if stage == "data" else steps
        base = isolated("original", stage, args, batch, n_steps, warmup)
        print(f"| original | {stage} | {name} | {batch} | {base['rate']:.2f} | {base['peak_mb']:,.0f} | 1.0x |",
              flush=True)
        for amp in args.amp if stage != "data" else ["off"]:
            ours = isolated("ours", stage, args, batch, n_steps, warmup, amp)
            label = "ours" if len(args.amp) == 1 or stage == "data" else f"ours, amp {amp}"
            print(f"| {label} | {stage} | {name} | {batch} | {ours['rate']:.2f} | {ours['peak_mb']:,.0f} | "
                  f"{ours['rate'] / base['rate']:.1f}x |", flush=True)


if __name__ == "__main__":
    main()
