"""Download stage against the local mock of Dryad, Zenodo and the file server (real HTTP, no network)."""

from __future__ import annotations

import hashlib
import logging
import random
from pathlib import Path

import pytest
import requests

from microbiome_lm.cli import main
from microbiome_lm.core.errors import ChecksumError, InputError
from microbiome_lm.data.dryad import DryadClient
from microbiome_lm.data.fetch import copy_local, fetch_dryad, fetch_url, fetch_zenodo
from microbiome_lm.data.http import download
from microbiome_lm.data.mock_server import serve_mirror

DOI = "10.5061/dryad.tb2rbp08p"
RECORD = "13858903"
TOKEN = "tok-3f9a1c77e2b84d10"  # fake bearer token; must never show up in logs or errors
FAST = {"backoff_seconds": 0, "timeout_seconds": 10}
CLI_FAST = ["--backoff", "0", "--timeout", "10"]

MIRROR = {
    "dryad": {"vocab_embeddings.npy": 300_000, "microbiomedata.zip": 90_000, "seqs_.07_embed.fasta": 5_000,
              "README.md": 700},
    "zenodo": {"property_pathway_correlations.zip": 200_000},
    "agp_metadata": {"err-to-qid.txt": 3_000, "AG_mapping.txt": 150_000},
    "cohorts": {"halfvarson_asvs.fasta": 2_000},
}


@pytest.fixture
def mirror(tmp_path) -> Path:
    """A mirror of small random files laid out like the real sources."""
    rng = random.Random(7)
    root = tmp_path / "mirror"
    for group, files in MIRROR.items():
        (root / group).mkdir(parents=True)
        for name, size in files.items():
            (root / group / name).write_bytes(rng.randbytes(size))
    return root


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_every_group_downloads_through_the_cli(mirror, tmp_path, caplog):
    out = tmp_path / "raw"
    caplog.set_level(logging.INFO)
    with serve_mirror(mirror, page_size=2) as mock:
        o = mock.overrides
        for name in MIRROR["dryad"]:
            assert main(["fetch", "dryad", "--api-url", o["data.dryad.api_url"], "--doi", DOI, "--name", name,
                         "--out", str(out / "dryad" / name), *CLI_FAST]) == 0
        for name in MIRROR["zenodo"]:
            assert main(["fetch", "zenodo", "--api-url", o["data.zenodo.api_url"], "--record", RECORD,
                         "--name", name, "--out", str(out / "zenodo" / name), *CLI_FAST]) == 0
        for group, key in (("agp_metadata", "data.host_metadata.base_url"), ("cohorts", "data.cohorts.base_url")):
            for name in MIRROR[group]:
                assert main(["fetch", "url", "--url", f"{o[key]}/{name}", "--out", str(out / group / name),
                             *CLI_FAST]) == 0
    for group, files in MIRROR.items():
        assert _leftovers(out / group) == sorted(files)  # no .part files left
        for name in files:
            assert (out / group / name).read_bytes() == (mirror / group / name).read_bytes()
    # the file server publishes no digest: the computed one is logged so a user can pin it
    assert _sha256(mirror / "cohorts" / "halfvarson_asvs.fasta") in caplog.text
    # files were fetched one by one through /files/{id}/download, never the whole-dataset zip
    paths = [r["path"] for r in mock.requests]
    assert sum(p.endswith("/download") for p in paths) == len(MIRROR["dryad"])
    assert not any("/datasets/" in p and p.endswith("/download") for p in paths)


def test_dryad_client_reads_latest_version_with_digests(mirror):
    with serve_mirror(mirror, page_size=1) as mock, \
            DryadClient(mock.overrides["data.dryad.api_url"], f"https://doi.org/{DOI}", **FAST) as client:
        assert client.latest_version_id() == "9002"  # not the older version that holds only the README
        files = client.files()
    assert sorted(files) == sorted(MIRROR["dryad"])
    for name, remote in files.items():
        assert remote.size == MIRROR["dryad"][name]
        assert remote.digest == ("sha-256", _sha256(mirror / "dryad" / name))
        assert remote.url.endswith(f"/api/v2/files/{remote.file_id}/download")


