"""Host-to-index pickles: indices (not rows), no lost last sequence, content-hash matching."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from microbiome_lm.cli import main
from microbiome_lm.core.errors import InputError
from microbiome_lm.data.hosts import build_host_pickles, load_host_pickle

from .conftest import coordinate_rows

VOCAB = ["ACGTA", "CCGTA", "GCGTA", "TCGTA", "AAGTA", "CAGTA"]  # id 5 is the last record
SAMPLES = {  # run accession -> (sample id, host, {vocab id: count})
    "ERR1": ("10317.a", "host_a", {0: 10, 5: 3}),
    "ERR2": ("10317.b", "host_a", {1: 4, 2: 4}),
    "ERR3": ("10317.c", "host_b", {0: 1, 3: 8, 5: 2}),
    "ERR4": ("10317.d", "host_c", {4: 6}),
}


@pytest.fixture()
def metadata(tmp_path):
    (tmp_path / "seqs.fasta").write_text("".join(f">embed{i + 1}\n{s}\n" for i, s in enumerate(VOCAB)))
    columns = [VOCAB[i] for i in (3, 0, 5, 2, 1, 4)] + ["GGGGG"]  # shuffled + one non-vocabulary ASV
    rows = []
    for run, (_, _, counts) in SAMPLES.items():
        rows.append([counts.get(VOCAB.index(c), 0) if c in VOCAB else 7 for c in columns])
    pd.DataFrame(rows, index=list(SAMPLES), columns=columns).to_csv(tmp_path / "seqtab.txt", sep="\t")
    pd.DataFrame({"run_accession": list(SAMPLES), "sample_title": [v[0] for v in SAMPLES.values()]}).to_csv(
        tmp_path / "err-to-qid.txt", sep="\t", index=False)
    pd.DataFrame({"#SampleID": [v[0] for v in SAMPLES.values()], "HOST_SUBJECT_ID": [v[1] for v in SAMPLES.values()],
                  "IBD": ["x"] * 4}).to_csv(tmp_path / "AG_mapping.txt", sep="\t", index=False)
    # Task array rows in an order of their own: ERR3, ERR1, ERR4
    np.save(tmp_path / "task_otu.npy", coordinate_rows([SAMPLES[r][2] for r in ("ERR3", "ERR1", "ERR4")], 5))
    return tmp_path


def _build(d, **kw):
    return build_host_pickles(seqtab=d / "seqtab.txt", vocab_fasta=d / "seqs.fasta", err_to_qid=d / "err-to-qid.txt",
                              mapping=d / "AG_mapping.txt", arrays={"task": d / "task_otu.npy"}, out_dir=d / "out", **kw)


def test_pickle_maps_hosts_to_row_indices(metadata):
    path = _build(metadata)["task"]
    assert path.name == "host_to_indices_task_512.pkl"
    with open(path, "rb") as handle:
        mapping = pickle.load(handle)
    assert mapping == {"host_a": [1], "host_b": [0], "host_c": [2]}
    assert load_host_pickle(path, n_rows=3) == mapping
    report = pd.read_csv(path.with_suffix(".tsv"), sep="\t")
    assert report["status"].eq("matched").all()


def test_unmatched_row_fails_beyond_tolerance_and_leaves_nothing(metadata):
    arr = np.load(metadata / "task_otu.npy")
    arr[2, 0, 1] = 99  # ERR4's count changed: no sample has this content
    np.save(metadata / "task_otu.npy", arr)
    with pytest.raises(InputError, match=r"task_otu.npy: 1 of 3 rows .* could not be tied to one host"):
        _build(metadata, max_unmatched_fraction=0.0)
    assert not (metadata / "out" / "host_to_indices_task_512.pkl").exists()
    mapping = load_host_pickle(_build(metadata, max_unmatched_fraction=0.5)["task"], n_rows=3)
    assert mapping["unmatched_row2"] == [2]


def test_original_row_pickles_are_refused(tmp_path):
    path = tmp_path / "host_to_rows.pkl"
    with open(path, "wb") as handle:
        pickle.dump({"h": [np.zeros((2, 2))]}, handle)
    with pytest.raises(InputError, match="host_to_rows.pkl"):
        load_host_pickle(path)


def test_cli_reports_bad_metadata_in_one_line(metadata, capsys):
    (metadata / "AG_mapping.txt").write_text("#SampleID\tsomething\n10317.a\tx\n")
    code = main(["hosts", "--seqtab", str(metadata / "seqtab.txt"), "--vocab-fasta", str(metadata / "seqs.fasta"),
                 "--err-to-qid", str(metadata / "err-to-qid.txt"), "--mapping", str(metadata / "AG_mapping.txt"),
                 "--array", f"task={metadata / 'task_otu.npy'}", "--out-dir", str(metadata / "out")])
    assert code == 2
    err = capsys.readouterr().err
    assert "AG_mapping.txt: missing column(s) ['HOST_SUBJECT_ID']" in err
    assert not (metadata / "out").exists() or not any((metadata / "out").iterdir())
