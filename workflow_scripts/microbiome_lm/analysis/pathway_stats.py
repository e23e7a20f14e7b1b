"""Are the significant pathway correlations of one embedding stronger than another's? (reference 10)

``significant_correlations_tests.py`` (2025-01-29 changelog) compared the |r| of the significant
property-pathway correlations of the contextual and the GloVe embeddings; ``gen_hists.py`` drew
their density histograms. This module does both for every pair of the embedding kinds given,
in the order given (contextual, fixed, pca in the workflow), on the significant correlations
with |r| >= ``min_abs_r`` (0.02 as published):

* Kolmogorov-Smirnov, two-sided and both one-sided ways; Mann-Whitney U (two-sided and "a
  larger"); Epps-Singleton and Anderson-Darling k-sample (in the version seen);
* a permutation test of the difference in mean |r| (seeded);
* effect sizes: Cohen's d (pooled sd) and Cliff's delta (2U / (n_a n_b) - 1 from Mann-Whitney's U).

Every test comes from scipy.stats; a test that needs more values than a kind has gets NaN and a
note instead of failing the job.
"""

from __future__ import annotations

import argparse
import json
import warnings
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from ..config import add_config_arguments, config_from_args
from ..core.atomic import atomic_path
from ..core.errors import InputError
from .pathway_figures import plot_histograms

MIN_VALUES = {"epps_singleton": 5}  # scipy's own minimum per sample; every other test needs 2


def load_significant(folder: str | Path, min_abs_r: float) -> np.ndarray:
    """|r| of the significant correlations in a ``pathway-correlations`` output folder, >= ``min_abs_r``."""
    path = Path(folder) / "significant.tsv"
    if not path.is_file():
        raise InputError(path, "file not found (run pathway-correlations first)")
    table = pd.read_csv(path, sep="\t")
    if "corr_val" not in table.columns:
        raise InputError(path, f"no corr_val column (found {', '.join(table.columns)})")
    values = table["corr_val"].abs().to_numpy(dtype=np.float64)
    return values[values >= min_abs_r]


def _mean_difference(x, y, axis):
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def cohens_d(a: np.ndarray, b: np.ndarray) -> float:
    """Difference in means over the pooled standard deviation (ddof 1)."""
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    return float((a.mean() - b.mean()) / np.sqrt(pooled)) if pooled > 0 else float("nan")