def test_token_needed_then_accepted_and_never_leaked(mirror, tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "vocab_embeddings.npy"
    monkeypatch.delenv("MLM_TEST_TOKEN", raising=False)
    with serve_mirror(mirror, require_token=TOKEN) as mock:
        api = mock.overrides["data.dryad.api_url"]
        args = ["fetch", "dryad", "--api-url", api, "--doi", DOI, "--name", out.name, "--out", str(out),
                "--token-env", "MLM_TEST_TOKEN", *CLI_FAST]
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "401" in err and "MLM_TEST_TOKEN" in err and "token" in err
        assert not out.exists()

        monkeypatch.setenv("MLM_TEST_TOKEN", "wrong-" + TOKEN[::-1])
        with pytest.raises(InputError, match="refused") as refused:
            fetch_dryad(api, DOI, out.name, out, token_env="MLM_TEST_TOKEN", **FAST)
        assert TOKEN[::-1] not in str(refused.value)

        monkeypatch.setenv("MLM_TEST_TOKEN", TOKEN)
        assert main(args) == 0
    assert out.read_bytes() == (mirror / "dryad" / out.name).read_bytes()
    assert any(r["authorized"] and r["path"].endswith("/download") for r in mock.requests)
    captured = capsys.readouterr()
    for text in (caplog.text, captured.out, captured.err):
        assert TOKEN not in text and TOKEN[::-1] not in text
    assert all(TOKEN.encode() not in p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())


def test_token_echoed_by_a_failing_library_is_redacted(tmp_path, caplog):
    """Even an error message that repeats the request headers must not carry the token out."""

    class EchoingSession:
        def get(self, url, headers, **kwargs):
            raise requests.ConnectionError(f"proxy refused {url} with headers {headers}")

    caplog.set_level(logging.DEBUG)
    with pytest.raises(InputError, match="failed after 2 attempt") as caught:
        download("http://127.0.0.1:9/x", tmp_path / "x", headers={"Authorization": f"Bearer {TOKEN}"},
                 retries=1, session=EchoingSession(), **FAST)
    assert "proxy refused" in str(caught.value) and "proxy refused" in caplog.text
    assert TOKEN not in str(caught.value) and TOKEN not in caplog.text
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("source", ["dryad", "zenodo", "url"])
def test_dropped_connection_resumes_with_a_range_request(mirror, tmp_path, source):
    name, group = {"dryad": ("vocab_embeddings.npy", "dryad"),
                   "zenodo": ("property_pathway_correlations.zip", "zenodo"),
                   "url": ("AG_mapping.txt", "agp_metadata")}[source]
    out = tmp_path / "out" / name
    with serve_mirror(mirror, drop_after_bytes=100_000) as mock:
        o = mock.overrides
        if source == "dryad":
            fetch_dryad(o["data.dryad.api_url"], DOI, name, out, **FAST)
        elif source == "zenodo":
            fetch_zenodo(o["data.zenodo.api_url"], RECORD, name, out, **FAST)
        else:
            fetch_url(f"{o['data.host_metadata.base_url']}/{name}", out, **FAST)
    assert out.read_bytes() == (mirror / group / name).read_bytes()
    hits = [r for r in mock.requests if r["path"].endswith(name) or r["path"].endswith(f"{name}/content")]
    assert [h["status"] for h in hits] == [200, 206]
    assert hits[1]["range"].startswith("bytes=") and hits[1]["range"] != "bytes=0-"
    assert _leftovers(out.parent) == [name]


def test_server_ignoring_range_restarts_from_zero(mirror, tmp_path):
    out = tmp_path / "vocab_embeddings.npy"
    with serve_mirror(mirror, drop_after_bytes=100_000, ignore_range=True) as mock:
        fetch_dryad(mock.overrides["data.dryad.api_url"], DOI, out.name, out, **FAST)
    assert out.read_bytes() == (mirror / "dryad" / out.name).read_bytes()
    storage = [r for r in mock.requests if r["path"].startswith("/storage/")]
    assert storage[1]["range"] is not None and storage[1]["status"] == 200


def test_part_file_of_an_earlier_run_is_resumed_or_discarded(mirror, tmp_path):
    source = mirror / "agp_metadata" / "AG_mapping.txt"
    out = tmp_path / "out" / "AG_mapping.txt"
    part = tmp_path / "out" / "AG_mapping.txt.part"
    part.parent.mkdir()
    with serve_mirror(mirror) as mock:
        url = f"{mock.overrides['data.host_metadata.base_url']}/AG_mapping.txt"
        part.write_bytes(source.read_bytes()[:40_000])
        download(url, out, **FAST)
        assert out.read_bytes() == source.read_bytes()
        part.write_bytes(source.read_bytes() + b"stale tail")  # longer than the file: 416, then restart
        download(url, out, **FAST)
        assert out.read_bytes() == source.read_bytes()
    assert [r["range"] for r in mock.requests] == ["bytes=40000-", f"bytes={source.stat().st_size + 10}-", None]
    assert _leftovers(out.parent) == [out.name]


def test_5xx_is_retried_but_4xx_is_not(mirror, tmp_path):
    out = tmp_path / "out" / "err-to-qid.txt"
    with serve_mirror(mirror, fail_first_status=503) as mock:
        base = mock.overrides["data.host_metadata.base_url"]
        download(f"{base}/err-to-qid.txt", out, **FAST)
        assert [r["status"] for r in mock.requests] == [503, 200]
        with pytest.raises(InputError, match="HTTP 404"):
            download(f"{base}/no-such-file.txt", out.parent / "missing.txt", **FAST)
        assert [r["status"] for r in mock.requests][2:] == [404]
        with pytest.raises(InputError, match="failed after 1 attempt.*HTTP 503"):  # no retry left
            download(f"{base}/AG_mapping.txt", out.parent / "AG_mapping.txt", retries=0, **FAST)
    assert out.read_bytes() == (mirror / "agp_metadata" / "err-to-qid.txt").read_bytes()
    assert _leftovers(out.parent) == ["err-to-qid.txt"]


@pytest.mark.parametrize("source", ["dryad", "zenodo"])
def test_wrong_published_digest_leaves_nothing(mirror, tmp_path, source):
    name = "microbiomedata.zip" if source == "dryad" else "property_pathway_correlations.zip"
    out = tmp_path / "raw" / name
    with serve_mirror(mirror, corrupt={name}) as mock:
        with pytest.raises(ChecksumError) as caught:
            if source == "dryad":
                fetch_dryad(mock.overrides["data.dryad.api_url"], DOI, name, out, **FAST)
            else:
                fetch_zenodo(mock.overrides["data.zenodo.api_url"], RECORD, name, out, **FAST)
    message = str(caught.value)
    found = hashlib.new("sha256" if source == "dryad" else "md5", (mirror / source / name).read_bytes()).hexdigest()
    assert name in message and "expected" in message and f"found {found}" in message
    assert _leftovers(out.parent) == []


@pytest.mark.parametrize("source", ["dryad", "url", "local"])
def test_sha256_pin_mismatch_fails_with_nothing_left(mirror, tmp_path, capsys, source):
    group, name = ("dryad", "README.md") if source == "dryad" else ("cohorts", "halfvarson_asvs.fasta")
    out = tmp_path / "raw" / name
    good = _sha256(mirror / group / name)
    with serve_mirror(mirror) as mock:
        o = mock.overrides
        args = {
            "dryad": ["fetch", "dryad", "--api-url", o["data.dryad.api_url"], "--doi", DOI, "--name", name, *CLI_FAST],
            "url": ["fetch", "url", "--url", f"{o['data.cohorts.base_url']}/{name}", *CLI_FAST],
            "local": ["fetch", "local", "--src", str(mirror / group / name)],
        }[source] + ["--out", str(out)]
        assert main([*args, "--sha256", "0" * 64]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and err.startswith("error:") and f"found {good}" in err
        assert _leftovers(out.parent) == []
        assert main([*args, "--sha256", good]) == 0
    assert out.read_bytes() == (mirror / group / name).read_bytes()


def test_local_copy_missing_source_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "local" / "dryad" / "vocab_embeddings.npy"
    assert main(["fetch", "local", "--src", str(missing), "--out", str(tmp_path / "out.npy")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(missing) in err and "not found" in err
    assert not (tmp_path / "out.npy").exists()
    with pytest.raises(InputError, match="not found"):
        copy_local(missing, tmp_path / "out.npy")


def test_unknown_dryad_file_names_the_file_and_what_exists(mirror, tmp_path, capsys):
    with serve_mirror(mirror) as mock:
        assert main(["fetch", "dryad", "--api-url", mock.overrides["data.dryad.api_url"], "--doi", DOI,
                     "--name", "ensemble.zip", "--out", str(tmp_path / "ensemble.zip"), *CLI_FAST]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("error: ensemble.zip: not in the latest version (9002)")
    assert "microbiomedata.zip" in err  # lists what the version holds
    assert not (tmp_path / "ensemble.zip").exists()


def test_token_with_whitespace_is_refused_without_echoing_it():
    with pytest.raises(InputError, match="MLM_TEST_TOKEN") as caught:
        DryadClient("http://127.0.0.1:9/api/v2", DOI, f"{TOKEN} extra", token_env="MLM_TEST_TOKEN")
    assert TOKEN not in str(caught.value)
