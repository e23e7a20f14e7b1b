"""The toy Dryad mirror: published names and formats, internal consistency, and a recoverable signal."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from microbiome_lm.cli import main
from microbiome_lm.config import validate_config
from microbiome_lm.core.arrays import load_labels, nonzero_taxa, row_content_key, top_k_by_abundance, \
    validate_coordinate_array
from microbiome_lm.core.errors import ConfigError, InputError
from microbiome_lm.core.tokens import load_vocab_embeddings
from microbiome_lm.data import layout, toy_16s
from microbiome_lm.data.fasta import read_fasta, read_vocabulary_fasta
from microbiome_lm.data.toy import generate_toy_mirror
from microbiome_lm.data.toy.mirror import _checkpoint_configs

MODEL = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
CONFIG = validate_config({"encoding": {"max_taxa": 64}, "model": MODEL})
SMALL = validate_config({"encoding": {"max_taxa": 16}, "model": MODEL, "toy": {
    "n_taxa": 60, "n_hosts": 30, "n_halfvarson": 12, "n_hmp2": 10, "taxa_per_sample": 12,
    "embedding_dim": 8, "full_width": 64, "top_width": 16}})
IBD_ANSWERS = {"I do not have this condition": 0, "Self-diagnosed": 1,
               "Diagnosed by a medical professional (doctor, physician assistant)": 1,
               "Diagnosed by an alternative medicine practitioner": 1}


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("toy") / "mirror"
    generate_toy_mirror(out, CONFIG)
    return out


def _zip_arrays(path: Path) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(path) as archive:
        return {n: np.load(io.BytesIO(archive.read(n)), allow_pickle=False)
                for n in archive.namelist() if n.endswith(".npy")}


@pytest.fixture(scope="module")
def arrays(mirror) -> dict[str, np.ndarray]:
    return _zip_arrays(mirror / "dryad" / "microbiomedata.zip")


@pytest.fixture(scope="module")
def signal(mirror) -> dict:
    return json.loads((mirror / "planted_signal.json").read_text())


@pytest.fixture(scope="module")
def vocab(mirror) -> list[str]:
    return read_vocabulary_fasta(mirror / "dryad" / "seqs_.07_embed.fasta", CONFIG["toy"]["n_taxa"])


@pytest.fixture(scope="module")
def seqtab(mirror) -> pd.DataFrame:
    return pd.read_csv(mirror / "agp_metadata" / "seqtab_final_filter.07.txt", sep="\t", index_col=0)


@pytest.fixture(scope="module")
def seqtab_vocab(seqtab, vocab) -> pd.DataFrame:
    """The sequence table's vocabulary columns, in vocabulary order (what the host step rebuilds)."""
    return seqtab[vocab]


@pytest.fixture(scope="module")
def hosts_of(mirror, seqtab_vocab):
    """Map array rows to (host id, mapping row) through content -> run -> sample title -> host."""
    runs = pd.read_csv(mirror / "agp_metadata" / "err-to-qid.txt", sep="\t", index_col=0, dtype=str)
    mapping = pd.read_csv(mirror / "agp_metadata" / "AG_mapping.txt", sep="\t", index_col=0, dtype=str)
    by_key = {}
    for run, row in zip(seqtab_vocab.index, seqtab_vocab.to_numpy()):
        ids = np.flatnonzero(row)
        by_key.setdefault(row_content_key(ids, row[ids].astype(float)), []).append(run)

    def lookup(array: np.ndarray) -> pd.DataFrame:
        rows = []
        for sample in array:
            (run,) = by_key[row_content_key(*nonzero_taxa(sample))]
            rows.append(mapping.loc[runs.loc[run, "sample_title"]])
        return pd.DataFrame(rows)

    return lookup


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_rerun_writes_byte_identical_files(tmp_path):
    generate_toy_mirror(tmp_path / "first", SMALL)
    generate_toy_mirror(tmp_path / "second", SMALL)
    first, second = _files(tmp_path / "first"), _files(tmp_path / "second")
    assert len(first) == 13 and sorted(first) == sorted(second)
    assert [name for name in first if first[name] != second[name]] == []
    generate_toy_mirror(tmp_path / "other", validate_config({**SMALL, "toy": {**SMALL["toy"], "seed": 8}}))
    other = _files(tmp_path / "other")
    assert other["dryad/microbiomedata.zip"] != first["dryad/microbiomedata.zip"]


