"""Attribution: batched ablation equals the one-at-a-time loop, IG completeness, the ensemble score, the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from transformers import ElectraConfig, ElectraForSequenceClassification

from microbiome_lm.cli import main
from microbiome_lm.core.tokens import build_token_table
from microbiome_lm.interpret.attribution import (
    ABLATION_BASELINES,
    ablation_scores,
    ablation_scores_loop,
    integrated_gradients,
)
from microbiome_lm.interpret.ensemble import Ensemble
from microbiome_lm.model.checkpoint import save_checkpoint
from microbiome_lm.model.electra import EmbeddedElectra
from microbiome_lm.model.encoding import encode_samples

from .conftest import coordinate_rows

N_TAXA, DIM, MAX_TAXA = 30, 8, 12


def tiny_member(table, seed: int) -> EmbeddedElectra:
    torch.manual_seed(seed)
    config = ElectraConfig(vocab_size=table.size, embedding_size=table.dim, hidden_size=16, num_hidden_layers=1,
                           num_attention_heads=2, intermediate_size=32, max_position_embeddings=MAX_TAXA + 1,
                           num_labels=2, attn_implementation="sdpa", initializer_range=0.5)  # scores that move
    return EmbeddedElectra(ElectraForSequenceClassification(config), table).eval()


def random_samples(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    sizes = [0, 16, *rng.integers(1, 16, n - 2)]  # an empty sample and one beyond max_taxa
    return coordinate_rows([{int(t): int(rng.integers(1, 500)) for t in rng.choice(N_TAXA, k, replace=False)}
                            for k in sizes], width=16)


@pytest.fixture(scope="module")
def setup():
    table = build_token_table(np.random.default_rng(1).normal(size=(N_TAXA, DIM)), cls_init="zeros")
    ensemble = Ensemble([tiny_member(table, s) for s in (0, 1)])
    return table, ensemble, encode_samples(random_samples(9), table, MAX_TAXA)


@pytest.mark.parametrize("baseline", ABLATION_BASELINES)
def test_batched_ablation_equals_one_at_a_time(setup, baseline):
    table, ensemble, encoded = setup
    assert int(encoded.lengths.min()) == 1 and int(encoded.lengths.max()) == MAX_TAXA + 1  # empty and truncated
    base, ablated = ablation_scores(ensemble.probability, encoded, baseline, table.pad_id, table.mask_id,
                                    batch_rows=20)  # several samples per pass, several passes
    base_loop, ablated_loop = ablation_scores_loop(ensemble.probability, encoded, baseline, table.pad_id,
                                                   table.mask_id)
    np.testing.assert_allclose(base, base_loop, atol=1e-6)
    for i, (a, b) in enumerate(zip(ablated, ablated_loop)):
        assert a.shape == (int(encoded.lengths[i]) - 1,)
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert max(np.abs(base[i] - a).max(initial=0) for i, a in enumerate(ablated)) > 1e-3  # ablation matters


def test_delete_ablation_is_the_sample_without_the_taxon(setup):
    """Deleting position j = the same ids with j no longer attended (PAD slots behave the same)."""
    table, ensemble, encoded = setup
    i = int(torch.argmax(encoded.lengths))
    base, ablated = ablation_scores(ensemble.probability, encoded, "delete", table.pad_id, table.mask_id)
    ids = encoded.ids[i:i + 1].clone()
    mask = (ids != table.pad_id).long()
    mask[0, 3] = 0
    assert float(ensemble.probability(ids, mask)[0]) == pytest.approx(ablated[i][2], abs=1e-6)


def test_ensemble_score_is_the_mean_of_member_probabilities(setup):
    _, ensemble, encoded = setup
    ids, mask = encoded.ids, (encoded.ids != ensemble.pad_id).long()
    with torch.no_grad():
        members = [torch.softmax(m(ids, mask).logits, -1)[:, 1] for m in ensemble.members]
    np.testing.assert_allclose(ensemble.probability(ids, mask).numpy(), torch.stack(members).mean(0).numpy(),
                               atol=1e-6)


def test_integrated_gradients_completeness(setup):
    """Attributions of a sample sum to f(x) - f(baseline) (baseline: taxa replaced by the PAD row)."""
    table, ensemble, encoded = setup
    attributions, delta = integrated_gradients(ensemble, encoded, "pad", n_steps=64, batch_samples=4)
    ids, mask = encoded.ids, (encoded.ids != table.pad_id).long()
    baseline_ids = torch.where(mask.bool(), ids, ids).clone()
    baseline_ids[:, 1:][mask[:, 1:].bool()] = table.pad_id  # PAD rows, still attended
    gap = (ensemble.probability(ids, mask) - ensemble.probability(baseline_ids, mask)).numpy()
    sums = np.array([a.sum() for a in attributions])
    assert np.abs(gap).max() > 0.05
    np.testing.assert_allclose(sums, gap, atol=5e-3)
    assert np.abs(delta).max() < 5e-3


def test_attribute_command_writes_tidy_table(setup, tmp_path):
    table, ensemble, _ = setup
    members = []
    for k, member in enumerate(ensemble.members):
        members.append(str(save_checkpoint(tmp_path / f"member{k}", member, {"seed": k})))
    np.save(tmp_path / "vocab.npy", table.embeddings[:N_TAXA].astype(np.float64))
    samples, labels = random_samples(6, seed=3), np.array([[0], [1], [0], [1], [1], [0]])
    np.save(tmp_path / "x.npy", samples)
    np.save(tmp_path / "y.npy", labels)
    args = ["attribute", "--set", f"encoding.max_taxa={MAX_TAXA}", "--set", "interpret.attribution.ig_steps=8",
            "--members", *members, "--vocab-embeddings", str(tmp_path / "vocab.npy"),
            "--cohort", "agp", str(tmp_path / "x.npy"), str(tmp_path / "y.npy"), "--out", str(tmp_path / "a.tsv"),
            "--no-progress"]
    assert main(args) == 0
    frame = pd.read_csv(tmp_path / "a.tsv", sep="\t")
    assert list(frame.columns) == ["cohort", "sample", "label", "taxon", "method", "attribution", "base_score"]
    n_taxa = np.minimum((samples[..., 1] > 0).sum(axis=1), MAX_TAXA)
    for method in ("ablation", "integrated_gradients"):
        part = frame[frame["method"] == method]
        assert part.groupby("sample").size().reindex(range(6), fill_value=0).tolist() == n_taxa.tolist()
    assert frame["base_score"].between(0, 1).all()
    assert (frame["label"] == labels[frame["sample"], 0]).all()

    np.save(tmp_path / "bad.npy", labels[:4])  # labels for 4 of 6 samples
    args[args.index(str(tmp_path / "y.npy"))] = str(tmp_path / "bad.npy")
    args[args.index(str(tmp_path / "a.tsv"))] = str(tmp_path / "b.tsv")
    assert main(args) == 2
    assert not (tmp_path / "b.tsv").exists()
