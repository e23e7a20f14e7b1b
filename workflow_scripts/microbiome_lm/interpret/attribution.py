"""``attribute``: per-sample ensemble scores and per-taxon attributions (reference 10, 14 #8).

**Feature ablation** (the paper's method): attribution = base score - score with that taxon
ablated, so a positive value pushes the sample towards IBD. The ablation baseline is not
recoverable from the published material (reference 10), so it is a config key
(``interpret.attribution.ablation_baseline``):

* ``delete`` (default): the taxon's position is no longer attended (attention mask 0), as
  PAD slots are, so no other token sees it and the classifier reads the sample without
  it. The other taxa keep their abundance ranks (absolute positions); re-encoding the
  sample would move each rarer taxon up by one rank.
* ``pad`` / ``mask``: the token is replaced by the PAD (zero) / MASK row and still attended.

All single-taxon ablations of a sample are rows of one batch (row 0 the sample itself), and
rows of several samples share a forward pass (``batch_rows``), instead of one pass per
taxon; :func:`ablation_scores_loop` is the one-at-a-time reference
(``benchmarks/ablation_speed.py``).

**Integrated gradients** (captum ``IntegratedGradients`` on each member's input embeddings,
averaged over members, summed over the embedding dimension per taxon): the baseline
replaces every taxon's embedding by the PAD row (zeros) or the MASK row
(``ig_baseline``), keeping CLS, the attention mask and the positions, so the attributions of
a sample sum to f(sample) - f(baseline) (completeness), up to the integral's error.

Only the encoded taxa (top ``encoding.max_taxa`` by abundance) are attributed. Output: one
tidy TSV row per (cohort, sample, taxon, method) with the sample's label and base score.
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
from ..model.encoding import EncodedSamples
from ..train.device import resolve_device
from .ensemble import Cohort, Ensemble, check_fits, load_cohort, load_ensemble

log = logging.getLogger(__name__)

ABLATION_BASELINES = ("delete", "pad", "mask")
IG_BASELINES = ("pad", "mask")
METHODS = ("ablation", "integrated_gradients")
COLUMNS = ["cohort", "sample", "label", "taxon", "method", "attribution", "base_score"]

ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def ablation_variants(ids: torch.Tensor, length: int, baseline: str, pad_id: int,
                      mask_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row 0: the sample (CLS + ``length - 1`` taxa); row j: the taxon at position j ablated."""
    if baseline not in ABLATION_BASELINES:
        raise ValueError(f"ablation baseline must be one of {ABLATION_BASELINES}, got {baseline!r}")
    rows = ids[:length].repeat(length, 1)
    attention = torch.ones_like(rows)
    j = torch.arange(1, length)
    if baseline == "delete":
        attention[j, j] = 0
    else:
        rows[j, j] = pad_id if baseline == "pad" else mask_id
    return rows, attention


def _chunks(lengths: np.ndarray, budget: int) -> list[np.ndarray]:
    """Samples (longest first) grouped so that each group's rows (one per position) fit ``budget``."""
    order = np.argsort(-lengths, kind="stable")
    groups, current, rows = [], [], 0
    for i in order:
        if current and rows + lengths[i] > budget:
            groups.append(np.array(current))
            current, rows = [], 0
        current.append(i)
        rows += lengths[i]
    if current:
        groups.append(np.array(current))
    return groups


