"""Averaged contextual embeddings: the (n_vocab, hidden, 2) NaN contract, a direct loop, the statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import ElectraConfig, ElectraForPreTraining

from microbiome_lm.cli import main
from microbiome_lm.core.tokens import build_token_table
from microbiome_lm.interpret.contextual import abundance_variance, accumulate, summarise
from microbiome_lm.model.checkpoint import save_checkpoint
from microbiome_lm.model.electra import Discriminator
from microbiome_lm.model.encoding import attention_mask, encode_samples

from .conftest import coordinate_rows

N_TAXA, DIM, MAX_TAXA, HIDDEN = 25, 6, 8, 12


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(4)
    table = build_token_table(rng.normal(size=(N_TAXA, DIM)))
    torch.manual_seed(0)
    config = ElectraConfig(vocab_size=table.size, embedding_size=DIM, hidden_size=HIDDEN, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=16, max_position_embeddings=MAX_TAXA + 1)
    model = Discriminator(ElectraForPreTraining(config), table).eval()
    # taxa 20..24 never occur; sample 0 holds more taxa than max_taxa
    samples = [{int(t): int(rng.integers(1, 100)) for t in rng.choice(20, int(k), replace=False)}
               for k in [12, *rng.integers(1, 8, 6)]]
    array = coordinate_rows(samples, width=14)
    labels = np.array([1, 0, 1, 0, 0, 1, 1])
    return table, model, array, labels


def direct_loop(model, table, array, labels):
    """Per sample, per position: the reference the vectorised accumulation must match."""
    encoded = encode_samples(array, table, MAX_TAXA)
    per_taxon: dict[int, list] = {}
    with torch.no_grad():
        for i in range(len(array)):
            n = int(encoded.lengths[i])
            ids = encoded.ids[i:i + 1, :n]
            states = model.encode(ids, attention_mask(ids, table.pad_id))[0]
            for pos in range(1, n):
                per_taxon.setdefault(int(ids[0, pos]), []).append((states[pos].numpy(), states[0].numpy(), labels[i]))
    return per_taxon


def test_average_matches_a_direct_loop_and_nan_contract(setup):
    table, model, array, labels = setup
    encoded = encode_samples(array, table, MAX_TAXA)
    acc = accumulate(torch.no_grad()(model.encode), encoded, labels, table.n_vocab, table.pad_id, batch_size=3)
    average, stats = summarise(acc, abundance_variance(array, MAX_TAXA, table.n_vocab))
    assert average.shape == (N_TAXA, HIDDEN, 2) and average.dtype == np.float32
    reference = direct_loop(model, table, array, labels)
    for taxon in range(N_TAXA):
        if taxon not in reference:
            assert np.isnan(average[taxon]).all() and stats.loc[taxon, "count"] == 0
            continue
        x = np.stack([r[0] for r in reference[taxon]])
        cls = np.stack([r[1] for r in reference[taxon]])
        np.testing.assert_allclose(average[taxon, :, 0], x.mean(0), atol=1e-5)
        np.testing.assert_allclose(average[taxon, :, 1], (x**2).mean(0), atol=1e-5)
        row = stats.loc[taxon]
        assert row["count"] == len(x)
        assert row["positive_fraction"] == pytest.approx(np.mean([r[2] for r in reference[taxon]]))
        assert row["taxon_dim_variance"] == pytest.approx(x.var(0).mean(), abs=1e-5)
        assert row["cls_dim_variance"] == pytest.approx(cls.var(0).mean(), abs=1e-5)
    assert set(range(20, 25)).isdisjoint(reference)  # the unseen taxa really are unseen
    assert stats["count"].sum() == int(encoded.lengths.sum()) - len(array)  # every encoded occurrence, no more


def test_abundance_variance_over_encoded_occurrences():
    array = coordinate_rows([{0: 10, 1: 30}, {0: 50, 1: 50}, {1: 5, 2: 1, 3: 1}], width=4)
    var = abundance_variance(array, max_taxa=2, n_vocab=5)
    np.testing.assert_allclose(var[0], np.var([0.25, 0.5]))
    np.testing.assert_allclose(var[1], np.var([0.75, 0.5, 5 / 7]))
    assert var[2] == pytest.approx(0.0)  # taxon 2 kept (tie with 3 broken by id), taxon 3 cut by max_taxa
    assert np.isnan(var[3]) and np.isnan(var[4])


def test_avg_embeddings_command_with_pretrained_model(setup, tmp_path):
    table, model, array, labels = setup
    save_checkpoint(tmp_path / "disc", model, {"seed": 0})
    np.save(tmp_path / "x.npy", array)
    np.save(tmp_path / "y.npy", labels[:, None])
    np.save(tmp_path / "vocab.npy", table.embeddings[:N_TAXA].astype(np.float64))
    args = ["avg-embeddings", "--set", f"encoding.max_taxa={MAX_TAXA}",
            "--set", "interpret.contextual.model=pretrained",
            "--pretrained", str(tmp_path / "disc"), "--vocab-embeddings", str(tmp_path / "vocab.npy"),
            "--samples", str(tmp_path / "x.npy"), "--labels", str(tmp_path / "y.npy"),
            "--out", str(tmp_path / "avg.npy"), "--stats", str(tmp_path / "stats.tsv"), "--no-progress"]
    assert main(args) == 0
    average = np.load(tmp_path / "avg.npy")
    seen = np.isin(np.arange(N_TAXA), encode_samples(array, table, MAX_TAXA).ids.numpy())  # encoded taxa only
    assert average.shape == (N_TAXA, HIDDEN, 2) and not seen[20:].any()
    assert np.isnan(average[~seen]).all() and not np.isnan(average[seen]).any()
    stats = pd.read_csv(tmp_path / "stats.tsv", sep="\t")
    assert ((stats["count"] > 0) == seen).all()
    assert (average[seen, :, 1] >= average[seen, :, 0] ** 2 - 1e-5).all()  # mean of squares >= square of mean
    # asking for the ensemble without members is an input error, and nothing is written
    args[args.index("interpret.contextual.model=pretrained")] = "interpret.contextual.model=ensemble"
    args[args.index(str(tmp_path / "avg.npy"))] = str(tmp_path / "avg2.npy")
    assert main(args) == 2
    assert not (tmp_path / "avg2.npy").exists()
