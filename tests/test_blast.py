"""BLAST overlap: counts on the toy cohorts against what the generator planted, thresholds, missing BLAST+."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from microbiome_lm.analysis import blast
from microbiome_lm.cli import main
from microbiome_lm.config import validate_config
from microbiome_lm.core.errors import InputError
from microbiome_lm.data.fasta import read_vocabulary_fasta
from microbiome_lm.data.toy import generate_toy_mirror

from .conftest import requires_blast

MODEL = {"hidden_size": 16, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 32}
SMALL = validate_config({"encoding": {"max_taxa": 16}, "model": MODEL, "toy": {
    "n_taxa": 120, "n_hosts": 40, "n_halfvarson": 30, "n_hmp2": 25, "taxa_per_sample": 20,
    "embedding_dim": 8, "full_width": 96, "top_width": 16}})
COHORTS = ("halfvarson", "hmp2")
PAPER = validate_config({})["blast"]


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("toy") / "mirror"
    generate_toy_mirror(out, SMALL)
    return out


@pytest.fixture(scope="module")
def planted(mirror) -> dict[str, list[dict]]:
    signal = json.loads((mirror / "planted_signal.json").read_text())
    return {name: signal["cohorts"][name]["asvs"] for name in COHORTS}


def cohort_args(mirror: Path) -> list[str]:
    return [arg for name in COHORTS for arg in ("--cohort", f"{name}={mirror / 'cohorts' / f'{name}_asvs.fasta'}")]


def run_overlap(mirror: Path, out: Path, *settings: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    args = ["blast-overlap", "--vocab-fasta", str(mirror / "dryad" / "seqs_.07_embed.fasta"), *cohort_args(mirror),
            "--pairs", str(out / "pairs.tsv"), "--summary", str(out / "summary.tsv"),
            "--figure", str(out / "overlap.png"), "--threads", "1"]
    for setting in settings:
        args += ["--set", setting]
    assert main(args) == 0
    return pd.read_csv(out / "pairs.tsv", sep="\t"), pd.read_csv(out / "summary.tsv", sep="\t")


@pytest.fixture(scope="module")
def paper_run(mirror, tmp_path_factory):
    if shutil.which("blastn") is None:
        pytest.skip("BLAST+ (blastn, makeblastdb) is not installed (Debian package ncbi-blast+)")
    out = tmp_path_factory.mktemp("blast")
    return (*run_overlap(mirror, out), out)


@requires_blast
def test_every_planted_shared_asv_matches_its_vocabulary_taxon(paper_run, planted):
    pairs, summary, out = paper_run
    assert list(pairs.columns) == list(blast.PAIR_COLUMNS)
    assert list(summary.columns) == list(blast.SUMMARY_COLUMNS)
    assert (out / "overlap.png").stat().st_size > 0
    for name in COHORTS:
        asvs = planted[name]
        row = summary.set_index("cohort").loc[name]
        assert row["n_asvs"] == len(asvs)
        found = set(zip(pairs.loc[pairs["cohort"] == name, "query"], pairs.loc[pairs["cohort"] == name, "taxon"]))
        shared = [a for a in asvs if a["vocab_id"] is not None]  # identical, trimmed and 1-mismatch ASVs
        assert all((a["name"], a["vocab_id"]) in found for a in shared)
        assert row["n_matched"] >= len(shared)
        assert row["fraction"] == pytest.approx(row["n_matched"] / row["n_asvs"])
    passing = pairs[(pairs["evalue"] < 1e-20) & (pairs["pident"] >= 99)]
    assert len(passing) == len(pairs)


@requires_blast
def test_with_full_coverage_matches_are_exactly_the_planted_shared_asvs(mirror, planted, tmp_path):
    """Novel toy ASVs are >= 3 mismatches from every vocabulary ASV: only a short local alignment could match."""
    pairs, summary = run_overlap(mirror, tmp_path, "blast.min_query_coverage=95")
    for name in COHORTS:
        shared = {a["name"] for a in planted[name] if a["vocab_id"] is not None}
        assert set(pairs.loc[pairs["cohort"] == name, "query"]) == shared
        assert summary.set_index("cohort").loc[name, "n_matched"] == len(shared)


def _mutate(sequence: str, positions: list[int]) -> str:
    swap = {"A": "C", "C": "G", "G": "T", "T": "A"}
    return "".join(swap[b] if i in positions else b for i, b in enumerate(sequence))


@requires_blast
def test_thresholds_filter_identity_and_evalue(mirror, tmp_path):
    vocab = read_vocabulary_fasta(mirror / "dryad" / "seqs_.07_embed.fasta")
    source = vocab[5]
    queries = {
        "exact": source,
        "one_mismatch": _mutate(source, [75]),        # 149/150 = 99.3 %
        "three_mismatches": _mutate(source, [40, 75, 110]),  # 147/150 = 98.0 %
        "short_piece": source[50:90],                 # 100 % over 40 nt, e-value ~1e-13
    }
    fasta = tmp_path / "queries.fasta"
    fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in queries.items()))
    unrelated = tmp_path / "unrelated.fasta"  # no hit at all: blastn writes an empty table
    unrelated.write_text(">random\n" + "".join(np.random.default_rng(0).choice(list("ACGT"), 150)) + "\n")
    common = dict(threads=1, task="megablast", min_query_coverage=0)
    pairs, summary = blast.overlap(mirror / "dryad" / "seqs_.07_embed.fasta", {"q": fasta, "none": unrelated},
                                   max_evalue=PAPER["max_evalue"], min_identity=PAPER["min_identity"], **common)
    hits = set(pairs.loc[pairs["taxon"] == 5, "query"])
    assert hits == {"exact", "one_mismatch"}
    assert summary["n_asvs"].tolist() == [4, 1]
    assert summary["n_matched"].tolist()[1] == 0
    looser, _ = blast.overlap(mirror / "dryad" / "seqs_.07_embed.fasta", {"q": fasta}, max_evalue=1e-5,
                              min_identity=97.0, **common)
    assert set(looser.loc[looser["taxon"] == 5, "query"]) == set(queries)


def test_missing_blastn_is_a_clear_error(mirror, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    out = tmp_path / "out"
    args = ["blast-overlap", "--vocab-fasta", str(mirror / "dryad" / "seqs_.07_embed.fasta"), *cohort_args(mirror),
            "--pairs", str(out / "pairs.tsv"), "--summary", str(out / "summary.tsv"),
            "--figure", str(out / "overlap.png")]
    assert main(args) == 2
    message = capsys.readouterr().err
    assert "makeblastdb" in message and "ncbi-blast+" in message
    assert not out.exists()


@requires_blast
def test_bad_cohort_fasta_names_the_file(mirror, tmp_path):
    bad = tmp_path / "bad.fasta"
    bad.write_text("ACGT\n")
    with pytest.raises(InputError, match="bad.fasta"):
        blast.overlap(mirror / "dryad" / "seqs_.07_embed.fasta", {"bad": bad}, max_evalue=1e-20, min_identity=99,
                      min_query_coverage=0, threads=1, task="megablast")