def ablation_scores(score: ScoreFn, encoded: EncodedSamples, baseline: str, pad_id: int, mask_id: int,
                    batch_rows: int = 512, device: torch.device | str = "cpu",
                    progress: bool = False) -> tuple[np.ndarray, list[np.ndarray]]:
    """Base score per sample and the score with each encoded taxon ablated, batched.

    Returns ``(base (n,), ablated)`` where ``ablated[i][j]`` is sample i's score without the
    taxon at position ``j + 1``.
    """
    lengths = encoded.lengths.numpy()
    base = np.zeros(len(encoded))
    ablated: list[np.ndarray] = [np.zeros(0)] * len(encoded)
    for group in tqdm(_chunks(lengths, batch_rows), disable=not progress, desc="ablation", unit="batch"):
        width = int(lengths[group].max())
        parts = [ablation_variants(encoded.ids[i], int(lengths[i]), baseline, pad_id, mask_id) for i in group]
        ids = torch.full((sum(int(lengths[i]) for i in group), width), pad_id, dtype=torch.long)
        attention = torch.zeros_like(ids)
        start = 0
        for rows, mask in parts:
            ids[start:start + rows.shape[0], :rows.shape[1]] = rows
            attention[start:start + rows.shape[0], :rows.shape[1]] = mask
            start += rows.shape[0]
        scores = score(ids.to(device), attention.to(device)).double().cpu().numpy()
        start = 0
        for i in group:
            n = int(lengths[i])
            base[i], ablated[i] = scores[start], scores[start + 1:start + n]
            start += n
    return base, ablated


def ablation_scores_loop(score: ScoreFn, encoded: EncodedSamples, baseline: str, pad_id: int, mask_id: int,
                         device: torch.device | str = "cpu") -> tuple[np.ndarray, list[np.ndarray]]:
    """The same numbers as :func:`ablation_scores`, one forward pass per sample and per taxon."""
    base = np.zeros(len(encoded))
    ablated = []
    for i in range(len(encoded)):
        n = int(encoded.lengths[i])
        rows, attention = ablation_variants(encoded.ids[i], n, baseline, pad_id, mask_id)
        values = [float(score(rows[j:j + 1].to(device), attention[j:j + 1].to(device))[0]) for j in range(n)]
        base[i], ablated_i = values[0], np.array(values[1:])
        ablated.append(ablated_i)
    return base, ablated


def integrated_gradients(ensemble: Ensemble, encoded: EncodedSamples, baseline: str = "pad", n_steps: int = 50,
                         batch_samples: int = 16, internal_batch_size: int | None = None,
                         device: torch.device | str = "cpu",
                         progress: bool = False) -> tuple[list[np.ndarray], np.ndarray]:
    """Per-taxon integrated gradients (positions 1..length-1) and each sample's completeness error.

    The error is sum(attributions) - (f(x) - f(baseline)), averaged over members as the
    attributions are.
    """
    from captum.attr import IntegratedGradients

    if baseline not in IG_BASELINES:
        raise ValueError(f"integrated-gradients baseline must be one of {IG_BASELINES}, got {baseline!r}")
    lengths = encoded.lengths.numpy()
    out: list[np.ndarray] = [np.zeros(0)] * len(encoded)
    delta = np.zeros(len(encoded))
    groups = _chunks(lengths, batch_samples * int(lengths.max(initial=1)))
    for group in tqdm(groups, disable=not progress, desc="integrated gradients", unit="batch"):
        width = int(lengths[group].max())
        ids = encoded.ids[torch.from_numpy(group), :width].to(device)
        attention = (ids != ensemble.pad_id).long()
        taxa = attention.bool()
        taxa[:, 0] = False
        total = torch.zeros(ids.shape, dtype=torch.float64)
        errors = torch.zeros(len(group), dtype=torch.float64)
        for member in ensemble.members:
            ig = IntegratedGradients(lambda emb, mask, m=member: Ensemble.member_probability(m, emb, mask))
            inputs = member.embed(ids).detach()
            row = member.embed.weight[ensemble.pad_id if baseline == "pad" else ensemble.mask_id].detach()
            baselines = torch.where(taxa.unsqueeze(-1), row.expand_as(inputs), inputs)
            attr, err = ig.attribute(inputs, baselines=baselines, additional_forward_args=(attention,),
                                     n_steps=n_steps, internal_batch_size=internal_batch_size,
                                     return_convergence_delta=True)
            total += attr.sum(dim=-1).double().cpu()
            errors += err.double().cpu()
        total /= len(ensemble.members)
        errors /= len(ensemble.members)
        for k, i in enumerate(group):
            out[i] = total[k, 1:int(lengths[i])].numpy()
            delta[i] = float(errors[k])
    return out, delta


