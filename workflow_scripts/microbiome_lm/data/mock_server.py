"""A local stand-in for Dryad, Zenodo and the David lab file server, for tests and offline runs.

It serves a mirror folder (``dryad/``, ``zenodo/``, ``agp_metadata/``, ``cohorts/``) with
the response shapes of the real services, so the download stage is exercised end to end
without internet:

* Dryad API v2 under ``/api/v2``: HAL documents with ``_links``/``_embedded`` and curies,
  the dataset by URL-encoded DOI, paged ``stash:versions`` (an older version holding only
  the README, then the latest), paged ``stash:files`` with real ``sha-256`` digests, and
  ``/files/{id}/download`` answering with a redirect to presigned-style storage, as Dryad
  redirects to S3. With ``require_token`` every ``/api/v2`` request needs that bearer token.
* Zenodo under ``/zenodo/api/records/{id}``: ``files`` with ``key``, ``size``,
  ``checksum`` ("md5:<hex>") and ``links.self`` pointing at ``.../content``.
* Plain files under ``/files/agp_metadata/`` and ``/files/cohorts/`` (no digest published).

Byte responses honour single ``Range`` requests. Faults for tests: ``drop_after_bytes``
closes the connection mid-file on the first request of each file, ``fail_first_status``
answers the first request of each file with that status, ``ignore_range`` answers ranges
with the whole file, and ``corrupt`` names files whose advertised digest is wrong.
It binds 127.0.0.1 only and stops cleanly when its ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

import yaml

from ..core.errors import InputError
from .layout import GROUPS

log = logging.getLogger(__name__)

DEFAULT_DOI = "10.5061/dryad.tb2rbp08p"
DEFAULT_RECORD = "13858903"
API = "/api/v2"
CURIES = [{"name": "stash", "href": "https://github.com/CDL-Dryad/stash/blob/main/stash_api/link-relations.md#{rel}",
           "templated": "true"}]
OLD_VERSION, LATEST_VERSION = 9001, 9002


@dataclass(frozen=True)
class _File:
    group: str
    name: str
    path: Path
    size: int
    sha256: str
    md5: str
    file_id: int


@dataclass
class MockMirror:
    """What a running mock offers: its base URL, config overrides and a log of requests."""

    url: str
    overrides: dict[str, str]
    requests: list[dict] = field(default_factory=list)

    def config(self) -> dict:
        """The overrides as a nested config mapping (merge it into a workflow config)."""
        nested: dict = {}
        for dotted, value in self.overrides.items():
            *parents, leaf = dotted.split(".")
            node = nested
            for key in parents:
                node = node.setdefault(key, {})
            node[leaf] = value
        return nested


def _digests(path: Path) -> tuple[str, str]:
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            sha256.update(chunk)
            md5.update(chunk)
    return sha256.hexdigest(), md5.hexdigest()


def _catalog(root: Path) -> dict[str, dict[str, _File]]:
    catalog: dict[str, dict[str, _File]] = {}
    next_id = 3001
    for group in GROUPS:
        catalog[group] = {}
        folder = root / group
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            if path.is_file():
                sha256, md5 = _digests(path)
                catalog[group][path.name] = _File(group, path.name, path, path.stat().st_size, sha256, md5, next_id)
                next_id += 1
    return catalog


def _wrong(hexdigest: str) -> str:
    """A digest of the same length that cannot match."""
    return hashlib.sha256(hexdigest.encode()).hexdigest()[: len(hexdigest)]


class _State:
    """Everything the request handlers share; faults are tracked per file under a lock."""

    def __init__(self, root: Path, *, doi: str, record_id: str, require_token: str | None,
                 drop_after_bytes: int | None, fail_first_status: int | None, ignore_range: bool,
                 corrupt: Iterable[str], page_size: int, requests: list[dict]):
        self.catalog = _catalog(root)
        self.doi = f"doi:{doi}"
        self.record_id = record_id
        self.require_token = require_token
        self.drop_after_bytes = drop_after_bytes
        self.fail_first_status = fail_first_status
        self.ignore_range = ignore_range
        self.corrupt = set(corrupt)
        self.page_size = page_size
        self.requests = requests
        self.lock = threading.Lock()
        self._seen: dict[str, set[str]] = {"drop": set(), "fail": set()}

    def first(self, fault: str, key: str) -> bool:
        with self.lock:
            new = key not in self._seen[fault]
            self._seen[fault].add(key)
            return new

    def version_files(self, version_id: int) -> list[_File]:
        files = list(self.catalog["dryad"].values())
        if version_id == OLD_VERSION:
            return [f for f in files if f.name.startswith("README")]
        return files

    def file_by_id(self, file_id: int) -> tuple[_File, int] | None:
        for version in (OLD_VERSION, LATEST_VERSION):
            for f in self.version_files(version):
                if _dryad_id(f, version) == file_id:
                    return f, version
        return None


def _int(value: str | None, default: int) -> int:
    return int(value) if value and value.isdigit() else default


def _dryad_id(f: _File, version: int) -> int:
    """Dryad gives a file a new id in every version; the older version's ids are offset."""
    return f.file_id + (1000 if version == OLD_VERSION else 0)


