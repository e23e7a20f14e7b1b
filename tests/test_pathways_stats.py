"""Histograms, tests and the PCA baseline of the pathway stage; one toy workflow run of its rules."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pandas as pd
import pytest
import yaml

from microbiome_lm.analysis.pathway_baseline import pca_embeddings
from microbiome_lm.analysis.pathway_stats import cohens_d, compare, pair_tests
from microbiome_lm.cli import main
from microbiome_lm.config import deep_merge, read_yaml
from microbiome_lm.core.arrays import load_coordinate_array

from .conftest import REPO, coordinate_rows, requires_r


def test_effect_sizes_and_one_sided_tests_point_the_right_way():
    rng = np.random.default_rng(1)
    a, b = np.abs(rng.normal(0.5, 0.1, 120)), np.abs(rng.normal(0.4, 0.1, 90))
    rows = {(r["test"], r["alternative"]): r for r in compare(a, b, n_resamples=999, seed=0)}
    brute_cliff = np.sign(a[:, None] - b[None, :]).mean()
    assert rows[("cliffs_delta", "")]["statistic"] == pytest.approx(brute_cliff)
    pooled = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2))
    assert cohens_d(a, b) == pytest.approx((a.mean() - b.mean()) / pooled) and cohens_d(a, b) > 0.5
    assert rows[("ks", "a larger")]["p_value"] < 1e-6 < rows[("ks", "a smaller")]["p_value"]
    assert rows[("mann_whitney", "a larger")]["p_value"] < 1e-6
    assert rows[("permutation_mean_abs_r", "two-sided")]["statistic"] == pytest.approx(a.mean() - b.mean())
    assert rows[("permutation_mean_abs_r", "two-sided")]["p_value"] <= 0.002
    same = {(r["test"], r["alternative"]): r for r in compare(a, a[::-1].copy(), n_resamples=999, seed=0)}
    assert same[("cliffs_delta", "")]["statistic"] == pytest.approx(0)
    assert same[("permutation_mean_abs_r", "two-sided")]["p_value"] > 0.9


def test_a_kind_without_significant_correlations_gets_a_note():
    tests = pair_tests({"contextual": np.array([0.3, 0.4, 0.5]), "pca": np.array([])}, 99, 0)
    assert len(tests) == 1 and tests["note"].iloc[0].startswith("fewer than 2")


def test_pca_baseline_rows_are_principal_components_and_unseen_taxa_are_nan(tmp_path):
    rng = np.random.default_rng(0)
    n_taxa = 30
    samples = [{int(t): int(rng.integers(1, 100)) for t in rng.choice(25, 12, replace=False)} for _ in range(60)]
    path = tmp_path / "samples.npy"
    np.save(path, coordinate_rows(samples, width=16))
    out = pca_embeddings(path, n_taxa=n_taxa, n_components=4, seed=0)
    seen = np.unique([t for s in samples for t in s])
    assert out.shape == (n_taxa, 4)
    assert np.isnan(out[np.setdiff1d(np.arange(n_taxa), seen)]).all() and np.isfinite(out[seen]).all()
    scores = out[seen]
    covariance = np.cov(scores, rowvar=False)
    assert np.allclose(covariance - np.diag(np.diag(covariance)), 0, atol=1e-10)
    assert (np.diff(np.diag(covariance)) <= 1e-12).all()
    array = load_coordinate_array(path)
    profile = np.zeros((n_taxa, len(samples)))
    for i, row in enumerate(array):
        keep = row[:, 1] > 0
        profile[row[keep, 0].astype(int), i] = row[keep, 1] / row[keep, 1].sum()
    centred = profile[seen] - profile[seen].mean(axis=0)
    top = np.linalg.svd(centred, full_matrices=False)[0][:, 0] * np.linalg.svd(centred, compute_uv=False)[0]
    assert np.allclose(np.abs(scores[:, 0]), np.abs(top), atol=1e-8)


def test_too_many_components_is_an_input_error(tmp_path, capsys):
    path = tmp_path / "samples.npy"
    np.save(path, coordinate_rows([{0: 3, 1: 4}, {1: 2, 2: 5}], width=4))
    vocab = tmp_path / "vocab.npy"
    np.save(vocab, np.zeros((5, 3)))
    code = main(["pathway-pca", "--samples", str(path), "--vocab-embeddings", str(vocab), "--out",
                 str(tmp_path / "pca.npy"), "--set", "pathways.pca.n_components=3"])
    assert code == 2 and str(path) in capsys.readouterr().err
    assert not (tmp_path / "pca.npy").exists()


@pytest.mark.slow
@requires_r
def test_toy_workflow_runs_the_pathway_rules_in_r(tmp_path):
    """The rules on the toy mirror: fixed and PCA kinds, R engine, tables, tests and figures."""
    out = tmp_path / "run"
    config = deep_merge(read_yaml(REPO / "config" / "toy.yaml"),
                        {"output_dir": str(out), "toy": {"checkpoints": None},
                         # contextual needs the whole training chain: the full toy workflow test covers it
                         "pathways": {"kinds": ["fixed", "pca"]}})
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    pathways = out / "pathways"
    targets = [pathways / "significance_tests.tsv", pathways / "figures" / "heatmap_fixed.png",
               pathways / "figures" / "heatmap_pca.png"]
    run = subprocess.run([sys.executable, "-m", "snakemake", *map(str, targets), "--cores", "2", "--configfile",
                          str(configfile)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads((pathways / "fixed" / "summary.json").read_text())
    assert summary["engine"] == "r" and summary["n_permutations"] == config["pathways"]["n_permutations"]
    planted = json.loads((out / "toy_mirror" / "planted_signal.json").read_text())["pathways"]
    significant = pd.read_csv(pathways / "fixed" / "significant.tsv", sep="\t")
    found = set(zip(significant["property"], significant["path_id"]))
    assert {(link["dimension"], link["pathway"]) for link in planted["embedding_linked"]} <= found
    tests = pd.read_csv(pathways / "significance_tests.tsv", sep="\t")
    assert set(tests["kind_a"]) | set(tests["kind_b"]) == {"fixed", "pca"}
    kinds = pd.read_csv(pathways / "kind_summary.tsv", sep="\t")
    assert list(kinds["kind"]) == ["fixed", "pca"] and (kinds["n_taxa"] == planted["annotated_taxa"]).all()
    pca = np.load(pathways / "pca_embeddings.npy")
    assert pca.shape == (config["vocab"]["n_taxa"], config["model"]["hidden_size"])
    for figure in (pathways / "figures").glob("*.png"):
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((pathways / "figures").glob("*.png"))) == 3
    with zipfile.ZipFile(out / "toy_mirror" / "dryad" / "microbiomedata.zip") as archive:
        assert "train_encodings_1897.npy" in archive.namelist()