def compare(a: np.ndarray, b: np.ndarray, n_resamples: int, seed: int) -> list[dict]:
    """Every test of one pair: rows of test, alternative, statistic, p_value (a = first kind)."""
    mw_two = stats.mannwhitneyu(a, b, alternative="two-sided")
    rows = [
        # scipy's "less" is F_a < F_b somewhere: a's values tend to be larger.
        ("ks", "two-sided", stats.ks_2samp(a, b, alternative="two-sided")),
        ("ks", "a larger", stats.ks_2samp(a, b, alternative="less")),
        ("ks", "a smaller", stats.ks_2samp(a, b, alternative="greater")),
        ("mann_whitney", "two-sided", mw_two),
        ("mann_whitney", "a larger", stats.mannwhitneyu(a, b, alternative="greater")),
        ("permutation_mean_abs_r", "two-sided", stats.permutation_test(
            (a, b), _mean_difference, vectorized=True, n_resamples=n_resamples, alternative="two-sided",
            rng=np.random.default_rng(seed))),
    ]
    out = [{"test": t, "alternative": alt, "statistic": float(res.statistic), "p_value": float(res.pvalue)}
           for t, alt, res in rows]
    if min(len(a), len(b)) >= MIN_VALUES["epps_singleton"]:
        es = stats.epps_singleton_2samp(a, b)
        out.append({"test": "epps_singleton", "alternative": "two-sided", "statistic": float(es.statistic),
                    "p_value": float(es.pvalue)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # scipy caps this p-value to [0.001, 0.25] and says so
        ad = stats.anderson_ksamp([a, b], variant="midrank")
    out.append({"test": "anderson_darling", "alternative": "two-sided (p capped to [0.001, 0.25])",
                "statistic": float(ad.statistic), "p_value": float(ad.pvalue)})
    out.append({"test": "cohens_d", "alternative": "", "statistic": cohens_d(a, b), "p_value": np.nan})
    out.append({"test": "cliffs_delta", "alternative": "", "p_value": np.nan,
                "statistic": float(2 * mw_two.statistic / (len(a) * len(b)) - 1)})
    return out


def pair_tests(values: dict[str, np.ndarray], n_resamples: int, seed: int) -> pd.DataFrame:
    """The tests of every pair of kinds, in the given order; too-small samples get a note."""
    rows = []
    for kind_a, kind_b in combinations(values, 2):
        a, b = values[kind_a], values[kind_b]
        base = {"kind_a": kind_a, "kind_b": kind_b, "n_a": len(a), "n_b": len(b)}
        if min(len(a), len(b)) < 2:
            rows.append({**base, "test": "all", "alternative": "", "statistic": np.nan, "p_value": np.nan,
                         "note": "fewer than 2 significant correlations in one kind"})
            continue
        rows += [{**base, **row, "note": ""} for row in compare(a, b, n_resamples, seed)]
    columns = ["kind_a", "kind_b", "test", "alternative", "statistic", "p_value", "n_a", "n_b", "note"]
    return pd.DataFrame(rows, columns=columns)


def kind_summary(values: dict[str, np.ndarray], folders: dict[str, Path], min_abs_r: float) -> pd.DataFrame:
    """Per kind: threshold, counts and the distribution of significant |r| (with the exponential fit seen)."""
    rows = []
    for kind, v in values.items():
        info = json.loads((folders[kind] / "summary.json").read_text())
        rate = 1.0 / stats.expon.fit(v, floc=min_abs_r)[1] if len(v) > 1 else np.nan
        rows.append({"kind": kind, "n_taxa": info["n_taxa"], "n_properties": info["n_properties"],
                     "n_pathways_kept": info["n_pathways_kept"], "threshold": info["threshold"],
                     "n_significant": info["n_significant"], "n_tested": len(v),
                     "mean_abs_r": v.mean() if len(v) else np.nan,
                     "median_abs_r": np.median(v) if len(v) else np.nan,
                     "max_abs_r": v.max() if len(v) else np.nan, "exponential_rate": rate})
    return pd.DataFrame(rows)


def run_pathway_stats(folders: dict[str, Path], settings: dict, tests_out: str | Path, summary_out: str | Path,
                      histogram_out: str | Path) -> pd.DataFrame:
    """Write the tests table, the per-kind summary and the histogram figure (each atomically)."""
    for kind, folder in folders.items():
        if not (folder / "summary.json").is_file():
            raise InputError(folder / "summary.json", f"file not found (kind {kind})")
    values = {kind: load_significant(folder, settings["min_abs_r"]) for kind, folder in folders.items()}
    tests = pair_tests(values, settings["test_permutations"], settings["seed"])
    with atomic_path(tests_out, suffix=".tsv") as tmp:
        tests.to_csv(tmp, sep="\t", index=False)
    with atomic_path(summary_out, suffix=".tsv") as tmp:
        kind_summary(values, folders, settings["min_abs_r"]).to_csv(tmp, sep="\t", index=False)
    with atomic_path(histogram_out, suffix=Path(histogram_out).suffix) as tmp:
        plot_histograms(values, settings["hist_bins"], settings["min_abs_r"], tmp)
    return tests


def _kind_folders(items: list[str]) -> dict[str, Path]:
    folders = {}
    for item in items:
        kind, sep, path = item.partition("=")
        if not sep or not kind or not path:
            raise InputError(None, f"--kind expects KIND=FOLDER, got {item!r}")
        folders[kind] = Path(path)
    return folders


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("pathway-stats", help="histograms and tests of significant pathway correlations by kind")
    p.add_argument("--kind", action="append", required=True, metavar="KIND=FOLDER",
                   help="a pathway-correlations output folder (repeatable; pairs are compared in this order)")
    p.add_argument("--tests", required=True, help="TSV: one row per pair of kinds and test")
    p.add_argument("--summary", required=True, help="TSV: one row per kind")
    p.add_argument("--histogram", required=True, help="figure (png/pdf/svg) of the density histograms")
    add_config_arguments(p)
    p.set_defaults(func=_main)


def _main(args: argparse.Namespace) -> int:
    settings = config_from_args(args)["pathways"]
    run_pathway_stats(_kind_folders(args.kind), settings, args.tests, args.summary, args.histogram)
    return 0