def test_every_published_name_is_present_with_the_published_zip_layout(mirror):
    expected = {"dryad": layout.DRYAD_FILES, "zenodo": layout.ZENODO_FILES,
                "agp_metadata": layout.HOST_METADATA_FILES, "cohorts": layout.COHORT_FILES}
    assert sorted(p.name for p in mirror.iterdir()) == sorted([*expected, "planted_signal.json"])
    for group, names in expected.items():
        assert sorted(p.name for p in (mirror / group).iterdir()) == sorted(names)
    for archive in ("microbiomedata.zip", "pretrainedmodels.zip", "ensemble.zip", "property_pathway_correlations.zip"):
        folder = "zenodo" if archive in layout.ZENODO_FILES else "dryad"
        with zipfile.ZipFile(mirror / folder / archive) as z:
            infos = z.infolist()
        assert [i.filename for i in infos] == sorted(layout.zip_members(archive))
        assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert sum(p.stat().st_size for p in mirror.rglob("*") if p.is_file()) < 8e6


def test_arrays_follow_the_published_conventions(arrays):
    toy = CONFIG["toy"]
    for name, label_name in layout.MICROBIOMEDATA_ARRAYS.items():
        array = arrays[name]
        top = "512" in name
        assert array.dtype == np.float64
        validate_coordinate_array(array, name, vocab_size=toy["n_taxa"],
                                  max_taxa=toy["top_width"] if top else toy["full_width"])
        counts = array[..., 1]
        assert np.all(counts == np.round(counts)) and np.all((counts > 0).sum(axis=1) >= 1)
        if label_name is not None:
            raw = arrays[label_name]
            assert raw.dtype == np.int64 and raw.shape == (len(array), 1)
    for full_name, top_name in (("total_IBD_otu.npy", "total_IBD_512.npy"),
                                ("fruitdata/FRUIT_FREQUENCY_all_otu.npy", "fruitdata/FRUIT_FREQUENCY_otu_512.npy"),
                                ("halfvarson_otu.npy", "halfvarson_512_otu.npy"),
                                ("train_encodings_1897.npy", "train_encodings_512.npy")):
        full, top = arrays[full_name], arrays[top_name]
        for row_full, row_top in zip(full, top):
            occupied = int((row_full[:, 1] > 0).sum())
            assert np.all(row_full[:occupied, 1] > 0) and not row_full[occupied:].any()  # packed at the front
            assert np.all(np.diff(row_full[:occupied, 0]) > 0)  # ascending vocabulary id
            np.testing.assert_array_equal(row_top, top_k_by_abundance(row_full, toy["top_width"]))


def test_labels_load_and_have_the_planted_prevalences(mirror, arrays, signal):
    with zipfile.ZipFile(mirror / "dryad" / "microbiomedata.zip") as z:
        z.extractall(mirror.parent / "extracted")
    folder = mirror.parent / "extracted"
    ibd = load_labels(folder / "total_IBD_label.npy", len(arrays["total_IBD_otu.npy"]))
    assert 0.2 <= ibd.mean() <= 0.35
    assert load_labels(folder / "halfvarson_IBD_labels.npy").mean() == pytest.approx(510 / 564, abs=0.02)
    assert load_labels(folder / "schirmer_IBD_labels.npy").mean() == pytest.approx(155 / 197, abs=0.03)
    for prefix in ("fruitdata/FRUIT_FREQUENCY", "vegdata/VEGETABLE_FREQUENCY"):
        category = load_labels(folder / f"{prefix}_all_label.npy")
        assert set(category) == {0, 1, 2, 3, 4}
        np.testing.assert_array_equal(load_labels(folder / f"{prefix}_binary24_labels.npy"), category >= 2)
        np.testing.assert_array_equal(load_labels(folder / f"{prefix}_binary34_labels.npy"), category >= 3)
    agp = len(arrays["train_encodings_1897.npy"]) + len(arrays["test_encodings_1897.npy"])
    assert agp == signal["sizes"]["agp_samples"]
    assert len(arrays["test_encodings_1897.npy"]) / agp == pytest.approx(0.15, abs=0.05)
    assert 0.5 <= len(ibd) / agp <= 0.7