def _rows(cohort: Cohort, method: str, base: np.ndarray, attributions: list[np.ndarray]) -> pd.DataFrame:
    lengths = cohort.encoded.lengths.numpy()
    sample = np.repeat(np.arange(len(lengths)), lengths - 1)
    taxon = np.concatenate([cohort.encoded.ids[i, 1:n].numpy() for i, n in enumerate(lengths)] or [np.zeros(0)])
    return pd.DataFrame({
        "cohort": cohort.name, "sample": sample, "label": cohort.labels[sample], "taxon": taxon.astype(np.int64),
        "method": method, "attribution": np.concatenate(attributions or [np.zeros(0)]), "base_score": base[sample],
    }, columns=COLUMNS)


def attribute_cohort(ensemble: Ensemble, cohort: Cohort, settings: dict, device: torch.device,
                     progress: bool = False) -> pd.DataFrame:
    """Tidy attribution rows of one cohort for every configured method."""
    base, ablated = ablation_scores(ensemble.probability, cohort.encoded, settings["ablation_baseline"],
                                    ensemble.pad_id, ensemble.mask_id, settings["batch_rows"], device, progress)
    frames = []
    if "ablation" in settings["methods"]:
        frames.append(_rows(cohort, "ablation", base, [base[i] - a for i, a in enumerate(ablated)]))
    if "integrated_gradients" in settings["methods"]:
        ig, delta = integrated_gradients(ensemble, cohort.encoded, settings["ig_baseline"], settings["ig_steps"],
                                         settings["ig_batch_samples"], device=device, progress=progress)
        log.info("%s: integrated gradients, largest |completeness error| %.3g (|f(x)| <= 1)", cohort.name,
                 float(np.abs(delta).max(initial=0.0)))
        frames.append(_rows(cohort, "integrated_gradients", base, ig))
    return pd.concat(frames, ignore_index=True)


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """A tidy TSV, written atomically."""
    with atomic_path(path, suffix=".tsv") as tmp:
        frame.to_csv(tmp, sep="\t", index=False, float_format="%.8g")


def _run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    settings = cfg["interpret"]["attribution"]
    torch.set_num_threads(cfg["threads"])
    seed_everything(cfg["seed"])
    device = resolve_device(args.device or cfg["device"])
    ensemble = load_ensemble(args.members, args.vocab_embeddings, cfg["model"]["mask_init"], device)
    names = [name for name, _, _ in args.cohort]
    if len(set(names)) != len(names):
        raise InputError("--cohort", f"cohort names must be unique, got {names}")
    frames = []
    for name, samples, labels in args.cohort:
        cohort = load_cohort(name, samples, labels, ensemble.table, cfg["encoding"]["max_taxa"])
        check_fits(cohort.encoded, ensemble.max_positions, samples)
        frame = attribute_cohort(ensemble, cohort, settings, device, progress=not args.no_progress)
        log.info("%s: %d samples, %d attribution rows", name, len(cohort.labels), len(frame))
        frames.append(frame)
    write_table(pd.concat(frames, ignore_index=True), args.out)
    return 0


def register(subparsers) -> None:
    help_text = "per-taxon attributions of the IBD ensemble: feature ablation and integrated gradients (reference 10)"
    p = subparsers.add_parser("attribute", help=help_text, description=help_text)
    add_config_arguments(p)
    p.add_argument("--members", nargs="+", required=True, help="ensemble member checkpoint folders")
    p.add_argument("--vocab-embeddings", required=True,
                   help="vocab_embeddings.npy (token table of members that carry none)")
    p.add_argument("--cohort", nargs=3, action="append", required=True, metavar=("NAME", "SAMPLES", "LABELS"),
                   help="a cohort: name, coordinate-list .npy and its labels .npy (repeatable)")
    p.add_argument("--out", required=True, type=Path, help="tidy attribution table (.tsv)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None, help="override config key 'device'")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)
