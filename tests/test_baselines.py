"""Baselines: abundance tables, the unlabelled pool, and every method learning a planted signal."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from microbiome_lm.core.errors import InputError
from microbiome_lm.evaluate.baselines import (
    METHODS,
    BaselineInputs,
    default_params,
    fit_predict,
    relative_abundance,
    tataru_features,
    unlabelled_pool,
)

from .conftest import coordinate_rows

N_VOCAB = 60
SIGNAL = (0, 1, 2, 3)  # taxa abundant in class-1 samples, rare and scarce in class 0


def planted_cohort(n, seed, width=24):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.35).astype(int)
    samples = []
    for label in labels:
        taxa = rng.choice(np.arange(len(SIGNAL), N_VOCAB), int(rng.integers(8, 16)), replace=False)
        sample = {int(t): int(rng.integers(1, 200)) for t in taxa}
        for t in rng.choice(SIGNAL, 2, replace=False):
            if label and rng.random() < 0.9:
                sample[int(t)] = int(rng.integers(150, 400))
            elif rng.random() < 0.15:
                sample[int(t)] = int(rng.integers(1, 50))
        samples.append(sample)
    return coordinate_rows(samples, width), labels


@pytest.fixture(scope="module")
def data():
    embeddings = np.random.default_rng(0).normal(size=(N_VOCAB, 8))
    embeddings[list(SIGNAL), 0] += 3.0
    train, y_train = planted_cohort(300, 1)
    test, y_test = planted_cohort(200, 2)
    pool, _ = planted_cohort(200, 3)
    inputs = BaselineInputs(n_vocab=N_VOCAB, vocab_embeddings=embeddings, unlabelled=pool, n_jobs=1)
    return train, y_train, test, y_test, inputs


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run faster on one thread, and a busy 2-core machine stays responsive."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


GRID = {"n_estimators": [30], "max_features": ["sqrt"], "min_samples_leaf": [1, 3], "criterion": ["gini"],
        "cv_folds": 3}
FAST = {
    "rf": {"n_estimators": 50},
    "lr": {},
    "pca_rf": {"n_components": 10, "grid": GRID},
    "rp_rf": {"n_components": 30, "grid": GRID},
    "ae_rf": {"dims": [32, 16], "lr": 0.005, "max_epochs": 30, "patience": 5, "grid": GRID},
    "tataru": {},
    "static_head": {"epochs": 12},
}


def test_relative_abundance_rows_sum_to_one_and_round_like_the_original():
    arrays = coordinate_rows([{0: 1, 2: 2}, {1: 3, 4: 0}, {}], width=3)
    table = relative_abundance(arrays, 5)
    assert table.dtype == np.float32 and table.shape == (3, 5)
    assert np.allclose(table[:2].sum(axis=1), 1) and not table[2].any()
    assert table[0, 2] == pytest.approx(2 / 3)
    assert relative_abundance(arrays, 5, decimals=4)[0, 2] == pytest.approx(0.6667)
    only = relative_abundance(arrays, 5, columns=np.array([2]))
    assert only[:, 0] == pytest.approx([2 / 3, 0, 0])  # normalised over all taxa, then subset


def test_tataru_features_are_asinh_counts_times_embeddings():
    emb = np.arange(10.0).reshape(5, 2)
    arrays = coordinate_rows([{1: 3, 4: 10}], width=4)
    expected = np.arcsinh(3) * emb[1] + np.arcsinh(10) * emb[4]
    assert tataru_features(arrays, emb)[0] == pytest.approx(expected)


def test_unlabelled_pool_dedupes_and_excludes_labelled_rows():
    labelled = coordinate_rows([{1: 5, 2: 3}], width=4)
    candidates = np.stack([
        coordinate_rows([{2: 3, 1: 5}], width=6)[0][::-1],  # the labelled sample, other slot order and width
        coordinate_rows([{1: 5, 2: 4}], width=6)[0],  # same taxa, other counts: a different sample
        coordinate_rows([{3: 1}], width=6)[0],
        coordinate_rows([{3: 1}], width=6)[0],  # duplicate
        coordinate_rows([{}], width=6)[0],  # empty
    ])
    assert unlabelled_pool(candidates, [labelled]).tolist() == [1, 2]


@pytest.mark.parametrize("method", METHODS)
def test_method_learns_planted_signal(method, data):
    train, y_train, test, y_test, inputs = data
    scores = fit_predict(method, train, y_train, {"test": test, "train": train}, seed=1, inputs=inputs,
                         params=FAST[method], source="task planted")
    n_checkpoints = FAST[method].get("epochs", 1)
    assert scores["test"].shape == (n_checkpoints, len(y_test))
    assert scores["train"].shape == (n_checkpoints, len(y_train))
    assert ((scores["test"] >= 0) & (scores["test"] <= 1)).all()
    assert roc_auc_score(y_test, scores["test"][-1]) >= 0.8
    # trained on inverted labels the ranking inverts: the scores follow the labels, not a fixed direction
    flipped = fit_predict(method, train, 1 - y_train, {"test": test}, seed=1, inputs=inputs, params=FAST[method])
    assert roc_auc_score(y_test, flipped["test"][-1]) <= 0.3


@pytest.mark.parametrize("method", ["rf", "static_head"])
def test_same_seed_same_scores(method, data):
    train, y_train, test, _, inputs = data
    runs = [fit_predict(method, train, y_train, {"test": test}, seed=s, inputs=inputs, params=FAST[method])["test"]
            for s in (4, 4, 5)]
    assert np.array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_arrays_must_come_with_their_own_labels(data):
    train, y_train, test, _, inputs = data
    with pytest.raises(InputError, match="task ibd: 300 training samples but 299 labels"):
        fit_predict("rf", train, y_train[:-1], {"test": test}, seed=1, inputs=inputs, source="task ibd")


def test_embedding_methods_need_embeddings(data):
    train, y_train, test, _, inputs = data
    bare = BaselineInputs(n_vocab=N_VOCAB)
    with pytest.raises(InputError, match="vocab_embeddings.npy.*tataru"):
        fit_predict("tataru", train, y_train, {"test": test}, seed=1, inputs=bare)


def test_defaults_are_the_published_settings():
    assert default_params("tataru") == {"n_estimators": 50, "max_depth": 2, "positive_weight": 20}
    static = default_params("static_head")
    assert (static["epochs"], static["batch_size"], static["lr"], static["momentum"]) == (50, 32, 0.01, 0.9)
    assert default_params("pca_rf")["abundance_decimals"] == 4
    assert default_params("ae_rf")["patience"] == 20
