"""Zenodo REST client: list a record's files and fetch one, verified against its md5.

``GET {api}/records/{id}`` returns ``files``: entries with ``key``, ``size``,
``checksum`` ("md5:<hex>") and ``links`` (``self`` points at the bytes). Older
serialisations say ``filename``/``filesize`` and a bare hex checksum, and InvenioRDM's
``{api}/records/{id}/files`` lists ``entries`` with ``links.content``; all are accepted.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote, urljoin

import requests

from ..core.errors import InputError
from .http import RemoteFile, download, get_json

log = logging.getLogger(__name__)


def _checksum(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    algorithm, _, hexdigest = value.rpartition(":")
    return (algorithm or "md5", hexdigest)


def _entry(entry: dict, base: str) -> RemoteFile | None:
    name = entry.get("key") or entry.get("filename")
    links = entry.get("links") or {}
    href = links.get("content") or links.get("download") or links.get("self")
    if not name or not href:
        return None
    return RemoteFile(name=name, url=urljoin(base, href), size=entry.get("size", entry.get("filesize")),
                      digest=_checksum(entry.get("checksum")), file_id=entry.get("id"))


class ZenodoClient:
    """Read-only view of one public Zenodo record."""

    def __init__(self, api_url: str, record_id: str | int, *, retries: int = 5, backoff_seconds: float = 2.0,
                 timeout_seconds: float = 120, session: requests.Session | None = None):
        self.api_url = api_url.rstrip("/") + "/"
        self.record_id = str(record_id)
        self._http = dict(retries=retries, backoff_seconds=backoff_seconds, timeout_seconds=timeout_seconds)
        self._own_session = session is None
        self.session = session or requests.Session()
        self._files: dict[str, RemoteFile] | None = None

    def __enter__(self) -> ZenodoClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def _get(self, url: str) -> dict:
        return get_json(url, session=self.session, label=f"Zenodo record {self.record_id}", **self._http)

    def record(self) -> dict:
        return self._get(urljoin(self.api_url, f"records/{quote(self.record_id, safe='')}"))

    def files(self) -> dict[str, RemoteFile]:
        """Files of the record by name, with size, md5 and absolute download URL."""
        if self._files is None:
            record_url = urljoin(self.api_url, f"records/{quote(self.record_id, safe='')}")
            entries = self.record().get("files")
            if not isinstance(entries, list):
                entries = self._get(record_url + "/files").get("entries") or []
            remote = (_entry(e, self.api_url) for e in entries)
            self._files = {f.name: f for f in remote if f is not None}
        return self._files

    def file(self, name: str) -> RemoteFile:
        files = self.files()
        if name not in files:
            raise InputError(name, f"not in Zenodo record {self.record_id}; "
                                   f"it holds: {', '.join(sorted(files)) or 'no files'}")
        return files[name]

    def download(self, name: str, dest: str | Path, *, sha256: str | None = None) -> str:
        """Fetch one file, verified against Zenodo's checksum (and ``sha256`` when pinned); return its sha256."""
        remote = self.file(name)
        expected = [remote.digest] if remote.digest else []
        if not remote.digest:
            log.warning("%s: Zenodo lists no checksum for this file; only its size is checked", name)
        if sha256:
            expected.append(("sha256", sha256))
        return download(remote.url, dest, expected=expected, size=remote.size, session=self.session, **self._http)
