"""Mapping onto the vocabulary (exact, contained, vsearch at >= 99 %, BLAST) and the coverage report."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from scipy import sparse

from microbiome_lm.core.errors import InputError
from microbiome_lm.data.fasta import read_fasta
from microbiome_lm.embed.coverage import coverage_report, vocabulary_counts
from microbiome_lm.embed.mapping import map_to_vocabulary
from microbiome_lm.embed.readers import FeatureTable

from .conftest import REPO, requires_blast, requires_vsearch

# Real 150-nt V4 fragments; the first 60 play the vocabulary, the next one a sequence absent from it.
FRAGMENTS = [seq for _, seq in read_fasta(REPO / "resources" / "toy_16s" / "toy_16s.fasta")]
VOCAB = FRAGMENTS[:60]


def _substitute(sequence: str, positions: list[int]) -> str:
    chars = list(sequence)
    for p in positions:
        chars[p] = "A" if chars[p] != "A" else "C"
    return "".join(chars)


def _min_mismatches(sequence: str) -> int:
    return min(sum(a != b for a, b in zip(sequence, v)) for v in VOCAB if len(v) == len(sequence))


CASES = {
    "exact": (VOCAB[7], 7, "exact"),
    "shorter": (VOCAB[11][:-9], 11, "contained"),
    "longer": (VOCAB[12] + "ACGTACGTAC", 12, "contained"),
    "one_mismatch": (_substitute(VOCAB[20], [75]), 20, None),  # 149/150 = 99.3 %
    "trimmed_mismatch": (_substitute(VOCAB[21][:-8], [40]), 21, None),  # 141/142 = 99.3 %
    "three_percent": (_substitute(VOCAB[30], [10, 40, 70, 100, 130]), -1, "unmapped"),  # 145/150 = 96.7 %
    "absent": (FRAGMENTS[200], -1, "unmapped"),
    "too_short": (VOCAB[5][:60], -1, "unmapped"),  # contained, but below min_overlap
}


def _map(search):
    names = list(CASES)
    return map_to_vocabulary(names, [CASES[n][0] for n in names], VOCAB, identity=0.99, min_overlap=100,
                             search=search).set_index("feature_id")


def test_case_sequences_are_what_they_claim():
    assert _min_mismatches(CASES["one_mismatch"][0]) == 1
    assert _min_mismatches(CASES["three_percent"][0]) >= 4
    assert _min_mismatches(CASES["absent"][0]) >= 3


@pytest.mark.parametrize("search", [pytest.param("vsearch", marks=requires_vsearch),
                                    pytest.param("blast", marks=requires_blast)])
def test_exact_contained_and_99_percent_matches(search):
    mapped = _map(search)
    for name, (_, vocab_id, method) in CASES.items():
        assert mapped.loc[name, "vocab_id"] == vocab_id, name
        assert mapped.loc[name, "method"] == (method or search), name
    assert mapped.loc["one_mismatch", "identity"] == pytest.approx(149 / 150, abs=1e-3)


def test_without_a_search_only_exact_and_contained_map():
    mapped = _map("none")
    assert (mapped.loc[["one_mismatch", "trimmed_mismatch"], "method"] == "unmapped").all()
    assert mapped.loc["shorter", "vocab_id"] == 11


def test_identical_sequences_map_to_the_lowest_id():
    vocab = [VOCAB[0], VOCAB[1], VOCAB[0]]  # a duplicated vocabulary sequence
    mapped = map_to_vocabulary(["a", "b"], [VOCAB[0], VOCAB[0][:-5]], vocab, search="none")
    assert mapped["vocab_id"].tolist() == [0, 0]


def _table(counts, source="cohort.biom"):
    counts = sparse.csr_matrix(np.asarray(counts))
    return FeatureTable([f"s{i}" for i in range(counts.shape[0])], [f"f{j}" for j in range(counts.shape[1])],
                        counts, ["A"] * counts.shape[1], source)


def test_coverage_sums_asvs_of_one_taxon_and_warns(caplog):
    table = _table([[10, 30, 60, 0], [50, 0, 0, 50]])
    vocab_ids = np.array([4, 4, 9, -1])  # f0 and f1 are the same taxon, f3 is unmapped
    on_vocab = vocabulary_counts(table, vocab_ids, n_vocab=12)
    assert on_vocab.toarray()[0, 4] == 40 and on_vocab.toarray()[0, 9] == 60
    with caplog.at_level(logging.WARNING):
        report = coverage_report(table, vocab_ids, on_vocab, warn_fraction=0.75, fail_fraction=0.25)
    assert report["read_fraction"].tolist() == [1.0, 0.5]
    assert report["asv_fraction"].tolist() == [1.0, 0.5]
    assert report["vocab_taxa"].tolist() == [2, 1]
    assert report["status"].tolist() == ["ok", "warn"]
    assert "s1 (50.0%)" in caplog.text


def test_coverage_below_the_floor_or_without_overlap_fails():
    table = _table([[10, 90], [90, 10]])
    vocab_ids = np.array([3, -1])
    with pytest.raises(InputError, match=r"cohort\.biom: 1 sample\(s\) have less than 25% .*: s0 \(10\.0%\)"):
        coverage_report(table, vocab_ids, vocabulary_counts(table, vocab_ids, 5), 0.75, 0.25)
    none = np.array([-1, -1])
    with pytest.raises(InputError, match="no sequence maps onto the model vocabulary"):
        coverage_report(table, none, vocabulary_counts(table, none, 5), 0.75, 0.0)


def test_containment_at_any_offset_and_both_trims():
    inner = VOCAB[40][13:128]  # trimmed at both ends
    outer = "GATTACA" + VOCAB[41] + "TTGCA"  # a longer read around a vocabulary sequence
    mapped = map_to_vocabulary(["inner", "outer"], [inner, outer], VOCAB, search="none")
    assert mapped["vocab_id"].tolist() == [40, 41] and set(mapped["method"]) == {"contained"}