def test_vocabulary_fasta_embeddings_and_16s_source(mirror, vocab):
    toy = CONFIG["toy"]
    emb = load_vocab_embeddings(mirror / "dryad" / "vocab_embeddings.npy")
    assert emb.shape == (toy["n_taxa"], toy["embedding_dim"]) and emb.dtype == np.float64
    assert len(set(vocab)) == len(vocab)
    shipped = {f.sequence: f for f in toy_16s.load_toy_16s()}
    assert all(seq in shipped and len(seq) == 150 for seq in vocab)
    phyla = {shipped[s].phylum for s in vocab}
    assert {"Firmicutes", "Bacteroidetes", "Proteobacteria", "Actinobacteria"} <= phyla


def test_embeddings_carry_phylum_structure(mirror, vocab):
    from sklearn.model_selection import cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    emb = np.load(mirror / "dryad" / "vocab_embeddings.npy")
    shipped = {f.sequence: f.phylum for f in toy_16s.load_toy_16s()}
    phylum = np.array([shipped[s] for s in vocab])
    common = np.isin(phylum, ["Firmicutes", "Bacteroidetes", "Proteobacteria", "Actinobacteria"])
    knn = cross_val_score(KNeighborsClassifier(5), emb[common], phylum[common], cv=5).mean()
    majority = max(np.unique(phylum[common], return_counts=True)[1]) / common.sum()
    assert knn > majority + 0.3


def test_vocabulary_ids_follow_descending_prevalence(seqtab, seqtab_vocab, vocab):
    prevalence = (seqtab_vocab.to_numpy() > 0).sum(axis=0)
    assert np.all(np.diff(prevalence) <= 0)
    for i in np.flatnonzero(np.diff(prevalence) == 0):  # GloVe vocab_count ties: by the word itself
        assert vocab[i] < vocab[i + 1]
    assert list(seqtab.columns[: len(vocab)]) != vocab  # DADA2 column order, not vocabulary order
    assert len(seqtab.columns) > len(vocab)  # the published table is the unfiltered one


def test_seqtab_is_written_as_r_write_table(mirror, seqtab):
    lines = (mirror / "agp_metadata" / "seqtab_final_filter.07.txt").read_text().splitlines()
    assert len(lines[0].split("\t")) == len(lines[1].split("\t")) - 1  # no header field above row names
    assert all(run.startswith("ERR") for run in seqtab.index) and list(seqtab.index) == sorted(seqtab.index)
    assert np.issubdtype(seqtab.to_numpy().dtype, np.integer)


def test_labelled_rows_match_the_sequence_table_by_content(arrays, seqtab_vocab):
    def keys(array):
        return sorted(row_content_key(*nonzero_taxa(row)) for row in array)

    table = sorted(row_content_key(np.flatnonzero(r), r[np.flatnonzero(r)].astype(float))
                   for r in seqtab_vocab.to_numpy())
    assert len(set(table)) == len(table)
    assert keys(np.concatenate([arrays["train_encodings_1897.npy"], arrays["test_encodings_1897.npy"]])) == table
    for name in ("total_IBD_otu.npy", "fruitdata/FRUIT_FREQUENCY_all_otu.npy",
                 "vegdata/VEGETABLE_FREQUENCY_all_otu.npy"):
        assert set(keys(arrays[name])) <= set(table)
    assert keys(np.concatenate([arrays["IBD_train_otu.npy"], arrays["IBD_test_otu.npy"]])) == \
        keys(arrays["total_IBD_otu.npy"])


