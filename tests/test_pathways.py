"""Pathway correlations on the toy mirror: R and numpy agree, the planted links are found, noise stays at alpha."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest

from microbiome_lm.analysis.pathway_figures import heatmap_matrix
from microbiome_lm.analysis.pathway_inputs import align, load_embeddings, read_pathway_table
from microbiome_lm.analysis.pathways import (TABLES, correlate, permutation_indices, result_tables,
                                             run_pathway_correlations)
from microbiome_lm.cli import main
from microbiome_lm.config import load_config
from microbiome_lm.core.errors import InputError
from microbiome_lm.data import layout
from microbiome_lm.data.toy import generate_toy_mirror

from .conftest import REPO, requires_r

SETTINGS = {"n_permutations": 200, "alpha": 0.05, "seed": 123, "top_n": 5}


@pytest.fixture(scope="session")
def toy(tmp_path_factory):
    """The toy mirror's vocabulary embeddings, pathway table (extracted) and planted signal."""
    root = tmp_path_factory.mktemp("pathways_toy")
    config = load_config(REPO / "config" / "toy.yaml")
    config["toy"]["checkpoints"] = None
    signal = generate_toy_mirror(root / "mirror", config)
    member = f"{layout.ARCHIVE_TOP_FOLDER['property_pathway_correlations.zip']}/{layout.PATHWAY_TABLE_MEMBER}"
    table = root / "filtered_otu_pathway_table.txt"
    with zipfile.ZipFile(root / "mirror" / "zenodo" / "property_pathway_correlations.zip") as archive:
        names = archive.namelist()
        table.write_bytes(archive.read(member if member in names else layout.PATHWAY_TABLE_MEMBER))
    with zipfile.ZipFile(root / "mirror" / "dryad" / "microbiomedata.zip") as archive:
        (root / "train_encodings_1897.npy").write_bytes(archive.read("train_encodings_1897.npy"))
    return {"root": root, "vocab": root / "mirror" / "dryad" / "vocab_embeddings.npy", "table": table,
            "signal": signal["pathways"], "samples": root / "train_encodings_1897.npy"}


@pytest.fixture(scope="session")
def numpy_run(toy):
    out = toy["root"] / "numpy_fixed"
    summary = run_pathway_correlations(toy["vocab"], "fixed", toy["table"], out, SETTINGS, "numpy")
    return out, summary


def read(folder, name):
    return pd.read_csv(folder / name, sep="\t")


@requires_r
def test_r_and_numpy_engines_agree(toy, numpy_run):
    numpy_out, numpy_summary = numpy_run
    r_out = toy["root"] / "r_fixed"
    r_summary = run_pathway_correlations(toy["vocab"], "fixed", toy["table"], r_out, SETTINGS, "r")
    for name in TABLES:
        a, b = read(r_out, name), read(numpy_out, name)
        assert list(a.columns) == list(b.columns) and a.shape == b.shape, name
        numbers = a.select_dtypes("number").columns
        np.testing.assert_allclose(a[numbers].to_numpy(), b[numbers].to_numpy(), rtol=0, atol=1e-8, err_msg=name)
        assert a.drop(columns=numbers).equals(b.drop(columns=numbers)), name
    assert r_summary["threshold"] == pytest.approx(numpy_summary["threshold"], abs=1e-12)
    assert r_summary["dropped_pathways"] == numpy_summary["dropped_pathways"]
    assert r_summary["n_significant"] == numpy_summary["n_significant"] > 0


def test_planted_pathways_are_found_and_noise_is_not(toy, numpy_run):
    out, summary = numpy_run
    significant = read(out, "significant.tsv")
    best = read(out, "best_per_property.tsv").set_index("property")
    for link in toy["signal"]["embedding_linked"]:
        hit = significant[(significant["property"] == link["dimension"]) & (significant["path_id"] == link["pathway"])]
        assert len(hit) == 1, link
        assert np.sign(hit["corr_val"].iloc[0]) == link["sign"]
        assert best.loc[link["dimension"], "path_id"] == link["pathway"]
    # The threshold is the (1 - alpha) quantile of the largest null |r| (family-wise at alpha =
    # 0.05), so a stray noise hit among the 16 x 38 noise pairs can happen (seed 7: one, r 0.27
    # against a threshold of 0.24); many cannot. The false-positive-rate test checks the rate.
    noise_hits = significant[significant["path_id"].isin(toy["signal"]["noise"])]
    assert len(noise_hits) <= 2, noise_hits
    assert sorted(summary["dropped_pathways"]) == sorted(toy["signal"]["constant"])
    top = read(out, "top_per_property.tsv")
    assert (top.groupby("property")["rank"].max() == SETTINGS["top_n"]).all()
    null = read(out, "null_max_abs_r.tsv")
    assert len(null) == SETTINGS["n_permutations"] and summary["threshold"] <= null["max_abs_r"].max()


def test_false_positive_rate_on_noise_dimensions_is_near_alpha(toy):
    """Random Gaussian 'embeddings' against the real toy pathway table: any significant pair is a false positive."""
    table = read_pathway_table(toy["table"])
    pathways = table.to_numpy(np.float64)
    rng = np.random.default_rng(0)
    alpha, repetitions, n_perm = 0.1, 300, 99
    hits = 0
    for rep in range(repetitions):
        noise = rng.normal(size=(len(table), 8))
        result = correlate(noise, pathways, list(table.columns), permutation_indices(len(table), n_perm, rep), alpha)
        hits += bool((np.abs(result.r) > result.threshold).any())
    rate = hits / repetitions
    sd = np.sqrt(alpha * (1 - alpha) / repetitions)
    assert abs(rate - alpha) < 3.5 * sd, f"family-wise false-positive rate {rate:.3f}, nominal {alpha}"


