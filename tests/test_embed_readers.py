"""Users' tables in every supported format, written by the real tools' layouts, and bad inputs."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from biom import Table
from biom.util import biom_open

from microbiome_lm.core.errors import InputError
from microbiome_lm.data.fasta import read_fasta
from microbiome_lm.embed.readers import read_feature_table, read_sequences

from .conftest import REPO

SEQS = [seq for _, seq in read_fasta(REPO / "resources" / "toy_16s" / "toy_16s.fasta")[:4]]
IDS = ["asvA", "asvB", "asvC", "asvD"]
SAMPLES = ["s1", "s2", "s3"]
COUNTS = np.array([[10, 0, 3, 1], [0, 7, 7, 0], [5, 5, 0, 2]])  # samples x features


def _biom(ids=IDS, counts=COUNTS, samples=SAMPLES) -> Table:
    return Table(counts.T, list(ids), list(samples))


def _fasta(path, ids=IDS, seqs=SEQS):
    path.write_text("".join(f">{i}\n{s}\n" for i, s in zip(ids, seqs)))
    return path


def _qza(path, member, payload: bytes, uuid="3f0c6d8e-0000-4000-8000-000000000001", kind="FeatureTable[Frequency]"):
    """A .qza as QIIME 2 writes it: <uuid>/metadata.yaml, <uuid>/VERSION, <uuid>/data/<member>."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{uuid}/VERSION", "QIIME 2\narchive: 5\nframework: 2023.9.1\n")
        archive.writestr(f"{uuid}/metadata.yaml", f"uuid: {uuid}\ntype: {kind}\nformat: BIOMV210DirFmt\n")
        archive.writestr(f"{uuid}/data/{member}", payload)
    return path


def _check(table, ids=IDS):
    assert table.sample_ids == SAMPLES
    assert table.feature_ids == list(ids)
    np.testing.assert_array_equal(table.counts.toarray(), COUNTS)
    assert table.sequences == SEQS


def test_biom_json_v1_and_hdf5_v21(tmp_path):
    json_path = tmp_path / "t.json.biom"
    json_path.write_text(_biom().to_json("test"))
    assert json.loads(json_path.read_text())["format"].startswith("Biological Observation Matrix 1.0")
    h5_path = tmp_path / "t.biom"
    with biom_open(str(h5_path), "w") as handle:
        _biom().to_hdf5(handle, "test")
    fasta = _fasta(tmp_path / "seqs.fasta")
    _check(read_feature_table(json_path, fasta))
    _check(read_feature_table(h5_path, fasta))


def test_biom_with_sequences_as_ids_needs_no_fasta(tmp_path):
    path = tmp_path / "deblur.biom"
    path.write_text(_biom(ids=SEQS).to_json("test"))
    table = read_feature_table(path)
    assert table.sequences == SEQS and table.feature_ids == SEQS


def test_qza_table_and_sequences(tmp_path):
    h5_path = tmp_path / "inner.biom"
    with biom_open(str(h5_path), "w") as handle:
        _biom().to_hdf5(handle, "test")
    table_qza = _qza(tmp_path / "table.qza", "feature-table.biom", h5_path.read_bytes())
    seqs_qza = _qza(tmp_path / "rep-seqs.qza", "dna-sequences.fasta", _fasta(tmp_path / "s.fa").read_bytes(),
                    uuid="5d1d2b1e-0000-4000-8000-000000000002", kind="FeatureData[Sequence]")
    _check(read_feature_table(table_qza, seqs_qza))
    assert read_sequences(seqs_qza) == dict(zip(IDS, SEQS))


def test_tsv_with_sequences_as_columns_and_csv_with_fasta(tmp_path):
    tsv = tmp_path / "t.tsv"
    tsv.write_text("sample\t" + "\t".join(SEQS) + "\n"
                   + "".join(f"{s}\t" + "\t".join(map(str, row)) + "\n" for s, row in zip(SAMPLES, COUNTS)))
    _check(read_feature_table(tsv), ids=SEQS)
    csv = tmp_path / "t.csv"
    csv.write_text("sample," + ",".join(IDS) + "\n"
                   + "".join(f"{s}," + ",".join(map(str, row)) + "\n" for s, row in zip(SAMPLES, COUNTS)))
    _check(read_feature_table(csv, _fasta(tmp_path / "s.fasta")))


def test_classic_biom_text_table_is_read_as_biom(tmp_path):
    path = tmp_path / "otu_table.tsv"
    path.write_text(_biom().to_tsv())
    _check(read_feature_table(path, _fasta(tmp_path / "s.fasta")))


def _tsv(path, header, rows):
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(map(str, r)) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(("header", "rows", "problem"), [
    (["sample", *IDS], [], "empty table"),
    (["sample", *IDS], [["s1", 0, 0, 0, 0]], "empty table"),
    (["sample", *IDS], [["s1", 1, 2, 3, 4], ["s1", 1, 1, 1, 1]], "duplicated sample id(s): s1"),
    (["sample", "asvA", "asvA"], [["s1", 1, 2]], "duplicated feature id(s): asvA"),
    (["sample", *IDS], [["s1", 1, -2, 3, 4]], "count -2 is negative"),
    (["sample", *IDS], [["s1", 1, 2.5, 3, 4]], "count 2.5 is not an integer read count"),
    (["sample", *IDS], [["s1", 1, "x", 3, 4]], "count 'x' is not a number"),
    (["sample", *IDS], [["s1", 1, 2, 3, 4], ["s2", 0, 0, 0, 0]], "1 sample(s) without reads: s2"),
])
def test_bad_tables_name_file_and_problem(tmp_path, header, rows, problem):
    path = _tsv(tmp_path / "bad.tsv", header, rows)
    with pytest.raises(InputError) as err:
        read_feature_table(path, _fasta(tmp_path / "s.fasta"))
    assert err.value.source == str(path)
    assert problem in err.value.problem


def test_fasta_missing_ids_and_ids_that_are_not_sequences(tmp_path):
    path = tmp_path / "t.biom"
    path.write_text(_biom().to_json("test"))
    short = _fasta(tmp_path / "short.fasta", IDS[:2], SEQS[:2])
    with pytest.raises(InputError, match=r"short\.fasta: 2 feature id\(s\) of .* have no sequence here, e\.g\. asvC"):
        read_feature_table(path, short)
    with pytest.raises(InputError, match="feature ids are not DNA sequences"):
        read_feature_table(path)


def test_corrupt_and_mislaid_archives(tmp_path):
    not_zip = tmp_path / "table.qza"
    not_zip.write_text("hello")
    with pytest.raises(InputError, match="not a QIIME 2 archive"):
        read_feature_table(not_zip)
    wrong = _qza(tmp_path / "seqs.qza", "dna-sequences.fasta", b">a\nACGT\n")
    with pytest.raises(InputError, match="expected one <uuid>/data/feature-table.biom"):
        read_feature_table(wrong)
    bad_biom = tmp_path / "bad.biom"
    bad_biom.write_text("{not json")
    with pytest.raises(InputError, match="not a readable BIOM table"):
        read_feature_table(bad_biom)
    with pytest.raises(InputError, match="cannot tell the format"):
        read_feature_table(_fasta(tmp_path / "x.fasta"))
