"""``microbiome-lm embed`` / ``export-model`` on the toy mirror and the shipped example cohort.

One embed run (module fixture) is checked against an independent computation: the example
cohort's truth table, the model's own ``encode()`` and the ensemble's logits.
"""

from __future__ import annotations

import re
import zipfile

import numpy as np
import pandas as pd
import pytest
import torch
from biom import load_table

from microbiome_lm.cli import main
from microbiome_lm.config import load_config
from microbiome_lm.core.errors import InputError
from microbiome_lm.data.toy import generate_toy_mirror
from microbiome_lm.embed import command
from microbiome_lm.embed.example_cohort import BIOM_FILE, FASTA_FILE, TRUTH_FILE, write_example_cohort
from microbiome_lm.model.checkpoint import load_checkpoint
from microbiome_lm.model.encoding import attention_mask, encode_samples

from .conftest import REPO, coordinate_rows, requires_vsearch

pytestmark = requires_vsearch
COHORT = REPO / "resources" / "example_cohort"
TOY_CONFIG = REPO / "config" / "toy.yaml"
MEMBERS = ["run1_epoch0_disc", "run2_epoch0_disc", "run3_epoch0_disc"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("embed")
    generate_toy_mirror(root / "mirror", load_config(TOY_CONFIG))
    for archive in ("pretrainedmodels.zip", "ensemble.zip"):
        with zipfile.ZipFile(root / "mirror" / "dryad" / archive) as z:
            z.extractall(root / "models")
    return {"root": root, "fasta": root / "mirror" / "dryad" / "seqs_.07_embed.fasta",
            "vocab": root / "mirror" / "dryad" / "vocab_embeddings.npy",
            "checkpoint": root / "models" / "5head5layer_epoch120_disc",
            "ensemble": [root / "models" / m for m in MEMBERS]}


def embed_args(toy, out, *extra, table=COHORT / BIOM_FILE, sequences=COHORT / FASTA_FILE):
    args = ["embed", "--configfile", str(TOY_CONFIG), "--table", str(table), "--vocab-fasta", str(toy["fasta"]),
            "--vocab-embeddings", str(toy["vocab"]), "--checkpoint", str(toy["checkpoint"]),
            "--out-dir", str(out), "--no-progress", *extra]
    if sequences is not None:
        args += ["--sequences", str(sequences)]
    return args


@pytest.fixture(scope="module")
def embedded(toy):
    out = toy["root"] / "out"
    assert main(embed_args(toy, out, "--taxon-embeddings", "--ensemble", *map(str, toy["ensemble"]))) == 0
    return out


@pytest.fixture(scope="module")
def expected(toy):
    """Coordinate rows of the example cohort built from its truth table (independent of the mapper)."""
    table = load_table(str(COHORT / BIOM_FILE))
    truth = pd.read_csv(COHORT / TRUTH_FILE, sep="\t").set_index("feature_id")["vocab_id"]
    samples = []
    for sample in table.ids():
        counts: dict[int, int] = {}
        for feature, value in zip(table.ids(axis="observation"), table.data(sample)):
            if value > 0 and truth[feature] >= 0:
                counts[int(truth[feature])] = counts.get(int(truth[feature]), 0) + int(value)
        samples.append(counts)
    return list(table.ids()), coordinate_rows(samples, width=max(len(s) for s in samples))


def test_shipped_example_cohort_is_reproducible(toy, tmp_path):
    write_example_cohort(toy["fasta"], tmp_path / "cohort")
    for name in (BIOM_FILE, FASTA_FILE, TRUTH_FILE):
        assert (tmp_path / "cohort" / name).read_bytes() == (COHORT / name).read_bytes(), name


def test_mapping_and_coverage_match_the_truth(embedded):
    mapping = pd.read_csv(embedded / command.MAPPING_FILE, sep="\t").set_index("feature_id")
    truth = pd.read_csv(COHORT / TRUTH_FILE, sep="\t").set_index("feature_id")
    assert (mapping["vocab_id"] == truth["vocab_id"]).all()
    methods = mapping.groupby(truth["kind"])["method"].agg(lambda m: set(m))
    assert methods["identical"] == {"exact"} and methods["novel"] == {"unmapped"}
    assert methods["trimmed"] == {"contained"} and methods["mismatch"] == {"vsearch"}
    assert methods["trimmed_mismatch"] == {"vsearch"}
    coverage = pd.read_csv(embedded / command.COVERAGE_FILE, sep="\t").set_index("sample_id")
    assert len(coverage) == 12 and set(coverage["status"]) == {"ok", "warn"}
    np.testing.assert_allclose(coverage["mapped_reads"] / coverage["total_reads"], coverage["read_fraction"], rtol=1e-5)


def _reference(toy, array, cls_init, path):
    model = load_checkpoint(path, vocab_embeddings=toy["vocab"], cls_init=cls_init).model
    encoded = encode_samples(array, model.token_table(), max_taxa=64)
    mask = attention_mask(encoded.ids, model.pad_id)
    return model, encoded.ids, mask


def test_embeddings_equal_the_models_encode_output(toy, embedded, expected):
    sample_ids, array = expected
    model, ids, mask = _reference(toy, array, "mean", toy["checkpoint"])
    with torch.no_grad():
        hidden = model.encode(ids, mask)
    taxa = mask[:, 1:, None].float()
    mean = ((hidden[:, 1:] * taxa).sum(1) / taxa.sum(1)).numpy()
    frame = pd.read_parquet(embedded / "embeddings.parquet")
    assert frame["sample_id"].tolist() == sample_ids
    np.testing.assert_allclose(frame.filter(regex="^cls_").to_numpy(), hidden[:, 0].numpy(), atol=1e-5)
    np.testing.assert_allclose(frame.filter(regex="^mean_").to_numpy(), mean, atol=1e-5)
    tsv = pd.read_csv(embedded / "embeddings.tsv", sep="\t")
    np.testing.assert_allclose(tsv.drop(columns="sample_id").to_numpy(), frame.drop(columns="sample_id").to_numpy(),
                               rtol=1e-5, atol=1e-6)
    taxa_frame = pd.read_parquet(embedded / "taxon_embeddings.parquet")
    first = taxa_frame[taxa_frame["sample_id"] == sample_ids[0]].sort_values("rank")
    assert first["vocab_id"].tolist() == ids[0, 1: 1 + len(first)].tolist()
    np.testing.assert_allclose(first.filter(regex="^emb_").to_numpy(), hidden[0, 1: 1 + len(first)].numpy(),
                               atol=1e-5)
    assert first["reads"].is_monotonic_decreasing


def test_p_ibd_is_the_mean_of_member_softmaxes(toy, embedded, expected):
    _, array = expected
    probabilities = []
    for path in toy["ensemble"]:
        model, ids, mask = _reference(toy, array, "zeros", path)
        with torch.no_grad():
            probabilities.append(torch.softmax(model(ids, mask).logits, dim=-1)[:, 1].numpy())
    predictions = pd.read_parquet(embedded / "predictions.parquet")
    np.testing.assert_allclose(predictions["p_ibd"], np.mean(probabilities, axis=0), atol=1e-5)
    np.testing.assert_allclose(predictions[f"p_ibd_{MEMBERS[1]}"], probabilities[1], atol=1e-5)


def test_h5ad_holds_embeddings_coverage_and_predictions(embedded):
    anndata = pytest.importorskip("anndata")
    adata = anndata.read_h5ad(embedded / command.H5AD_FILE)
    frame = pd.read_parquet(embedded / "embeddings.parquet")
    assert list(adata.obs_names) == frame["sample_id"].tolist()
    np.testing.assert_allclose(adata.obsm["X_cls"], frame.filter(regex="^cls_").to_numpy())
    assert {"read_fraction", "status", "p_ibd"} <= set(adata.obs.columns)


def test_small_batches_give_the_same_embeddings_and_no_h5ad_without_anndata(toy, embedded, tmp_path, monkeypatch):
    monkeypatch.setattr(command, "anndata_available", lambda: False)
    args = embed_args(toy, tmp_path / "out", "--set", "embed.taxon_embeddings=false", "--set", "embed.batch_size=5")
    assert main(args) == 0
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert written == {"embeddings.parquet", "embeddings.tsv", "coverage.tsv", "asv_mapping.tsv"}
    batched = pd.read_parquet(tmp_path / "out" / "embeddings.parquet")
    whole = pd.read_parquet(embedded / "embeddings.parquet")
    assert batched["sample_id"].tolist() == whole["sample_id"].tolist()
    np.testing.assert_allclose(batched.drop(columns="sample_id").to_numpy(), whole.drop(columns="sample_id").to_numpy(),
                               atol=1e-5)


def _write_tsv(path, header, rows):
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


def test_bad_inputs_fail_with_one_line_and_leave_nothing(toy, tmp_path, capsys):
    fragments = {name: seq for name, seq in
                 (line.split("\n") for line in (COHORT / FASTA_FILE).read_text().strip(">\n").split("\n>"))}
    novel = [fragments[f"asv{k:03d}"] for k in range(33, 39)]
    cases = {
        "no_overlap": (_write_tsv(tmp_path / "novel.tsv", ["sample", *novel], [["s1", *range(1, 7)]]), [],
                       "no sequence maps onto the model vocabulary"),
        "duplicated": (_write_tsv(tmp_path / "dup.tsv", ["sample", "asv001", "asv002"], [["s1", 1, 2], ["s1", 3, 4]]),
                       [], "duplicated sample id(s): s1"),
        "low_coverage": (COHORT / BIOM_FILE, ["--set", "embed.fail_fraction=0.95"],
                         "have less than 95% of their reads on the vocabulary"),
    }
    for name, (table, extra, problem) in cases.items():
        out = tmp_path / f"out_{name}"
        sequences = None if table.name == "novel.tsv" else COHORT / FASTA_FILE
        assert main(embed_args(toy, out, *extra, table=table, sequences=sequences)) == 2, name
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith(f"error: {table}: ") and problem in err[-1], err[-1]
        assert not out.exists() or not any(out.iterdir()), name


@pytest.fixture(scope="module")
def automodel(toy):
    """The toy pretrained discriminator exported where the README example looks for it."""
    folder = toy["root"] / "results" / "toy" / "embed" / "automodel"
    assert main(["export-model", "--configfile", str(TOY_CONFIG), "--checkpoint", str(toy["checkpoint"]),
                 "--vocab-embeddings", str(toy["vocab"]), "--out", str(folder)]) == 0
    return folder


def test_readme_example_runs_verbatim(toy, automodel, monkeypatch, capsys):
    code = re.search(r"```python\n(.*?)```", (REPO / "docs" / "embed.md").read_text(), re.S).group(1)
    monkeypatch.chdir(toy["root"])
    namespace: dict = {}
    exec(compile(code, "docs/embed.md", "exec"), namespace)
    assert "torch.Size([2, 5, 32])" in capsys.readouterr().out
    # The AutoModel's output is the encoder's, on the same samples encoded the same way.
    samples = np.stack([namespace["taxon_ids"].numpy(), namespace["abundances"].numpy()], -1).astype(np.float64)
    model, ids, mask = _reference(toy, samples, "mean", toy["checkpoint"])
    with torch.no_grad():
        hidden = model.encode(ids, mask)[:, : namespace["out"].last_hidden_state.shape[1]]
    np.testing.assert_allclose(namespace["out"].last_hidden_state.numpy(), hidden.numpy(), atol=1e-5)
    assert type(namespace["model"]).__name__ == "MicrobiomeElectraModel"


def test_automodel_inputs_agree_and_bad_ids_are_refused(automodel, expected):
    import microbiome_lm
    from transformers import AutoConfig, AutoModel

    microbiome_lm.register()
    microbiome_lm.register()  # idempotent
    assert AutoConfig.from_pretrained(automodel).model_type == "microbiome-electra"
    model = AutoModel.from_pretrained(automodel).eval()
    _, array = expected
    with torch.no_grad():
        from_samples = model(samples=array)
        from_ids = model(input_ids=from_samples.input_ids)
    np.testing.assert_allclose(from_ids.last_hidden_state.numpy(), from_samples.last_hidden_state.numpy(), atol=1e-6)
    taxa = from_samples.attention_mask[:, 1:, None].float()
    mean = (from_samples.last_hidden_state[:, 1:] * taxa).sum(1) / taxa.sum(1)
    np.testing.assert_allclose(from_samples.mean_embedding.numpy(), mean.numpy(), atol=1e-6)
    with pytest.raises(InputError, match="outside the vocabulary"):
        model(taxon_ids=torch.tensor([[1, 300]]), abundances=torch.tensor([[5, 5]]))
