"""Clusterability recovers planted clusters in the original space and stays at chance otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd

from microbiome_lm.interpret.clusterability import clusterability
from microbiome_lm.interpret.taxa import top_taxa


def planted_world(n_per: int = 30, seed: int = 0):
    """Three phyla as separated blobs in one space, the same labels scattered at random in another."""
    rng = np.random.default_rng(seed)
    phyla = np.repeat(["Firmicutes", "Bacteroidetes", "Proteobacteria"], n_per)
    centres = {"Firmicutes": 0.0, "Bacteroidetes": 8.0, "Proteobacteria": 16.0}
    clustered = np.array([[centres[p], -centres[p]] for p in phyla]) + rng.normal(size=(len(phyla), 2))
    scattered = rng.normal(size=(len(phyla), 2))
    genus = np.where(np.arange(len(phyla)) % 2 == 0, "GenusA", None)  # half unassigned (NA)
    taxonomy = pd.DataFrame({"Phylum": phyla, "Genus": genus}, index=pd.RangeIndex(len(phyla), name="taxon"))
    return {"contextual": clustered, "vocabulary": scattered}, taxonomy


def test_planted_clusters_are_recovered_and_random_ones_are_not():
    spaces, taxonomy = planted_world()
    taxa = np.arange(len(taxonomy))
    table = clusterability(spaces, taxonomy, taxa, ["Phylum"], n_init=4, repeats=2, seed=1).set_index("space")
    assert table.loc["contextual", "ari_mean"] > 0.95 and table.loc["contextual", "nmi_mean"] > 0.9
    assert table.loc["vocabulary", "ari_mean"] < 0.2
    assert abs(table.loc["contextual (shuffled labels)", "ari_mean"]) < 0.2
    assert table.loc["contextual", "n_clusters"] == 3 and table.loc["contextual", "n_taxa"] == 90


def test_ranks_with_one_label_are_skipped_and_unassigned_taxa_left_out():
    spaces, taxonomy = planted_world()
    table = clusterability(spaces, taxonomy, np.arange(len(taxonomy)), ["Phylum", "Genus"], n_init=2, repeats=1)
    assert set(table["rank"]) == {"Phylum"}  # Genus: one label among the assigned taxa


def test_top_taxa_by_occurrence_keeps_taxon_zero_and_skips_unseen():
    stats = pd.DataFrame({"taxon": [0, 1, 2, 3], "count": [9, 0, 9, 4]})
    assert top_taxa(stats, 2).tolist() == [0, 2]
    assert top_taxa(stats, None).tolist() == [0, 2, 3]


def test_spaces_must_cover_the_same_taxa(tmp_path):
    """tsne and clusterability load both spaces through load_spaces: a row-count mismatch names the file."""
    import numpy as np
    import pytest as _pytest

    from microbiome_lm.core.errors import InputError
    from microbiome_lm.interpret.taxa import load_spaces

    np.save(tmp_path / "avg.npy", np.zeros((5, 3, 2), dtype=np.float32))
    np.save(tmp_path / "vocab.npy", np.zeros((4, 3)))
    with _pytest.raises(InputError, match="vocab.npy.*4 taxa, the contextual embeddings have 5"):
        load_spaces(tmp_path / "avg.npy", tmp_path / "vocab.npy")
    np.save(tmp_path / "vocab.npy", np.ones((5, 3)))
    spaces = load_spaces(tmp_path / "avg.npy", tmp_path / "vocab.npy")
    assert list(spaces) == ["contextual", "vocabulary"] and spaces["contextual"].shape == (5, 3)
