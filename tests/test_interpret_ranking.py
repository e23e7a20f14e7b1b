"""Filtering and ranking on hand-made attribution tables; one test per notebook bug fixed (reference 13 #24)."""

from __future__ import annotations

import matplotlib
import pandas as pd
import pytest

from microbiome_lm.cli import main
from microbiome_lm.interpret.figures import top_taxa_figure
from microbiome_lm.interpret.ranking import (
    RankingSettings,
    confident_samples,
    prevalent_taxa,
    rank_all,
    rank_method,
)

matplotlib.use("Agg")
LOOSE = RankingSettings(agp_quantiles=(0.0, 1.0), external_quantiles=(0.0, 1.0), min_prevalence_fraction=0.0,
                        min_attributions=1, n_top=2)


def records(rows: list[tuple]) -> pd.DataFrame:
    """(cohort, sample, label, taxon, attribution, base_score) tuples -> the attribute table."""
    frame = pd.DataFrame(rows, columns=["cohort", "sample", "label", "taxon", "attribution", "base_score"])
    return frame.assign(method="ablation")


def both_groups(taxon_values: dict[int, tuple[float, float]], n_samples: int = 6) -> pd.DataFrame:
    """Every taxon in every sample of both groups, with its (AGP, external) attribution."""
    rows = []
    for cohort, which in (("agp", 0), ("halfvarson", 1)):
        for s in range(n_samples):
            for taxon, values in taxon_values.items():
                rows.append((cohort, s, s % 2, taxon, values[which], 0.5))
    return records(rows)


def test_confident_samples_use_per_class_quantiles():
    samples = pd.DataFrame({"label": [1, 1, 1, 1, 0, 0, 0, 0],
                            "base_score": [0.9, 0.8, 0.3, 0.2, 0.1, 0.2, 0.6, 0.7]})
    keep = confident_samples(samples, 0.5, 0.5)
    # positives at or above their median (0.55), negatives at or below theirs (0.4)
    assert keep.tolist() == [True, True, False, False, True, True, False, False]
    assert confident_samples(samples, 0.0, 1.0).all()


def test_rarity_filter_reads_the_taxon_not_the_sample_index():
    """Fix of `total_freqs[sample_index]`: taxon 1 is in 1 of 10 samples and goes, whatever the row numbers."""
    rows = [("agp", s, s % 2, 0, 0.1, 0.5) for s in range(10)] + [("agp", 3, 1, 1, 0.2, 0.5)]
    frame = records(rows)
    assert prevalent_taxa(frame, 0.2) == {0}  # threshold int(10 * 0.2) = 2 samples
    # the buggy lookup would have tested the prevalence of taxon id 3 (= the sample index): absent here
    assert prevalent_taxa(frame, 0.1) == {0, 1}


def test_sign_must_agree_and_evidence_suffice():
    frame = both_groups({10: (0.2, 0.1), 11: (0.3, -0.2), 12: (-0.1, -0.3)})
    table, summary = rank_method(frame, LOOSE)
    assert table["taxon"].tolist() == [10, 12]  # 11 changes sign between the groups
    assert summary["both"] == 3 and summary["same_sign"] == 2
    strict = RankingSettings(**{**LOOSE.__dict__, "min_attributions": 7})  # 6 records per group
    assert rank_method(frame, strict)[0].empty


def test_ranking_is_by_pooled_signed_mean_with_counts():
    """The notebook's absolute=False (a kwarg its function lacked, 13 #24): signed means, and n = records."""
    frame = both_groups({1: (0.05, 0.05), 2: (-0.4, -0.4), 3: (0.2, 0.1)})
    table, _ = rank_method(frame, LOOSE)
    assert table["taxon"].tolist() == [3, 1, 2]
    assert table.loc[table["taxon"] == 3, "mean"].item() == pytest.approx(0.15)
    assert (table["n"] == 12).all() and (table["n_agp"] == 6).all() and (table["n_external"] == 6).all()
    absolute = RankingSettings(**{**LOOSE.__dict__, "absolute": True})
    assert rank_method(frame, absolute)[0]["taxon"].tolist() == [2, 3, 1]


def test_confident_filter_drops_unsure_samples():
    rows = []
    for s, (label, score) in enumerate([(1, 0.9), (1, 0.4), (0, 0.1), (0, 0.6)]):
        rows.append(("agp", s, label, 5, 1.0 if s in (0, 2) else -5.0, score))
        rows.append(("hmp2", s, label, 5, 1.0, score))
    settings = RankingSettings(agp_quantiles=(0.5, 0.5), external_quantiles=(0.0, 1.0), min_prevalence_fraction=0,
                               min_attributions=1, n_top=1)
    table, summary = rank_method(records(rows), settings)
    assert summary["records_agp"] == 2  # the unsure positive (0.4) and negative (0.6) are gone
    assert table["mean_agp"].item() == pytest.approx(1.0)


def test_top_bottom_sequences_and_chart_count(tmp_path):
    """Sequences by taxon id; the chart title counts the attributions it shows (the "n = 30000" fix)."""
    frame = both_groups({0: (0.3, 0.2), 1: (0.1, 0.1), 2: (-0.2, -0.1), 3: (-0.3, -0.3)})
    sequences = ["AAAA", "CCCC", "GGGG", "TTTT"]
    ranking, ends, summary = rank_all(frame, LOOSE, sequences)
    assert ends["end"].tolist() == ["top", "top", "bottom", "bottom"]
    assert ends["taxon"].tolist() == [0, 1, 3, 2]
    assert ends["sequence"].tolist() == ["AAAA", "CCCC", "TTTT", "GGGG"]
    fig = top_taxa_figure(ends, None, "ablation")
    assert f"n = {12 * 4} attributions" in fig.axes[0].get_title()

    frame.to_csv(tmp_path / "a.tsv", sep="\t", index=False)
    (tmp_path / "v.fasta").write_text("".join(f">embed{i + 1}\n{s}\n" for i, s in enumerate(sequences)))
    outs = [str(tmp_path / n) for n in ("r.tsv", "tb.tsv", "s.tsv")]
    args = ["rank-attributions", "--set", "interpret.ranking.min_attributions=1", "--attributions",
            str(tmp_path / "a.tsv"), "--vocab-fasta", str(tmp_path / "v.fasta"), "--ranking", outs[0],
            "--top-bottom", outs[1], "--summary", outs[2]]
    assert main(args) == 0
    assert pd.read_csv(outs[1], sep="\t")["sequence"].tolist()[:2] == ["AAAA", "CCCC"]

    (tmp_path / "short.fasta").write_text(">embed1\nAAAA\n")  # fewer sequences than taxa
    args[args.index(str(tmp_path / "v.fasta"))] = str(tmp_path / "short.fasta")
    args[args.index(outs[0])] = str(tmp_path / "r2.tsv")
    assert main(args) == 2
    assert not (tmp_path / "r2.tsv").exists()


def test_missing_columns_are_named(tmp_path):
    pd.DataFrame({"cohort": ["agp"], "taxon": [1]}).to_csv(tmp_path / "a.tsv", sep="\t", index=False)
    (tmp_path / "v.fasta").write_text(">embed1\nA\n>embed2\nC\n")
    code = main(["rank-attributions", "--attributions", str(tmp_path / "a.tsv"), "--vocab-fasta",
                 str(tmp_path / "v.fasta"), "--ranking", str(tmp_path / "r.tsv"), "--top-bottom",
                 str(tmp_path / "t.tsv"), "--summary", str(tmp_path / "s.tsv")])
    assert code == 2 and not (tmp_path / "r.tsv").exists()
