"""Safe zip extraction: hostile entries refused, top folder stripped, expected members checked."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest

from microbiome_lm.cli import main
from microbiome_lm.core.errors import InputError
from microbiome_lm.data.extract import extract_zip
from microbiome_lm.data.layout import PATHWAY_TABLE_MEMBER, zip_members


def _zip(path: Path, entries: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    """Write a zip whose entry names are taken verbatim (zipfile would sanitise ``write``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, target)
    return path


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_good_zip_extracts_and_skips_macos_debris(tmp_path):
    zp = _zip(tmp_path / "microbiomedata.zip", {
        "IBD_train_512.npy": b"a" * 100, "fruitdata/FRUIT_FREQUENCY_otu_512.npy": b"b" * 50, "README": b"read me",
        "__MACOSX/._README": b"junk", "fruitdata/.DS_Store": b"junk",
    })
    out = tmp_path / "data" / "microbiomedata"
    written = extract_zip(zp, out, expect=["IBD_train_512.npy", "fruitdata/FRUIT_FREQUENCY_otu_512.npy"])
    assert _tree(out) == {"IBD_train_512.npy": b"a" * 100, "fruitdata/FRUIT_FREQUENCY_otu_512.npy": b"b" * 50,
                          "README": b"read me"}
    assert sorted(written) == sorted(_tree(out))
    assert sorted(p.name for p in out.parent.iterdir()) == ["microbiomedata"]  # no temp folder left


@pytest.mark.parametrize("entry", ["../evil.txt", "fruitdata/../../evil.txt", "..\\evil.txt", "/tmp/evil.txt",
                                   "C:/evil.txt", "C:evil.txt"])
def test_escaping_entries_are_refused_and_nothing_written(tmp_path, entry):
    zp = _zip(tmp_path / "in" / "bad.zip", {"ok.txt": b"fine", entry: b"owned"})
    assert entry in [i.filename for i in zipfile.ZipFile(zp).infolist()]  # the name really is hostile
    out = tmp_path / "work" / "out"
    with pytest.raises(InputError) as caught:
        extract_zip(zp, out)
    assert "bad.zip" in str(caught.value) and repr(entry) in str(caught.value)
    assert not (tmp_path / "work").exists() or list((tmp_path / "work").iterdir()) == []
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_symlink_entry_is_refused(tmp_path):
    zp = _zip(tmp_path / "links.zip", {"ok.txt": b"fine"}, symlinks={"passwd": "/etc/passwd"})
    out = tmp_path / "out"
    with pytest.raises(InputError, match="symbolic link"):
        extract_zip(zp, out)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["links.zip"]


def test_single_top_folder_named_like_the_zip_is_stripped(tmp_path):
    zp = _zip(tmp_path / "microbiomedata.zip", {
        "microbiomedata/": b"", "microbiomedata/IBD_test_512.npy": b"x", "microbiomedata/vegdata/v.npy": b"y",
        "__MACOSX/microbiomedata/._IBD_test_512.npy": b"junk",
    })
    extract_zip(zp, tmp_path / "out", expect=["IBD_test_512.npy", "vegdata/v.npy"])
    assert _tree(tmp_path / "out") == {"IBD_test_512.npy": b"x", "vegdata/v.npy": b"y"}


def test_top_folder_kept_when_expected_members_name_it(tmp_path):
    zp = _zip(tmp_path / "property_pathway_correlations.zip", {PATHWAY_TABLE_MEMBER: b"otu\tpathway\n"})
    extract_zip(zp, tmp_path / "out", expect=zip_members("property_pathway_correlations.zip"))
    assert _tree(tmp_path / "out") == {PATHWAY_TABLE_MEMBER: b"otu\tpathway\n"}


def test_other_top_folder_is_not_stripped(tmp_path):
    zp = _zip(tmp_path / "ensemble.zip", {"run1_epoch0_disc/config.json": b"{}"})
    extract_zip(zp, tmp_path / "out")
    assert _tree(tmp_path / "out") == {"run1_epoch0_disc/config.json": b"{}"}


def test_missing_expected_member_fails_and_keeps_previous_output(tmp_path, capsys):
    zp = _zip(tmp_path / "microbiomedata.zip", {"IBD_train_512.npy": b"a"})
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier.txt").write_text("from an earlier successful run")
    with pytest.raises(InputError, match="missing: IBD_test_512.npy, README"):
        extract_zip(zp, out, expect=["IBD_train_512.npy", "IBD_test_512.npy", "README"])
    assert _tree(out) == {"earlier.txt": b"from an earlier successful run"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["microbiomedata.zip", "out"]
    # same through the CLI: exit status 2, one line naming the zip
    assert main(["extract", "--zip", str(zp), "--out", str(out), "--expect", "IBD_test_512.npy"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith(f"error: {zp}:")


def test_cli_expect_published_checks_the_layout_list(tmp_path):
    members = zip_members("pretrainedmodels.zip")
    zp = _zip(tmp_path / "pretrainedmodels.zip", {f"pretrainedmodels/{m}": m.encode() for m in members})
    out = tmp_path / "pretrainedmodels"
    assert main(["extract", "--zip", str(zp), "--out", str(out), "--expect-published"]) == 0
    assert _tree(out) == {m: m.encode() for m in members}


def test_truncated_zip_is_a_clear_error(tmp_path):
    good = _zip(tmp_path / "ensemble.zip", {"run1_epoch0_disc/config.json": b"{}" * 1000})
    good.write_bytes(good.read_bytes()[:200])
    with pytest.raises(InputError, match="not a readable zip"):
        extract_zip(good, tmp_path / "out")
    assert not (tmp_path / "out").exists()
