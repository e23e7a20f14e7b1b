"""``avg-embeddings``: averaged contextual embeddings per taxon and their statistics (reference 10).

For every occurrence of a taxon among the encoded AGP samples (top ``encoding.max_taxa`` by
abundance), the model's last hidden state at its position is one contextual embedding.
The output array ``(n_vocab, hidden, 2)`` float32 holds ``[..., 0]`` their mean and
``[..., 1]`` the mean of their squares (the paper's ``epoch_120_IBD_avg_vocab_embeddings``;
variance = ``[..., 1] - [..., 0] ** 2``). Taxa never seen have **NaN rows** (not zeros, which
would look like an embedding).

Which model (config ``interpret.contextual.model``): ``ensemble`` = the members' hidden states
averaged per occurrence (the paper used the ensemble); ``pretrained`` = the pretrained
discriminator, with its pretraining CLS (mean).

The statistics table (the paper's ``embeddings_statistics`` list, reconstructed per taxon)
has: ``count`` (occurrences), ``positive_fraction`` (share of them in IBD samples),
``abundance_variance`` (variance of the relative abundance over them), ``taxon_dim_variance``
(variance of its contextual embedding, averaged over dimensions) and ``cls_dim_variance``
(variance of the CLS hidden state over the samples holding it, averaged over dimensions).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from ..config import add_config_arguments, config_from_args
from ..core.atomic import atomic_path
from ..core.errors import InputError
from ..core.seeding import seed_everything
from ..model.checkpoint import load_checkpoint
from ..model.encoding import EncodedSamples, attention_mask
from ..train.device import resolve_device
from .attribution import write_table
from .ensemble import check_fits, load_cohort, load_ensemble

log = logging.getLogger(__name__)

HiddenFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class Accumulator:
    """Per-taxon sums over occurrences: hidden state, its square, the sample's CLS state and its square."""

    def __init__(self, n_vocab: int, hidden: int):
        self.n_vocab = n_vocab
        self.count = torch.zeros(n_vocab, dtype=torch.float64)
        self.positives = torch.zeros(n_vocab, dtype=torch.float64)
        self.sums = {k: torch.zeros(n_vocab, hidden, dtype=torch.float64) for k in ("x", "x2", "cls", "cls2")}

    def add(self, ids: torch.Tensor, states: torch.Tensor, labels: torch.Tensor) -> None:
        """Add a batch: ids ``(B, L)`` (CLS first), states ``(B, L, H)``, labels ``(B,)``."""
        taxa = ids < self.n_vocab
        taxon = ids[taxa]
        x = states[taxa].double()
        cls = states[:, 0].double().unsqueeze(1).expand_as(states)[taxa]
        for key, value in (("x", x), ("x2", x * x), ("cls", cls), ("cls2", cls * cls)):
            self.sums[key].index_add_(0, taxon, value)
        self.count.index_add_(0, taxon, torch.ones_like(taxon, dtype=torch.float64))
        self.positives.index_add_(0, taxon, labels.double().unsqueeze(1).expand(ids.shape)[taxa])

    def means(self) -> dict[str, np.ndarray]:
        """Means over occurrences (NaN for taxa never seen)."""
        n = self.count.numpy()[:, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            return {k: np.where(n > 0, v.numpy() / n, np.nan) for k, v in self.sums.items()}


def accumulate(hidden: HiddenFn, encoded: EncodedSamples, labels: np.ndarray, n_vocab: int, pad_id: int,
               batch_size: int, device: torch.device | str = "cpu", progress: bool = False) -> Accumulator:
    """Run the model over the samples (longest first, each batch cut to its longest sample)."""
    order = np.argsort(-encoded.lengths.numpy(), kind="stable")
    acc = None
    for start in tqdm(range(0, len(order), batch_size), disable=not progress, desc="contextual", unit="batch"):
        rows = torch.from_numpy(order[start:start + batch_size])
        width = int(encoded.lengths[rows].max())
        ids = encoded.ids[rows, :width]
        states = hidden(ids.to(device), attention_mask(ids, pad_id).to(device)).float().cpu()
        if acc is None:
            acc = Accumulator(n_vocab, states.shape[-1])
        acc.add(ids, states, torch.from_numpy(labels[rows.numpy()]))
    if acc is None:
        raise ValueError("no samples to average over")
    return acc


def abundance_variance(array: np.ndarray, max_taxa: int, n_vocab: int) -> np.ndarray:
    """Variance of each taxon's relative abundance over its encoded occurrences (NaN if unseen)."""
    ids, counts = array[..., 0].astype(np.int64), array[..., 1]
    order = np.lexsort((ids, -counts), axis=1)[:, :max_taxa]  # the encoding's rank order
    ids, kept = np.take_along_axis(ids, order, 1), np.take_along_axis(counts, order, 1)
    totals = counts.sum(axis=1, keepdims=True)
    present = kept > 0
    rel = np.divide(kept, totals, out=np.zeros_like(kept), where=totals > 0)[present]
    taxon = ids[present]
    n = np.bincount(taxon, minlength=n_vocab).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(taxon, rel, n_vocab) / n
        return np.bincount(taxon, rel * rel, n_vocab) / n - mean**2


def summarise(acc: Accumulator, abundance_var: np.ndarray) -> tuple[np.ndarray, pd.DataFrame]:
    """The ``(n_vocab, hidden, 2)`` float32 array and the per-taxon statistics table."""
    m = acc.means()
    average = np.stack([m["x"], m["x2"]], axis=-1).astype(np.float32)
    count = acc.count.numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        stats = pd.DataFrame({
            "taxon": np.arange(acc.n_vocab),
            "count": count.astype(np.int64),
            "positive_fraction": acc.positives.numpy() / count,
            "abundance_variance": abundance_var,
            "taxon_dim_variance": (m["x2"] - m["x"] ** 2).mean(axis=1),
            "cls_dim_variance": (m["cls2"] - m["cls"] ** 2).mean(axis=1),
        })
    return average, stats


def _model(args: argparse.Namespace, cfg: dict, device: torch.device):
    """The hidden-state function, its pad id and its position count, for the configured model."""
    if cfg["interpret"]["contextual"]["model"] == "ensemble":
        if not args.members:
            raise InputError("--members", "interpret.contextual.model is 'ensemble' but no members were given")
        ens = load_ensemble(args.members, args.vocab_embeddings, cfg["model"]["mask_init"], device)
        return ens.hidden_states, ens.table, ens.max_positions
    if not args.pretrained:
        raise InputError("--pretrained", "interpret.contextual.model is 'pretrained' but no checkpoint was given")
    ckpt = load_checkpoint(args.pretrained, vocab_embeddings=args.vocab_embeddings,
                           mask_init=cfg["model"]["mask_init"], cls_init=cfg["model"]["cls_init_pretrain"],
                           device=device)
    return torch.no_grad()(ckpt.model.encode), ckpt.table, ckpt.model.hf.config.max_position_embeddings


def _run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    torch.set_num_threads(cfg["threads"])
    seed_everything(cfg["seed"])
    device = resolve_device(args.device or cfg["device"])
    hidden, table, positions = _model(args, cfg, device)
    max_taxa = cfg["encoding"]["max_taxa"]
    cohort = load_cohort("agp", args.samples, args.labels, table, max_taxa)
    check_fits(cohort.encoded, positions, args.samples)
    acc = accumulate(hidden, cohort.encoded, cohort.labels, table.n_vocab, table.pad_id,
                     cfg["interpret"]["contextual"]["batch_size"], device, progress=not args.no_progress)
    average, stats = summarise(acc, abundance_variance(cohort.array, max_taxa, table.n_vocab))
    log.info("%d of %d taxa seen in %d samples", int((stats["count"] > 0).sum()), table.n_vocab, len(cohort.labels))
    with atomic_path(args.out, suffix=".npy") as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, average)
    write_table(stats, args.stats)
    return 0


def register(subparsers) -> None:
    help_text = "averaged contextual embeddings per taxon (mean, mean of squares) and their statistics (reference 10)"
    p = subparsers.add_parser("avg-embeddings", help=help_text, description=help_text)
    add_config_arguments(p)
    p.add_argument("--members", nargs="+", default=[], help="ensemble member folders (model: ensemble)")
    p.add_argument("--pretrained", default=None, help="pretrained discriminator folder (model: pretrained)")
    p.add_argument("--vocab-embeddings", required=True, help="vocab_embeddings.npy (tables of published folders)")
    p.add_argument("--samples", required=True, help="AGP coordinate-list .npy (total_IBD_512.npy)")
    p.add_argument("--labels", required=True, help="its labels .npy")
    p.add_argument("--out", required=True, type=Path, help="(n_vocab, hidden, 2) float32 .npy")
    p.add_argument("--stats", required=True, type=Path, help="per-taxon statistics .tsv")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None, help="override config key 'device'")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)