def test_host_metadata_agrees_with_labels(arrays, hosts_of):
    ibd = hosts_of(arrays["total_IBD_otu.npy"])
    labels = arrays["total_IBD_label.npy"][:, 0]
    np.testing.assert_array_equal(ibd["IBD"].map(IBD_ANSWERS).to_numpy(), labels)
    assert ibd.groupby("HOST_SUBJECT_ID")["IBD"].nunique().max() == 1
    assert 1 < ibd["HOST_SUBJECT_ID"].value_counts().max() <= CONFIG["toy"]["max_samples_per_host"]
    train_hosts = set(hosts_of(arrays["IBD_train_otu.npy"])["HOST_SUBJECT_ID"])
    assert not train_hosts & set(hosts_of(arrays["IBD_test_otu.npy"])["HOST_SUBJECT_ID"])
    fruit = hosts_of(arrays["fruitdata/FRUIT_FREQUENCY_all_otu.npy"])
    answers = ["Never", "Rarely (a few times/month)", "Occasionally (1-2 times/week)",
               "Regularly (3-5 times/week)", "Daily"]
    np.testing.assert_array_equal(fruit["FRUIT_FREQUENCY"].map(answers.index).to_numpy(),
                                  arrays["fruitdata/FRUIT_FREQUENCY_all_label.npy"][:, 0])


def test_planted_taxa_are_prevalent(signal, seqtab_vocab):
    prevalence = (seqtab_vocab.to_numpy() > 0).mean(axis=0)
    planted = signal["ibd"]["enriched"] + signal["ibd"]["depleted"]
    assert len(planted) >= 10 and min(prevalence[planted]) >= 0.05
    diet = signal["fruit"]["up"] + signal["fruit"]["down"] + signal["vegetable"]["up"] + signal["vegetable"]["down"]
    assert not set(planted) & set(diet)


def test_cohort_asvs_map_onto_the_vocabulary_as_recorded(mirror, vocab, arrays, signal):
    overlap = {}
    for name, stem in (("halfvarson", "halfvarson_otu.npy"), ("hmp2", "schirmer_IBD_otu.npy")):
        records = read_fasta(mirror / "cohorts" / f"{name}_asvs.fasta")
        truth = signal["cohorts"][name]["asvs"]
        assert [n for n, _ in records] == [a["name"] for a in truth]
        assert len({s for _, s in records}) == len(records)
        for (_, seq), asv in zip(records, truth):
            if asv["kind"] == "novel":
                assert min(sum(a != b for a, b in zip(seq, v)) for v in vocab) >= 3
                continue
            source = vocab[asv["vocab_id"]]
            if asv["kind"] == "identical":
                assert seq == source
            elif asv["kind"] == "trimmed":
                assert source.startswith(seq) and len(seq) >= 0.9 * len(source)
            else:
                assert len(seq) == len(source) and sum(a != b for a, b in zip(seq, source)) == 1
        mapped = {a["vocab_id"] for a in truth if a["vocab_id"] is not None}
        observed = set(np.unique(arrays[stem][..., 0][arrays[stem][..., 1] > 0]).astype(int))
        assert observed == mapped
        assert not observed & set(signal["cohorts"][name]["absent_taxa"])
        overlap[name] = len(mapped) / len(truth)
        assert {a["kind"] for a in truth} == {"identical", "trimmed", "mismatch", "novel"}
    assert overlap["halfvarson"] > overlap["hmp2"] > 0.6


def test_pathway_table_plants_embedding_links(mirror, signal):
    with zipfile.ZipFile(mirror / "zenodo" / "property_pathway_correlations.zip") as z:
        text = z.read(layout.PATHWAY_TABLE_MEMBER).decode()
    header = text.splitlines()[0].split("\t")
    assert all(p.startswith("ko") and len(p) == 7 for p in header)
    table = pd.read_csv(io.StringIO(text), sep="\t", index_col=0)
    assert list(table.columns) == header and set(np.unique(table.to_numpy())) == {0, 1}
    rows = [int(name.removeprefix("embed")) - 1 for name in table.index]
    assert rows == sorted(rows) and 0.8 * CONFIG["toy"]["n_taxa"] < len(rows) < CONFIG["toy"]["n_taxa"]
    emb = np.load(mirror / "dryad" / "vocab_embeddings.npy")[rows]
    for link in signal["pathways"]["embedding_linked"]:
        r = np.corrcoef(table[link["pathway"]], emb[:, link["dimension"]])[0, 1]
        assert r * link["sign"] > 0.4
    noise = [abs(np.corrcoef(table[p], emb[:, 0])[0, 1]) for p in signal["pathways"]["noise"]]
    assert np.median(noise) < 0.1
    assert all(table[p].nunique() == 1 for p in signal["pathways"]["constant"])


