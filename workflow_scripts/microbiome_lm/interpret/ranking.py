"""``rank-attributions``: filter and rank taxa as ``Process_Attributions_No_GPU.ipynb`` (reference 10).

Per method, the attribution records (one per sample and taxon) are split into the AGP group
and the external group (Halfvarson + HMP2 pooled, as the notebook's index offset did), then:

1. **confident and correct samples** (per group): positives whose base score is at least the
   ``positive`` quantile of the group's positive scores, negatives at most the ``negative``
   quantile of its negative scores (AGP: medians; external: 0.001 / 0.999);
2. **rarity**: the taxon occurs in at least ``int(min_prevalence_fraction x n_samples)`` of all
   attributed samples (every cohort counted, as the notebook's 9332);
3. **enough evidence**: at least ``min_attributions`` surviving records in the group (L = 5);
4. **consistent sign**: the taxon's mean attribution has the same (non-zero) sign in both groups;
5. records of both groups are pooled and ranked by their mean; the ``n_top`` highest (pushing
   towards IBD) and lowest are listed with their 16S sequence.

Notebook bugs fixed (reference 13 #24), each tested in ``tests/test_interpret_ranking.py``:

* the notebook called the filter with ``absolute=False``, an argument the function lacked, so
  it failed as written; here ``absolute`` exists (config ``interpret.ranking.absolute``):
  false ranks by the signed mean (what the call asked for), true by the mean absolute value;
* the rarity condition read ``total_freqs[sample_index]`` (the prevalence of the taxon whose
  id equals the sample's row number); here it reads the prevalence of the record's taxon;
* the chart printed "n = 30000" under a title saying 300; here every count shown (summary
  table, chart title) is computed from the records it describes.

Sequences come from the vocabulary fasta by header (``>embed<id + 1>``), not by line number,
so no record is lost (reference 13 #22).
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import add_config_arguments, config_from_args
from ..core.errors import InputError
from ..data.fasta import read_vocabulary_fasta
from .attribution import COLUMNS, write_table
from .taxa import read_table

log = logging.getLogger(__name__)

AGP = "agp"
GROUPS = ("agp", "external")
Z95 = 1.959964


@dataclass(frozen=True)
class RankingSettings:
    agp_quantiles: tuple[float, float] = (0.5, 0.5)  # (positive, negative)
    external_quantiles: tuple[float, float] = (0.001, 0.999)
    min_prevalence_fraction: float = 0.05
    min_attributions: int = 5
    n_top: int = 10
    absolute: bool = False

    @classmethod
    def from_config(cls, section: dict) -> "RankingSettings":
        q = lambda d: (d["positive"], d["negative"])  # noqa: E731
        return cls(q(section["agp_quantiles"]), q(section["external_quantiles"]), section["min_prevalence_fraction"],
                   section["min_attributions"], section["n_top"], section["absolute"])


def read_attributions(path: str | Path) -> pd.DataFrame:
    """The tidy table written by ``attribute``; missing columns are an :class:`InputError`."""
    return read_table(path, tuple(COLUMNS))


def confident_samples(samples: pd.DataFrame, positive_q: float, negative_q: float) -> pd.Series:
    """Boolean per sample row (columns label, base_score): confident-and-correct by class quantiles."""
    pos, neg = samples["label"] == 1, samples["label"] == 0
    keep = pd.Series(False, index=samples.index)
    if pos.any():
        keep |= pos & (samples["base_score"] >= samples.loc[pos, "base_score"].quantile(positive_q))
    if neg.any():
        keep |= neg & (samples["base_score"] <= samples.loc[neg, "base_score"].quantile(negative_q))
    return keep


def prevalent_taxa(records: pd.DataFrame, fraction: float) -> set[int]:
    """Taxa present in at least ``int(fraction x samples)`` of the attributed samples (all cohorts)."""
    samples = records[["cohort", "sample", "taxon"]].drop_duplicates()
    n_samples = len(samples[["cohort", "sample"]].drop_duplicates())
    prevalence = samples.groupby("taxon").size()
    return set(prevalence.index[prevalence >= int(n_samples * fraction)])


def filter_group(records: pd.DataFrame, quantiles: tuple[float, float], keep_taxa: set[int],
                 min_attributions: int) -> pd.DataFrame:
    """Records of one group from confident-and-correct samples, prevalent taxa with enough records."""
    samples = records[["cohort", "sample", "label", "base_score"]].drop_duplicates(["cohort", "sample"])
    confident = samples.loc[confident_samples(samples, *quantiles), ["cohort", "sample"]]
    kept = records.merge(confident, on=["cohort", "sample"])
    kept = kept[kept["taxon"].isin(keep_taxa)]
    counts = kept.groupby("taxon")["attribution"].transform("size")
    return kept[counts >= min_attributions]


def _stats(records: pd.DataFrame, absolute: bool) -> pd.DataFrame:
    values = records.assign(value=records["attribution"].abs() if absolute else records["attribution"])
    stats = values.groupby("taxon")["value"].agg(n="size", mean="mean", sd="std")
    stats["sd"] = stats["sd"].fillna(0.0)
    half = Z95 * stats["sd"] / np.sqrt(stats["n"])
    return stats.assign(ci_low=stats["mean"] - half, ci_high=stats["mean"] + half)


def rank_method(records: pd.DataFrame, settings: RankingSettings) -> tuple[pd.DataFrame, dict[str, int]]:
    """Per-taxon ranking of one method's records, and the taxon counts after each filter."""
    keep_taxa = prevalent_taxa(records, settings.min_prevalence_fraction)
    is_agp = records["cohort"] == AGP
    groups = {
        "agp": filter_group(records[is_agp], settings.agp_quantiles, keep_taxa, settings.min_attributions),
        "external": filter_group(records[~is_agp], settings.external_quantiles, keep_taxa, settings.min_attributions),
    }
    means = {g: frame.groupby("taxon")["attribution"].mean() for g, frame in groups.items()}
    both = means["agp"].index.intersection(means["external"].index)
    same = both[np.sign(means["agp"][both]) * np.sign(means["external"][both]) > 0]
    pooled = pd.concat([groups["agp"], groups["external"]])
    table = _stats(pooled[pooled["taxon"].isin(same)], settings.absolute)
    for g in GROUPS:
        table[f"n_{g}"] = groups[g].groupby("taxon").size().reindex(table.index)
        table[f"mean_{g}"] = means[g].reindex(table.index)
    table = table.sort_values(["mean", "n"], ascending=[False, False]).reset_index()
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    summary = {"prevalent": len(keep_taxa), "agp": len(means["agp"]), "external": len(means["external"]),
               "both": len(both), "same_sign": len(same),
               "records_agp": len(groups["agp"]), "records_external": len(groups["external"])}
    return table, summary