class _Server(ThreadingHTTPServer):
    """A client that hangs up (as resuming clients do) is routine here, not a traceback."""

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("mock: client %s hung up", client_address)
        else:
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server_version = "MockDryadZenodo/1.0"
    protocol_version = "HTTP/1.1"
    timeout = 30  # a stalled client cannot hold a handler thread forever

    @property
    def state(self) -> _State:
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, format, *args):  # noqa: A002 - BaseHTTPRequestHandler's signature
        log.debug("mock %s - %s", self.address_string(), format % args)

    def send_response(self, code, message=None):
        with self.state.lock:
            self.state.requests.append({
                "method": self.command, "path": urlsplit(self.path).path, "status": code,
                "range": self.headers.get("Range"), "authorized": "Authorization" in self.headers,
            })
        super().send_response(code, message)

    # --- responses -------------------------------------------------------------------------
    def _json(self, document: dict, status: int = 200, headers: dict | None = None) -> None:
        body = json.dumps(document, indent=1).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _not_found(self) -> None:
        self._json({"error": "not-found"}, 404)

    def _file(self, f: _File) -> None:
        key = f"{f.group}/{f.name}"
        state = self.state
        if state.fail_first_status and state.first("fail", key):
            self._json({"error": "temporarily unavailable"}, state.fail_first_status, {"Retry-After": "0"})
            return
        start, end, status = 0, f.size - 1, 200
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", "").strip())
        if match and not state.ignore_range:
            start = int(match.group(1))
            end = min(int(match.group(2)), f.size - 1) if match.group(2) else f.size - 1
            if start >= f.size or start > end:
                self._json({"error": "range not satisfiable"}, 416, {"Content-Range": f"bytes */{f.size}"})
                return
            status = 206
        length = end - start + 1
        drop = state.drop_after_bytes
        cut = drop is not None and drop < length and state.first("drop", key)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("ETag", f'"{f.sha256[:16]}"')
        if not state.ignore_range:
            self.send_header("Accept-Ranges", "bytes")
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{f.size}")
        self.end_headers()
        remaining = drop if cut else length
        with open(f.path, "rb") as fh:
            fh.seek(start)
            while remaining > 0 and (chunk := fh.read(min(remaining, 1 << 16))):
                self.wfile.write(chunk)
                remaining -= len(chunk)
        if cut:
            self.wfile.flush()
            self.close_connection = True  # the client sees a short body

    # --- routing ---------------------------------------------------------------------------
    def do_GET(self):  # noqa: N802 - BaseHTTPRequestHandler's naming
        url = urlsplit(self.path)
        segments = [unquote(s) for s in url.path.split("/") if s]
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            if url.path.startswith(API):
                self._dryad(segments[2:], query)
            elif segments[:1] == ["storage"] and len(segments) == 3 and segments[1] == "dryad":
                f = self.state.catalog["dryad"].get(segments[2])
                self._file(f) if f else self._not_found()
            elif segments[:3] == ["zenodo", "api", "records"]:
                self._zenodo(segments[3:])
            elif segments[:1] == ["files"] and len(segments) == 3 and segments[1] in ("agp_metadata", "cohorts"):
                f = self.state.catalog[segments[1]].get(segments[2])
                self._file(f) if f else self._not_found()
            else:
                self._not_found()
        except ConnectionError:
            self.close_connection = True

    def _authorized(self) -> bool:
        token = self.state.require_token
        if token is None:
            return True
        given = self.headers.get("Authorization")
        if given == f"Bearer {token}":
            return True
        error = "invalid_token" if given else "unauthorized"
        self._json({"error": error}, 401, {"WWW-Authenticate": f'Bearer realm="Dryad", error="{error}"'})
        return False

    def _dryad(self, parts: list[str], query: dict) -> None:
        if not self._authorized():
            return
        accept = self.headers.get("Accept")
        if accept and "application/json" not in accept and "*/*" not in accept and parts[-1:] != ["download"]:
            self._json({"error": "406 - unacceptable: please set your Accept header for application/json"}, 406)
            return
        state = self.state
        doi_ok = len(parts) >= 2 and parts[0] == "datasets" and parts[1] == state.doi
        if doi_ok and len(parts) == 2:
            self._json(self._dataset())
        elif doi_ok and parts[2:] == ["versions"]:
            versions = [self._version(v) for v in (OLD_VERSION, LATEST_VERSION)]
            self._json(self._paged(versions, "stash:versions", query))
        elif parts[:1] == ["versions"] and len(parts) >= 2 and parts[1] in (str(OLD_VERSION), str(LATEST_VERSION)):
            version = int(parts[1])
            if parts[2:] == ["files"]:
                files = [self._file_doc(f, version) for f in state.version_files(version)]
                self._json(self._paged(files, "stash:files", query))
            elif len(parts) == 2:
                self._json(self._version(version))
            else:
                self._not_found()
        elif parts[:1] == ["files"] and len(parts) >= 2 and parts[1].isdigit():
            found = state.file_by_id(int(parts[1]))
            if found is None:
                self._not_found()
            elif parts[2:] == ["download"]:
                f = found[0]
                location = f"/storage/dryad/{quote(f.name)}?X-Amz-Expires=60&X-Amz-Signature={f.sha256[:24]}"
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif len(parts) == 2:
                self._json(self._file_doc(*found))
            else:
                self._not_found()
        else:
            self._not_found()

    # --- Dryad documents -------------------------------------------------------------------
    def _dataset_path(self) -> str:
        return f"{API}/datasets/{quote(self.state.doi, safe='')}"

    def _dataset(self) -> dict:
        size = sum(f.size for f in self.state.catalog["dryad"].values())
        return {
            "_links": {"self": {"href": self._dataset_path()},
                       "stash:versions": {"href": f"{self._dataset_path()}/versions"},
                       "stash:version": {"href": f"{API}/versions/{LATEST_VERSION}"},
                       "stash:download": {"href": f"{self._dataset_path()}/download"},
                       "curies": CURIES},
            "identifier": self.state.doi, "id": 4242, "storageSize": size,
            **self._descriptive(LATEST_VERSION),
        }

    def _descriptive(self, version: int) -> dict:
        number = 1 if version == OLD_VERSION else 2
        return {"title": "Mock mirror of a Dryad dataset (local test server)",
                "authors": [{"firstName": "Mock", "lastName": "Author", "affiliation": "localhost"}],
                "abstract": "Files served from a local mirror folder.",
                "versionNumber": number, "versionStatus": "submitted", "curationStatus": "Published",
                "publicationDate": f"2025-0{number}-20", "lastModificationDate": f"2025-0{number}-20",
                "visibility": "public", "license": "https://spdx.org/licenses/CC0-1.0.html"}

    def _version(self, version: int) -> dict:
        return {"_links": {"self": {"href": f"{API}/versions/{version}"},
                           "stash:dataset": {"href": self._dataset_path()},
                           "stash:files": {"href": f"{API}/versions/{version}/files"},
                           "stash:download": {"href": f"{API}/versions/{version}/download"},
                           "curies": CURIES},
                **self._descriptive(version)}

    def _file_doc(self, f: _File, version: int) -> dict:
        file_id = _dryad_id(f, version)
        digest = _wrong(f.sha256) if f.name in self.state.corrupt else f.sha256
        return {"_links": {"self": {"href": f"{API}/files/{file_id}"},
                           "stash:dataset": {"href": self._dataset_path()},
                           "stash:version": {"href": f"{API}/versions/{version}"},
                           "stash:files": {"href": f"{API}/versions/{version}/files"},
                           "stash:file-download": {"href": f"{API}/files/{file_id}/download"},
                           "stash:download": {"href": f"{API}/files/{file_id}/download"},
                           "curies": CURIES},
                "path": f.name, "size": f.size, "mimeType": "application/octet-stream",
                "status": "created" if version == OLD_VERSION else "copied",
                "digest": digest, "digestType": "sha-256"}

    def _paged(self, items: list[dict], rel: str, query: dict) -> dict:
        """A page of a HAL list with Dryad's paging links (``page``/``per_page``, at most 100)."""
        per_page = min(max(_int(query.get("per_page"), self.state.page_size), 1), 100)
        page = max(_int(query.get("page"), 1), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        base = urlsplit(self.path).path

        def href(n: int) -> dict:
            return {"href": f"{base}?page={n}&per_page={per_page}"}

        links = {"self": href(page), "first": href(1), "last": href(last)}
        if page < last:
            links["next"] = href(page + 1)
        if page > 1:
            links["prev"] = href(page - 1)
        chunk = items[(page - 1) * per_page: page * per_page]
        return {"_links": links, "count": len(chunk), "total": len(items), "_embedded": {rel: chunk}}

    # --- Zenodo ----------------------------------------------------------------------------
    def _zenodo(self, parts: list[str]) -> None:
        state = self.state
        if not parts or parts[0] != state.record_id:
            self._json({"status": 404, "message": "PID does not exist."}, 404)
            return
        base = f"/zenodo/api/records/{state.record_id}"
        files = state.catalog["zenodo"]
        if len(parts) == 1:
            entries = [{"id": f"{f.md5[:8]}-mock", "key": f.name, "size": f.size,
                        "checksum": f"md5:{_wrong(f.md5) if f.name in state.corrupt else f.md5}",
                        "links": {"self": f"{base}/files/{quote(f.name)}/content"}} for f in files.values()]
            self._json({"id": int(state.record_id), "doi": f"10.5281/zenodo.{state.record_id}",
                        "metadata": {"title": "Mock mirror of a Zenodo record"},
                        "links": {"self": base, "files": f"{base}/files"}, "files": entries})
        elif len(parts) == 4 and parts[1] == "files" and parts[3] == "content" and parts[2] in files:
            self._file(files[parts[2]])
        else:
            self._json({"status": 404, "message": "The requested URL was not found."}, 404)


@contextlib.contextmanager
def serve_mirror(root: str | Path, *, require_token: str | None = None, drop_after_bytes: int | None = None,
                 corrupt: Iterable[str] = frozenset(), port: int = 0, fail_first_status: int | None = None,
                 ignore_range: bool = False, page_size: int = 20, doi: str = DEFAULT_DOI,
                 record_id: str = DEFAULT_RECORD) -> Iterator[MockMirror]:
    """Serve ``root`` on 127.0.0.1 in a background thread for the duration of the block."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "mirror folder not found")
    mirror = MockMirror(url="", overrides={})
    state = _State(root, doi=doi, record_id=record_id, require_token=require_token,
                   drop_after_bytes=drop_after_bytes, fail_first_status=fail_first_status,
                   ignore_range=ignore_range, corrupt=corrupt, page_size=page_size, requests=mirror.requests)
    server = _Server(("127.0.0.1", port), _Handler)
    server.state = state  # type: ignore[attr-defined]
    mirror.url = f"http://127.0.0.1:{server.server_address[1]}"
    mirror.overrides = {
        "data.dryad.api_url": f"{mirror.url}{API}",
        "data.dryad.doi": doi,
        "data.zenodo.api_url": f"{mirror.url}/zenodo/api",
        "data.zenodo.record_id": record_id,
        "data.host_metadata.base_url": f"{mirror.url}/files/agp_metadata",
        "data.cohorts.base_url": f"{mirror.url}/files/cohorts",
    }
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              name="mock-mirror", daemon=True)
    thread.start()
    try:
        yield mirror
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _run(args) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # stop cleanly when a job runner ends it
    with serve_mirror(args.root, port=args.port) as mirror:
        print(f"serving {args.root} at {mirror.url} (Ctrl-C stops); config overrides:", flush=True)
        print(yaml.safe_dump(mirror.config(), sort_keys=False), end="", flush=True)
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
    log.info("mock server stopped")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("mock-server", help="serve a mirror folder as local Dryad/Zenodo/file-server APIs",
                              description=__doc__.splitlines()[0])
    p.add_argument("--root", required=True, help="mirror folder with dryad/, zenodo/, agp_metadata/, cohorts/")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = any free port)")
    p.set_defaults(func=_run)
