"""``microbiome-lm fetch``: get one raw input file, verified, written atomically.

One sub-command per source, so a Snakemake rule fetches one file per job:
``dryad`` (API v2, sha256 digests, optional bearer token), ``zenodo`` (md5 checksums),
``url`` (the David lab file server, which publishes no digest) and ``local`` (a folder
already downloaded, for clusters without internet). ``--sha256`` pins a digest on top of
whatever the source publishes; the computed sha256 is always logged so it can be pinned.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
from pathlib import Path

from ..core.atomic import atomic_path
from ..core.errors import InputError
from .dryad import DryadClient
from .http import download, verify_digests
from .zenodo import ZenodoClient

log = logging.getLogger(__name__)


def fetch_dryad(api_url: str, doi: str, name: str, out: str | Path, *, token_env: str = "DRYAD_TOKEN",
                sha256: str | None = None, **retry) -> str:
    """Download ``name`` from the latest version of a Dryad dataset; the token is read from ``token_env``."""
    token = os.environ.get(token_env) or None
    if token is None:
        log.info("no token in $%s: trying anonymous access", token_env)
    with DryadClient(api_url, doi, token, token_env=token_env, **retry) as client:
        return client.download(name, out, sha256=sha256)


def fetch_zenodo(api_url: str, record_id: str, name: str, out: str | Path, *, sha256: str | None = None,
                 **retry) -> str:
    """Download ``name`` from a public Zenodo record."""
    with ZenodoClient(api_url, record_id, **retry) as client:
        return client.download(name, out, sha256=sha256)


def fetch_url(url: str, out: str | Path, *, sha256: str | None = None, **retry) -> str:
    """Download a plain URL; only a pinned ``sha256`` can be checked."""
    digest = download(url, out, expected=[("sha256", sha256)] if sha256 else None, **retry)
    if not sha256:
        log.warning("%s: the server publishes no digest; to pin this one, set data.sha256 {%s: %s}",
                    Path(out).name, Path(out).name, digest)
    return digest


def copy_local(src: str | Path, out: str | Path, *, sha256: str | None = None) -> str:
    """Copy an already-downloaded file into place, checked against a pinned sha256 when given."""
    src = Path(src)
    if not src.is_file():
        raise InputError(src, "not found; with data.source=local every raw file must sit at "
                              "<data.local_dir>/<group>/<name>")
    with atomic_path(out) as tmp:
        shutil.copyfile(src, tmp)
        digest = verify_digests(tmp, [("sha256", sha256)] if sha256 else [], label=src)
    return digest


def _sha256_arg(value: str) -> str:
    if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a sha256 hex digest (64 hex characters)")
    return value.lower()


def _count_arg(value: str) -> int:
    if not value.isdigit():
        raise argparse.ArgumentTypeError(f"{value!r} is not a non-negative integer")
    return int(value)


def _retry_kwargs(args: argparse.Namespace) -> dict:
    return dict(retries=args.retries, backoff_seconds=args.backoff, timeout_seconds=args.timeout)


def _done(out: str, digest: str) -> None:
    log.info("wrote %s (sha256 %s)", out, digest)


def _run_dryad(args):
    _done(args.out, fetch_dryad(args.api_url, args.doi, args.name, args.out, token_env=args.token_env,
                                sha256=args.sha256, **_retry_kwargs(args)))


def _run_zenodo(args):
    _done(args.out, fetch_zenodo(args.api_url, args.record, args.name, args.out, sha256=args.sha256,
                                 **_retry_kwargs(args)))


def _run_url(args):
    _done(args.out, fetch_url(args.url, args.out, sha256=args.sha256, **_retry_kwargs(args)))


def _run_local(args):
    _done(args.out, copy_local(args.src, args.out, sha256=args.sha256))


def register(subparsers) -> None:
    fetch = subparsers.add_parser("fetch", help="download one raw input file, verified", description=__doc__)
    sources = fetch.add_subparsers(dest="source", required=True, metavar="SOURCE")

    pin = argparse.ArgumentParser(add_help=False)
    pin.add_argument("--out", required=True, help="destination file (written atomically)")
    pin.add_argument("--sha256", type=_sha256_arg, help="pinned sha256, checked in addition to any API digest")
    http = argparse.ArgumentParser(add_help=False, parents=[pin])
    http.add_argument("--retries", type=_count_arg, default=5, help="retries after a failed or dropped request")
    http.add_argument("--backoff", type=float, default=2.0, help="first retry delay in seconds (doubles)")
    http.add_argument("--timeout", type=float, default=120, help="socket timeout per request, seconds")

    dryad = sources.add_parser("dryad", parents=[http], help="a file of the latest Dryad dataset version")
    dryad.add_argument("--api-url", required=True, help="Dryad API v2 base URL")
    dryad.add_argument("--doi", required=True, help="dataset DOI")
    dryad.add_argument("--name", required=True, help="file name in the dataset version")
    dryad.add_argument("--token-env", default="DRYAD_TOKEN",
                       help="environment variable holding an optional bearer token (never logged)")
    dryad.set_defaults(func=_run_dryad)

    zenodo = sources.add_parser("zenodo", parents=[http], help="a file of a Zenodo record")
    zenodo.add_argument("--api-url", required=True, help="Zenodo REST API base URL")
    zenodo.add_argument("--record", required=True, help="record id")
    zenodo.add_argument("--name", required=True, help="file name (key) in the record")
    zenodo.set_defaults(func=_run_zenodo)

    url = sources.add_parser("url", parents=[http], help="a plain URL (no published digest)")
    url.add_argument("--url", required=True)
    url.set_defaults(func=_run_url)

    local = sources.add_parser("local", parents=[pin], help="copy from an already-downloaded folder")
    local.add_argument("--src", required=True, help="source file")
    local.set_defaults(func=_run_local)