def top_and_bottom(table: pd.DataFrame, n: int, sequences: list[str]) -> pd.DataFrame:
    """The ``n`` highest-ranked taxa (end ``top``) and the ``n`` lowest (``bottom``), with sequences."""
    top = table.head(n).assign(end="top")
    bottom = table.iloc[::-1].head(n).assign(end="bottom")
    both = pd.concat([top, bottom[~bottom["taxon"].isin(top["taxon"])]], ignore_index=True)
    both["sequence"] = [sequences[int(t)] for t in both["taxon"]]
    return both


def rank_all(records: pd.DataFrame, settings: RankingSettings,
             sequences: list[str]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Ranking, top/bottom and filter-summary tables for every method in ``records``."""
    if AGP not in set(records["cohort"]):
        raise InputError("attributions", f"no records of cohort {AGP!r} (the discovery group)")
    rankings, ends, summaries = [], [], []
    for method, frame in records.groupby("method", sort=True):
        table, summary = rank_method(frame, settings)
        table.insert(0, "method", method)
        rankings.append(table)
        ends.append(top_and_bottom(table, settings.n_top, sequences))
        summaries.append(pd.DataFrame({"method": method, "filter": list(summary), "count": list(summary.values())}))
        log.info("%s: %s", method, ", ".join(f"{k} {v}" for k, v in summary.items()))
    return pd.concat(rankings, ignore_index=True), pd.concat(ends, ignore_index=True), pd.concat(summaries)


def _run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    records = read_attributions(args.attributions)
    sequences = read_vocabulary_fasta(args.vocab_fasta)
    if len(records) and records["taxon"].max() >= len(sequences):
        raise InputError(args.vocab_fasta, f"{len(sequences)} sequences, but the attributions name taxon "
                                           f"{int(records['taxon'].max())}")
    ranking, ends, summary = rank_all(records, RankingSettings.from_config(cfg["interpret"]["ranking"]), sequences)
    write_table(ranking, args.ranking)
    write_table(ends, args.top_bottom)
    write_table(summary, args.summary)
    return 0


def register(subparsers) -> None:
    help_text = "filter and rank taxa by attribution as Process_Attributions_No_GPU.ipynb, bugs fixed (reference 10)"
    p = subparsers.add_parser("rank-attributions", help=help_text, description=help_text)
    add_config_arguments(p)
    p.add_argument("--attributions", required=True, help="table written by `attribute`")
    p.add_argument("--vocab-fasta", required=True, help="seqs_.07_embed.fasta (>embed1 = taxon 0)")
    p.add_argument("--ranking", required=True, type=Path, help="out: every taxon passing the filters, ranked (.tsv)")
    p.add_argument("--top-bottom", required=True, type=Path, help="out: top and bottom taxa with sequences (.tsv)")
    p.add_argument("--summary", required=True, type=Path, help="out: taxa left after each filter (.tsv)")
    p.set_defaults(func=_run)
