"""The coordinate-list contract: malformed arrays fail with file, row and problem named."""

from __future__ import annotations

import numpy as np
import pytest

from microbiome_lm.core.arrays import load_coordinate_array, load_labels, top_k_by_abundance
from microbiome_lm.core.errors import InputError

from .conftest import coordinate_rows


@pytest.fixture()
def good(tmp_path):
    arr = coordinate_rows([{0: 5, 3: 2}, {1: 7, 2: 7, 4: 1}], width=4)
    path = tmp_path / "good.npy"
    np.save(path, arr)
    return path, arr


def test_good_array_loads(good):
    path, arr = good
    np.testing.assert_array_equal(load_coordinate_array(path, vocab_size=5, max_taxa=4), arr)


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda a: a.__setitem__((1, 0, 0), 2.5), r"row 1, slot 0: vocabulary id is not an integer"),
        (lambda a: a.__setitem__((0, 1, 0), 9), r"row 0, slot 1: vocabulary id is outside the vocabulary"),
        (lambda a: a.__setitem__((1, 2, 1), -3), r"row 1, slot 2: abundance is negative"),
        (lambda a: a.__setitem__((0, 0, 1), np.nan), r"row 0, slot 0: abundance is not finite"),
    ],
)
def test_malformed_values_name_file_and_row(tmp_path, good, mutate, message):
    _, arr = good
    bad = arr.copy()
    mutate(bad)
    path = tmp_path / "bad.npy"
    np.save(path, bad)
    with pytest.raises(InputError, match=message) as err:
        load_coordinate_array(path, vocab_size=5)
    assert str(path) in str(err.value)


def test_wrong_shape_and_width(tmp_path, good):
    path = tmp_path / "flat.npy"
    np.save(path, np.zeros((3, 4)))
    with pytest.raises(InputError, match=r"expected shape \(n_samples, max_taxa, 2\)"):
        load_coordinate_array(path)
    with pytest.raises(InputError, match="expected 512 taxa per sample"):
        load_coordinate_array(good[0], max_taxa=512)


def test_pickled_object_array_is_refused(tmp_path):
    path = tmp_path / "obj.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="not a readable .npy array"):
        load_coordinate_array(path)


def test_labels_must_match_samples(tmp_path):
    path = tmp_path / "labels.npy"
    np.save(path, np.array([[0], [1], [1]]))
    assert load_labels(path, n_samples=3).tolist() == [0, 1, 1]
    with pytest.raises(InputError, match="3 labels for 2 samples"):
        load_labels(path, n_samples=2)


def test_top_k_is_descending_with_stable_id_tie_break():
    row = coordinate_rows([{7: 3, 2: 3, 5: 10, 1: 1}], width=6)[0]
    top = top_k_by_abundance(row, 3)
    assert top[:, 0].tolist() == [5, 2, 7]
    assert top[:, 1].tolist() == [10, 3, 3]
