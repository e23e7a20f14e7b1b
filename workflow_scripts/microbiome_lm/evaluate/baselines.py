"""Baselines scored on the same splits as the transformer (reference 3 step 6, 8.1 and 9).

Every method reads coordinate-list arrays (``core.arrays``) and is called the same way::

    scores = fit_predict(method, train, y_train, {"val": ..., "test": ...}, seed=1, inputs=inputs)

``scores[name]`` is an ``(n_checkpoints, n_rows)`` array of p(class 1): one row for methods that
are fitted once, one row per epoch for ``static_head``, so epoch selection works as for the
transformer. Parameters come from the config section ``evaluation.baselines`` (schema defaults
when not given). Only scikit-learn and torch are used; DeepMicro's Keras models are rebuilt in torch.

* ``rf``, ``lr``: random forest / logistic regression on relative abundance.
* ``pca_rf``, ``rp_rf``, ``ae_rf``: DeepMicro-style representations (PCA, Gaussian random
  projection, autoencoder) fitted on the training rows plus unlabelled AGP samples, then a
  grid-searched random forest. The original fitted them on *all* labelled rows, test rows
  included; here eval rows never enter any fit.
* ``tataru``: ``asinh(counts) @ vocabulary embeddings`` and a depth-2 weighted forest.
* ``static_head``: the "static GloVe" model of the finetuning code, trained with its recipe.

Abundance features are restricted to the taxa observed in the rows a method is fitted on: a taxon
absent there carries no information for PCA, forests or logistic regression, and the full
26,726-column table of the real data would otherwise dominate memory.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedGroupKFold, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.random_projection import GaussianRandomProjection, johnson_lindenstrauss_min_dim
from torch import nn

from ..core.arrays import nonzero_taxa, row_content_key, validate_coordinate_array
from ..core.errors import ConfigError, InputError
from .splits import check_binary_labels

METHODS = ("rf", "lr", "pca_rf", "rp_rf", "ae_rf", "tataru", "static_head")
_GRID_METHODS = ("pca_rf", "rp_rf", "ae_rf")
_ABUNDANCE_METHODS = ("rf", "lr", *_GRID_METHODS)
Scores = dict[str, np.ndarray]


@dataclass
class BaselineInputs:
    """What the methods need besides the labelled rows.

    ``unlabelled``: coordinate-list pool for the representation methods (see :func:`unlabelled_pool`);
    ``groups``: host of each training row, so the inner cross-validation keeps hosts together.
    """

    n_vocab: int
    vocab_embeddings: np.ndarray | None = None
    unlabelled: np.ndarray | None = None
    groups: np.ndarray | None = None
    n_jobs: int = 1
    device: str = "cpu"


# --- tables from coordinate lists -------------------------------------------------------------

def count_matrix(arrays: np.ndarray, n_vocab: int, source: str = "samples") -> sparse.csr_matrix:
    """Sparse ``(n, n_vocab)`` read-count table of a coordinate-list array."""
    arrays = validate_coordinate_array(np.asarray(arrays), source, vocab_size=n_vocab)
    counts = arrays[..., 1]
    keep = counts > 0
    rows = np.broadcast_to(np.arange(arrays.shape[0])[:, None], keep.shape)[keep]
    ids = arrays[..., 0][keep].astype(np.int64)
    return sparse.csr_matrix((counts[keep], (rows, ids)), shape=(arrays.shape[0], n_vocab))


def relative_abundance(arrays: np.ndarray, n_vocab: int, *, decimals: int | None = None,
                       columns: np.ndarray | None = None, source: str = "samples") -> np.ndarray:
    """Dense float32 relative abundances, rows summing to 1 (DeepMicro's ``convert_data.py``).

    ``decimals`` rounds as the original did (4); ``columns`` keeps only those taxa, after the
    row totals were taken over all of them. Samples without reads stay all-zero.
    """
    counts = count_matrix(arrays, n_vocab, source)
    totals = np.asarray(counts.sum(axis=1)).ravel()
    table = sparse.diags(1 / np.where(totals > 0, totals, 1)) @ counts
    if columns is not None:
        table = table.tocsc()[:, columns]
    dense = table.toarray()
    if decimals is not None:
        dense = np.round(dense, decimals)
    return dense.astype(np.float32)


def observed_taxa(*arrays: np.ndarray) -> np.ndarray:
    """Sorted vocabulary ids with a positive count in any of ``arrays``."""
    ids = [a[..., 0][a[..., 1] > 0] for a in arrays]
    return np.unique(np.concatenate(ids)).astype(np.int64)


def unlabelled_pool(candidates: np.ndarray, labelled: Sequence[np.ndarray],
                    source: str = "unlabelled pool") -> np.ndarray:
    """Indices of ``candidates`` rows whose content is in no ``labelled`` array, each content once.

    DeepMicro's pretraining set (``get_unlabeled_pretraining_data.py``) compared id columns only
    and paired the IBD training rows with the labels of all IBD rows (reference 13 #23); rows are
    keyed here by ids *and* counts, and labels stay with the arrays they came with. Empty rows
    are dropped.
    """
    candidates = validate_coordinate_array(np.asarray(candidates), source)
    seen = {row_content_key(*nonzero_taxa(row)) for array in labelled for row in array}
    keep = []
    for index, row in enumerate(candidates):
        ids, counts = nonzero_taxa(row)
        key = row_content_key(ids, counts)
        if ids.size and key not in seen:
            seen.add(key)
            keep.append(index)
    return np.asarray(keep, dtype=np.int64)


# --- shared pieces ----------------------------------------------------------------------------

def _abundance_features(train, evals, inputs: BaselineInputs, decimals, with_pool: bool):
    """Relative abundance of the training rows, the eval sets and (optionally) the unlabelled pool."""
    pool = inputs.unlabelled if with_pool else None
    columns = observed_taxa(train, *([] if pool is None else [pool]))
    table = functools.partial(relative_abundance, n_vocab=inputs.n_vocab, decimals=decimals, columns=columns)
    return (table(train), {name: table(rows, source=f"eval set {name}") for name, rows in evals.items()},
            None if pool is None else table(pool, source="unlabelled pool"))


def _one_row(model, features: Mapping[str, np.ndarray]) -> Scores:
    return {name: model.predict_proba(x)[:, 1][None, :].astype(np.float64) for name, x in features.items()}


def _grid_forest(x: np.ndarray, y: np.ndarray, seed: int, inputs: BaselineInputs, grid: Mapping, source: str):
    """DeepMicro's classifier: RF grid search scored by AUROC over (host-grouped) stratified folds."""
    folds = grid["cv_folds"]
    if np.bincount(y).min() < folds:
        raise InputError(source, f"{np.bincount(y).min()} samples in the smaller class are too few for "
                                 f"{folds}-fold cross-validation (evaluation.baselines.rf_grid.cv_folds)")
    cv = (StratifiedGroupKFold(folds, shuffle=True, random_state=seed) if inputs.groups is not None
          else StratifiedKFold(folds, shuffle=True, random_state=seed))
    param_grid = {k: list(v) for k, v in grid.items() if k != "cv_folds"}
    search = GridSearchCV(RandomForestClassifier(random_state=seed, n_jobs=inputs.n_jobs), param_grid,
                          scoring="roc_auc", cv=cv, n_jobs=1, error_score="raise")
    return search.fit(x, y, groups=inputs.groups).best_estimator_


# --- methods ----------------------------------------------------------------------------------

def _rf(train, y, evals, seed, inputs, source, *, n_estimators, max_features, min_samples_leaf, class_weight,
        abundance_decimals) -> Scores:
    x, features, _ = _abundance_features(train, evals, inputs, abundance_decimals, with_pool=False)
    model = RandomForestClassifier(n_estimators=n_estimators, max_features=max_features,
                                   min_samples_leaf=min_samples_leaf, class_weight=class_weight, random_state=seed,
                                   n_jobs=inputs.n_jobs).fit(x, y)
    return _one_row(model, features)


def _lr(train, y, evals, seed, inputs, source, *, C, standardize, class_weight, max_iter, abundance_decimals) -> Scores:
    x, features, _ = _abundance_features(train, evals, inputs, abundance_decimals, with_pool=False)
    steps = [StandardScaler()] if standardize else []
    model = make_pipeline(*steps, LogisticRegression(C=C, class_weight=class_weight, max_iter=max_iter,
                                                     random_state=seed)).fit(x, y)
    return _one_row(model, features)


def _representation_then_forest(train, y, evals, seed, inputs, source, grid, decimals,
                                fit_transform: Callable[[np.ndarray], Callable[[np.ndarray], np.ndarray]]) -> Scores:
    """Fit a representation on training + unlabelled rows, encode everything, grid-search a forest."""
    x, features, pool = _abundance_features(train, evals, inputs, decimals, with_pool=True)
    encode = fit_transform(x if pool is None else np.vstack([x, pool]))
    model = _grid_forest(encode(x), y, seed, inputs, grid, source)
    return _one_row(model, {name: encode(v) for name, v in features.items()})


def _pca_rf(train, y, evals, seed, inputs, source, *, n_components, grid, abundance_decimals) -> Scores:
    n_components = n_components if n_components < 1 else int(n_components)

    def fit(x):
        pca = PCA(n_components=n_components, svd_solver="full" if n_components < 1 else "auto", random_state=seed)
        return pca.fit(x).transform

    return _representation_then_forest(train, y, evals, seed, inputs, source, grid, abundance_decimals, fit)


def _rp_rf(train, y, evals, seed, inputs, source, *, n_components, eps, grid, abundance_decimals) -> Scores:
    def fit(x):
        dims = n_components or int(johnson_lindenstrauss_min_dim(x.shape[0], eps=eps))
        if dims > x.shape[1]:
            raise ConfigError("evaluation.baselines.rp_rf",
                              f"{dims} projection dimensions (eps {eps}, {x.shape[0]} rows) exceed the "
                              f"{x.shape[1]} observed taxa; set n_components")
        return GaussianRandomProjection(n_components=dims, random_state=seed).fit(x).transform

    return _representation_then_forest(train, y, evals, seed, inputs, source, grid, abundance_decimals, fit)


class AutoEncoder(nn.Module):
    """DeepMicro's symmetric dense autoencoder: relu hidden layers, linear code and output, Glorot init."""

    def __init__(self, n_inputs: int, dims: Sequence[int]):
        super().__init__()
        widths = [n_inputs, *dims]
        self.encoder = self._stack(widths)
        self.decoder = self._stack(widths[::-1])
        for layer in self.modules():
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    @staticmethod
    def _stack(widths: Sequence[int]) -> nn.Sequential:
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
            layers.append(nn.Linear(a, b))
            if i < len(widths) - 2:
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


def _batches(n: int, size: int, order: torch.Tensor | None = None):
    order = torch.arange(n) if order is None else order
    return (order[i:i + size] for i in range(0, n, size))


def train_autoencoder(x: np.ndarray, *, dims, lr, batch_size, max_epochs, patience, val_frac, seed,
                      device: str = "cpu") -> AutoEncoder:
    """Adam on MSE with early stopping on a held-out slice; returns the best epoch's model (eval mode)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoEncoder(x.shape[1], dims).to(device)
        data = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
        order = torch.randperm(data.shape[0])
        n_val = max(1, int(data.shape[0] * val_frac))
        held, fit = data[order[:n_val]], data[order[n_val:]]
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        best, best_state, waited = np.inf, copy.deepcopy(model.state_dict()), 0
        for _ in range(max_epochs):
            model.train()
            for idx in _batches(fit.shape[0], batch_size, torch.randperm(fit.shape[0])):
                batch = fit[idx].to(device)
                loss = nn.functional.mse_loss(model(batch), batch)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                held_loss = sum(nn.functional.mse_loss(model(chunk), chunk, reduction="sum").item()
                                for chunk in (held[i].to(device) for i in _batches(held.shape[0], 4096)))
            held_loss /= held.numel()
            if held_loss < best:
                best, best_state, waited = held_loss, copy.deepcopy(model.state_dict()), 0
            else:
                waited += 1
                if waited >= patience:
                    break
    model.load_state_dict(best_state)
    return model.eval()


def _ae_rf(train, y, evals, seed, inputs, source, *, dims, lr, batch_size, max_epochs, patience, val_frac, grid,
           abundance_decimals) -> Scores:
    def fit(x):
        encoder = train_autoencoder(x, dims=dims, lr=lr, batch_size=batch_size, max_epochs=max_epochs,
                                    patience=patience, val_frac=val_frac, seed=seed, device=inputs.device).encoder

        def encode(rows):
            with torch.no_grad():
                data = torch.from_numpy(rows)
                return np.concatenate([encoder(data[i].to(inputs.device)).cpu().numpy()
                                       for i in _batches(data.shape[0], 4096)])
        return encode

    return _representation_then_forest(train, y, evals, seed, inputs, source, grid, abundance_decimals, fit)


def _require_embeddings(inputs: BaselineInputs, method: str) -> np.ndarray:
    if inputs.vocab_embeddings is None:
        raise InputError("vocab_embeddings.npy", f"baseline {method} needs the vocabulary embeddings")
    emb = np.asarray(inputs.vocab_embeddings, dtype=np.float64)
    if emb.ndim != 2 or emb.shape[0] != inputs.n_vocab:
        raise InputError("vocab_embeddings.npy", f"expected ({inputs.n_vocab}, dim) embeddings, found {emb.shape}")
    return emb


def tataru_features(arrays: np.ndarray, embeddings: np.ndarray, source: str = "samples") -> np.ndarray:
    """``asinh(read counts) @ embeddings`` per sample (Tataru & David 2020, reference 3 step 6)."""
    counts = count_matrix(arrays, embeddings.shape[0], source)
    counts.data = np.arcsinh(counts.data)
    return np.asarray(counts @ embeddings)


def _tataru(train, y, evals, seed, inputs, source, *, n_estimators, max_depth, positive_weight) -> Scores:
    emb = _require_embeddings(inputs, "tataru")
    model = RandomForestClassifier(n_estimators=n_estimators, max_depth=max_depth,
                                   class_weight={0: 1, 1: positive_weight}, random_state=seed,
                                   n_jobs=inputs.n_jobs).fit(tataru_features(train, emb), y)
    return _one_row(model, {name: tataru_features(v, emb, f"eval set {name}") for name, v in evals.items()})


class StaticEmbeddingHead(nn.Module):
    """The ``--use_static_embeddings`` model of the finetuning code (reference 8.1).

    Sample vector = abundance-weighted mean of the frozen vocabulary embeddings, where CLS takes
    part with abundance 1 and a zero vector (so the denominator is total reads + 1), then
    Linear(d, 2d) and the ELECTRA classification head: dropout, dense 2d->2d, gelu, dropout, out_proj 2d->2.
    """

    def __init__(self, embeddings: np.ndarray, dropout: float):
        super().__init__()
        dim = embeddings.shape[1]
        self.register_buffer("embeddings", torch.as_tensor(embeddings, dtype=torch.float32))
        self.projection = nn.Linear(dim, 2 * dim)
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(2 * dim, 2 * dim)
        self.out_proj = nn.Linear(2 * dim, 2)

    def pool(self, ids: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        weighted = (self.embeddings[ids] * counts.unsqueeze(-1)).sum(dim=1)
        return weighted / (counts.sum(dim=1, keepdim=True) + 1.0)

    def classify(self, pooled: torch.Tensor) -> torch.Tensor:
        x = self.dropout(self.projection(pooled))
        x = self.dropout(nn.functional.gelu(self.dense(x)))
        return self.out_proj(x)

    def forward(self, ids: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
        return self.classify(self.pool(ids, counts))


def _slots(arrays: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.as_tensor(arrays[..., 0], dtype=torch.long), torch.as_tensor(arrays[..., 1], dtype=torch.float32)


def _static_head(train, y, evals, seed, inputs, source, *, epochs, batch_size, lr, momentum, dropout,
                 input_dropout) -> Scores:
    """Published recipe: MSE on softmax p(class 1), SGD with momentum, class-balanced sampling with replacement."""
    emb = _require_embeddings(inputs, "static_head")
    device = inputs.device
    ids, counts = _slots(train)
    labels = torch.as_tensor(y, dtype=torch.float32)
    sample_weight = torch.as_tensor(y.size / np.bincount(y)[y], dtype=torch.float64)
    out: dict[str, list[np.ndarray]] = {name: [] for name in evals}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = StaticEmbeddingHead(emb, dropout).to(device)
        with torch.no_grad():
            pooled_evals = {name: model.pool(*(t.to(device) for t in _slots(v))) for name, v in evals.items()}
        optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
        for _ in range(epochs):
            model.train()
            draws = torch.multinomial(sample_weight, y.size, replacement=True)  # == WeightedRandomSampler
            for idx in _batches(y.size, batch_size, draws):
                batch_counts = counts[idx]
                if input_dropout > 0:
                    batch_counts = batch_counts * (torch.rand(batch_counts.shape) >= input_dropout)
                prob = torch.softmax(model(ids[idx].to(device), batch_counts.to(device)), dim=1)[:, 1]
                loss = nn.functional.mse_loss(prob, labels[idx].to(device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                for name, pooled in pooled_evals.items():
                    prob = torch.softmax(model.classify(pooled), dim=1)[:, 1]
                    out[name].append(prob.cpu().numpy().astype(np.float64))
    return {name: np.stack(rows) for name, rows in out.items()}


_METHOD_FUNCTIONS: dict[str, Callable[..., Scores]] = {
    "rf": _rf, "lr": _lr, "pca_rf": _pca_rf, "rp_rf": _rp_rf, "ae_rf": _ae_rf, "tataru": _tataru,
    "static_head": _static_head,
}


# --- parameters and the common entry point ----------------------------------------------------

def method_params(baselines: Mapping, method: str) -> dict:
    """Keyword parameters of ``method`` from a validated ``evaluation.baselines`` config section."""
    if method not in METHODS:
        raise ValueError(f"unknown baseline {method!r}; known: {list(METHODS)}")
    params = copy.deepcopy(dict(baselines[method]))
    if method in _GRID_METHODS:
        params["grid"] = copy.deepcopy(dict(baselines["rf_grid"]))
    if method in _ABUNDANCE_METHODS:
        params["abundance_decimals"] = baselines["abundance_decimals"]
    return params


@functools.lru_cache(maxsize=1)
def _schema_baselines() -> dict:
    from ..config import validate_config

    return validate_config({})["evaluation"]["baselines"]


def default_params(method: str) -> dict:
    """The schema defaults of ``method`` (the paper's settings where it had them)."""
    return method_params(_schema_baselines(), method)


def fit_predict(method: str, train: np.ndarray, y_train: np.ndarray, eval_sets: Mapping[str, np.ndarray], *,
                seed: int, inputs: BaselineInputs, params: Mapping | None = None,
                source: str = "training set") -> Scores:
    """Fit ``method`` on the labelled training rows and score every eval set (see module docstring).

    ``params`` overrides single keys of :func:`default_params`; ``source`` names the task in errors.
    """
    merged = {**default_params(method), **(params or {})}
    y = check_binary_labels(y_train, source)
    train = validate_coordinate_array(np.asarray(train), source, vocab_size=inputs.n_vocab)
    if train.shape[0] != y.size:
        raise InputError(source, f"{train.shape[0]} training samples but {y.size} labels")
    if inputs.groups is not None and len(inputs.groups) != y.size:
        raise InputError(source, f"{len(inputs.groups)} host groups for {y.size} training samples")
    evals = {name: validate_coordinate_array(np.asarray(v), f"eval set {name}", vocab_size=inputs.n_vocab)
             for name, v in eval_sets.items()}
    return _METHOD_FUNCTIONS[method](train, y, evals, seed, inputs, source, **merged)