def test_checkpoints_load_into_transformers(mirror):
    import torch
    from transformers import ElectraConfig, ElectraForPreTraining, ElectraForSequenceClassification

    toy = CONFIG["toy"]
    states = {}
    for archive, model_class in (("pretrainedmodels.zip", ElectraForPreTraining),
                                 ("ensemble.zip", ElectraForSequenceClassification)):
        with zipfile.ZipFile(mirror / "dryad" / archive) as z:
            for folder in sorted({n.split("/")[0] for n in z.namelist()}):
                raw = json.loads(z.read(f"{folder}/config.json"))
                config = ElectraConfig(**raw)
                assert (config.vocab_size, config.embedding_size, config.max_position_embeddings,
                        config.pad_token_id) == (toy["n_taxa"] + 3, toy["embedding_dim"], 65, 0)
                state = torch.load(io.BytesIO(z.read(f"{folder}/pytorch_model.bin")), weights_only=True)
                result = model_class(config).load_state_dict(state, strict=False)
                assert [k for k in result.missing_keys if not k.endswith("position_ids")] == []
                assert result.unexpected_keys == []
                assert ("id2label" in raw) == (archive == "ensemble.zip") and config.num_labels == 2
                states[folder] = state
    def same(a: str, b: str, key: str) -> bool:
        return torch.equal(states[a][key], states[b][key])

    epoch0, epoch105, epoch120 = (f"5head5layer_epoch{e}_disc" for e in (0, 105, 120))
    assert all(same(epoch0, epoch105, key) for key in states[epoch0])  # reference 13 #5
    assert not same("5head5layer_epoch15_disc", epoch120, "electra.encoder.layer.0.output.dense.weight")
    assert same("run1_epoch0_disc", epoch120, "electra.encoder.layer.1.attention.self.query.weight")  # frozen
    assert not same("run1_epoch0_disc", epoch120, "electra.embeddings.position_embeddings.weight")


def test_a_simple_baseline_recovers_the_planted_ibd_signal(arrays, signal, hosts_of):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import GroupKFold

    n_taxa = CONFIG["toy"]["n_taxa"]

    def features(array):
        dense = np.zeros((len(array), n_taxa))
        for i, row in enumerate(array):
            ids, counts = nonzero_taxa(row)
            dense[i, ids] = counts / counts.sum()
        return np.log10(dense + 1e-5)

    x, y = features(arrays["total_IBD_otu.npy"]), arrays["total_IBD_label.npy"][:, 0]
    hosts = hosts_of(arrays["total_IBD_otu.npy"])["HOST_SUBJECT_ID"].to_numpy()
    scores = np.zeros(len(y))
    for train, test in GroupKFold(n_splits=5).split(x, y, hosts):
        scores[test] = LogisticRegression(C=0.1, max_iter=2000).fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    agp = roc_auc_score(y, scores)
    model = LogisticRegression(C=0.1, max_iter=2000).fit(x, y)
    external = {stem: roc_auc_score(arrays[labels][:, 0], model.predict_proba(features(arrays[stem]))[:, 1])
                for stem, labels in (("halfvarson_otu.npy", "halfvarson_IBD_labels.npy"),
                                     ("schirmer_IBD_otu.npy", "schirmer_IBD_labels.npy"))}
    print(f"host-blocked AGP AUROC {agp:.3f}; external {external}")
    assert agp >= 0.8
    assert all(0.6 < auc < agp for auc in external.values())
    top10 = np.argsort(-np.abs(model.coef_[0]))[:10]
    assert len(set(top10) & set(signal["ibd"]["enriched"] + signal["ibd"]["depleted"])) >= 7