def test_alpha_zero_is_the_original_rule_above_the_largest_null_value(toy):
    table = read_pathway_table(toy["table"])
    taxa, matrix = load_embeddings(toy["vocab"], "fixed")
    data = align(taxa, matrix, table, toy["vocab"], toy["table"])
    result = correlate(data.embeddings, data.pathways, data.pathway_ids,
                       permutation_indices(len(data.taxa), 50, 1), alpha=0.0)
    assert result.threshold == result.null_max.max()
    tables = result_tables(result, top_n=3)
    assert (tables["significant.tsv"]["corr_val"].abs() > result.null_max.max()).all()


def test_contextual_nan_rows_are_dropped(toy, tmp_path):
    vocab = np.load(toy["vocab"])
    contextual = np.stack([vocab, vocab ** 2], axis=-1).astype(np.float32)
    contextual[:40] = np.nan
    path = tmp_path / "avg_vocab_embeddings.npy"
    np.save(path, contextual)
    taxa, matrix = load_embeddings(path, "contextual")
    assert taxa[0] == 40 and len(taxa) == len(vocab) - 40
    np.testing.assert_allclose(matrix, vocab[40:], rtol=1e-6)
    summary = run_pathway_correlations(path, "contextual", toy["table"], tmp_path / "out",
                                       {**SETTINGS, "n_permutations": 20}, "numpy")
    expected = np.setdiff1d(read_pathway_table(toy["table"]).index, np.arange(40))
    assert summary["n_taxa"] == len(expected)


def test_bad_pathway_table_names_the_file_and_leaves_nothing(toy, tmp_path, capsys):
    bad = tmp_path / "table.txt"
    text = toy["table"].read_text().splitlines()
    fields = text[1].split("\t")
    fields[3] = "2"
    bad.write_text("\n".join([text[0], "\t".join(fields), *text[2:]]) + "\n")
    out = tmp_path / "out"
    code = main(["pathway-correlations", "--embeddings", str(toy["vocab"]), "--kind", "fixed", "--pathway-table",
                 str(bad), "--engine", "numpy", "--out-dir", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "other than 0 and 1" in err
    assert not out.exists() and not list(tmp_path.glob(".out*"))


def test_rows_named_by_sequence_need_the_vocabulary_fasta(toy, tmp_path):
    fasta = toy["root"] / "mirror" / "dryad" / "seqs_.07_embed.fasta"
    sequences = [line.strip() for line in fasta.read_text().splitlines() if not line.startswith(">")]
    lines = toy["table"].read_text().splitlines()
    renamed = [lines[0]] + [sequences[int(line.split("\t", 1)[0][5:]) - 1] + "\t" + line.split("\t", 1)[1]
                            for line in lines[1:]]
    path = tmp_path / "by_sequence.txt"
    path.write_text("\n".join(renamed) + "\n")
    with pytest.raises(InputError, match="vocabulary fasta"):
        read_pathway_table(path)
    pd.testing.assert_frame_equal(read_pathway_table(path, fasta), read_pathway_table(toy["table"]))


def test_wrong_embedding_shape_is_refused(tmp_path):
    path = tmp_path / "flat.npy"
    np.save(path, np.zeros((10, 4)))
    with pytest.raises(InputError, match=r"\(n_vocab, hidden, 2\)") as err:
        load_embeddings(path, "contextual")
    assert str(path) in str(err.value)


def test_heatmap_shows_the_significant_pathways_and_marks_their_cells(numpy_run):
    out, _ = numpy_run
    r, marks = heatmap_matrix(out)
    significant = read(out, "significant.tsv")
    assert set(r.columns) == set(significant["path_id"])
    assert list(r.index) == sorted(read(out, "best_per_property.tsv")["property"])  # every dimension is a row
    assert int(marks.to_numpy().sum()) == len(significant)
    assert (r.abs().max(axis=0).diff().dropna() <= 0).all(), "strongest pathways first"


def test_stats_command_writes_tests_summary_and_histogram(toy, numpy_run, tmp_path):
    out, summary = numpy_run
    files = {name: tmp_path / name for name in ("tests.tsv", "summary.tsv", "hist.png")}
    code = main(["pathway-stats", "--kind", f"fixed={out}", "--kind", f"again={out}", "--tests", str(files["tests.tsv"]),
                 "--summary", str(files["summary.tsv"]), "--histogram", str(files["hist.png"]),
                 "--set", "pathways.test_permutations=199"])
    assert code == 0
    tests = read(tmp_path, "tests.tsv").set_index("test")
    assert set(tests["kind_a"]) == {"fixed"} and set(tests["kind_b"]) == {"again"}
    assert tests.loc["cliffs_delta", "statistic"] == 0 and tests.loc["cohens_d", "statistic"] == 0
    assert (tests.loc["ks", "statistic"] == 0).all()
    kinds = read(tmp_path, "summary.tsv")
    assert list(kinds["kind"]) == ["fixed", "again"] and (kinds["n_significant"] == summary["n_significant"]).all()
    assert files["hist.png"].read_bytes()[:4] == b"\x89PNG"


@requires_r
def test_an_r_failure_is_reported_and_leaves_no_output(toy, tmp_path, monkeypatch):
    from microbiome_lm.analysis import pathways

    script = tmp_path / "broken.R"
    script.write_text('stop("the table is upside down")\n')
    monkeypatch.setattr(pathways, "R_SCRIPT", script)
    out = tmp_path / "out"
    with pytest.raises(InputError, match="upside down") as err:
        run_pathway_correlations(toy["vocab"], "fixed", toy["table"], out, SETTINGS, "r")
    assert str(script) in str(err.value)
    assert not out.exists() and not list(tmp_path.glob(".out*"))