def test_cli_packs_trained_checkpoints_and_small_sizes_work(tmp_path):
    import torch
    from safetensors.torch import save_file

    trained = tmp_path / "trained"
    folder = trained / "ensemble" / "run3_epoch0_disc"
    folder.mkdir(parents=True)
    fitting = _checkpoint_configs(SMALL)["ensemble"]
    (folder / "config.json").write_text(json.dumps({**fitting, "summary_last_dropout": 0.2}))
    weights = {"classifier.out_proj.bias": torch.tensor([0.25, -0.25])}
    save_file(weights, str(folder / "model.safetensors"))
    config = tmp_path / "small.yaml"
    config.write_text(json.dumps({k: SMALL[k] for k in ("toy", "model", "encoding")}))  # JSON is YAML
    out = tmp_path / "out"
    assert main(["toy", "--configfile", str(config), "--out", str(out), "--checkpoints", str(trained)]) == 0
    signal = json.loads((out / "planted_signal.json").read_text())
    assert signal["real_checkpoints"] == {"pretrainedmodels": [], "ensemble": ["run3_epoch0_disc"]}
    with zipfile.ZipFile(out / "dryad" / "ensemble.zip") as z:
        assert json.loads(z.read("run3_epoch0_disc/config.json"))["summary_last_dropout"] == 0.2
        packed = torch.load(io.BytesIO(z.read("run3_epoch0_disc/pytorch_model.bin")), weights_only=True)
        assert torch.equal(packed["classifier.out_proj.bias"], weights["classifier.out_proj.bias"])
        assert json.loads(z.read("run4_epoch0_disc/config.json"))["summary_last_dropout"] == 0.1  # random
    small = _zip_arrays(out / "dryad" / "microbiomedata.zip")
    assert small["total_IBD_otu.npy"].shape[1:] == (64, 2) and small["total_IBD_512.npy"].shape[1:] == (16, 2)


def test_bad_inputs_fail_cleanly_and_leave_nothing(tmp_path):
    out = tmp_path / "out"
    too_narrow = validate_config({**SMALL, "toy": {**SMALL["toy"], "full_width": 8}})
    with pytest.raises(ConfigError, match="toy.full_width"):
        generate_toy_mirror(out, too_narrow)
    with pytest.raises(ConfigError, match="toy.n_taxa"):
        generate_toy_mirror(out, validate_config({**SMALL, "toy": {**SMALL["toy"], "n_taxa": 470}}))
    with pytest.raises(InputError, match="pretrainedmodels and/or ensemble"):
        generate_toy_mirror(out, SMALL, checkpoints_dir=tmp_path)
    broken = tmp_path / "trained" / "pretrainedmodels" / "5head5layer_epoch120_disc"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="config.json"):
        generate_toy_mirror(out, SMALL, checkpoints_dir=tmp_path / "trained")
    misfit = tmp_path / "misfit" / "ensemble" / "run1_epoch0_disc"
    misfit.mkdir(parents=True)
    (misfit / "config.json").write_text(json.dumps({**_checkpoint_configs(SMALL)["ensemble"], "hidden_size": 8}))
    with pytest.raises(InputError, match="hidden_size 8 .toy config: 32.*toy.checkpoints"):
        generate_toy_mirror(out, SMALL, checkpoints_dir=tmp_path / "misfit")
    assert list(tmp_path.glob("out*")) == [] and list(tmp_path.glob(".out*")) == []


def test_shipped_16s_subset(tmp_path):
    fragments = toy_16s.load_toy_16s()
    assert len(fragments) >= CONFIG["toy"]["n_taxa"] + 150
    assert all(len(f.sequence) == 150 and set(f.sequence) <= set("ACGT") for f in fragments)
    assert len({f.phylum for f in fragments}) >= 8
    assert toy_16s.v4_fragment("AAA" + "GTGCCAGCAGCCGCGGTAA" + "TACG" * 40) == ("TACG" * 40)[:150]
    assert toy_16s.v4_fragment("GTGCCAGCAGCCGCGGTAA" + "TACG" * 10) is None
    if not toy_16s.GOLD_FASTA.is_file():
        pytest.skip("Debian microbiomeutil-data is not installed; cannot check regeneration")
    toy_16s.write_subset(toy_16s.select_subset(toy_16s.read_gold(toy_16s.GOLD_FASTA)), tmp_path)
    for name in (toy_16s.FASTA_NAME, toy_16s.LINEAGE_NAME):
        assert (tmp_path / name).read_bytes() == (toy_16s.RESOURCE_DIR / name).read_bytes()
