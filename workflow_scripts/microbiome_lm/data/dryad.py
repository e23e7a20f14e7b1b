"""Dryad API v2 client: find the latest version of a dataset and fetch its files one by one.

The walk follows Dryad's own documentation (datadryad/dryad-app, documentation/apis/):
dataset by URL-encoded DOI -> ``stash:versions`` (paged HAL list) -> the version with the
highest ``versionNumber`` -> its ``stash:files`` (paged, ``_embedded["stash:files"]``, each
with ``path``, ``size``, ``digest``, ``digestType``) -> ``/files/{id}/download``. Files are
fetched one by one because Dryad does not offer the whole-dataset zip for large datasets.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from urllib.parse import quote, urljoin

import requests

from ..core.errors import InputError
from .http import RemoteFile, download, get_json

log = logging.getLogger(__name__)


def normalize_doi(doi: str) -> str:
    """``doi:10.5061/...`` whatever form the user wrote (bare, ``doi:``, or a doi.org URL)."""
    doi = doi.strip()
    for prefix in ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "doi:"):
        if doi.lower().startswith(prefix):
            doi = doi[len(prefix):]
    if not doi.startswith("10."):
        raise InputError(None, f"{doi!r} does not look like a DOI (expected 10.xxxx/...)")
    return f"doi:{doi}"


def _href(document: dict, rel: str) -> str | None:
    link = (document.get("_links") or {}).get(rel)
    return link.get("href") if isinstance(link, dict) else None


class DryadClient:
    """Read-only view of one Dryad dataset; an optional token is sent as ``Authorization: Bearer``."""

    def __init__(self, api_url: str, doi: str, token: str | None = None, *, token_env: str | None = None,
                 retries: int = 5, backoff_seconds: float = 2.0, timeout_seconds: float = 120,
                 session: requests.Session | None = None):
        self.api_url = api_url.rstrip("/") + "/"
        self.doi = normalize_doi(doi)
        token = (token or "").strip()
        if token and not re.fullmatch(r"[\x21-\x7e]+", token):  # never echo it: it is a secret
            raise InputError(f"${token_env or 'token'}",
                             "the token holds spaces or characters a bearer token cannot hold")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = dict(retries=retries, backoff_seconds=backoff_seconds, timeout_seconds=timeout_seconds,
                          token_env=token_env)
        self._own_session = session is None
        self.session = session or requests.Session()
        self._files: dict[str, RemoteFile] | None = None
        self._version_id: str | None = None

    def __enter__(self) -> DryadClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def _url(self, href: str) -> str:
        """API hrefs are host-relative (``/api/v2/...``); resolve them against the API base."""
        return urljoin(self.api_url, href)

    def _get(self, href: str) -> dict:
        return get_json(self._url(href), headers=self._headers, session=self.session,
                        label=f"Dryad {self.doi}", **self._http)

    def _pages(self, href: str, embedded: str) -> list[dict]:
        """Every item of a paged HAL list, following ``_links.next``."""
        items: list[dict] = []
        seen: set[str] = set()
        while href and href not in seen:
            seen.add(href)
            page = self._get(href)
            items.extend((page.get("_embedded") or {}).get(embedded) or [])
            href = _href(page, "next")
        return items

    def dataset(self) -> dict:
        """Dataset metadata (title, identifier, links to versions)."""
        return self._get(f"datasets/{quote(self.doi, safe='')}")

    def versions(self) -> list[dict]:
        dataset = self.dataset()
        href = _href(dataset, "stash:versions") or f"datasets/{quote(self.doi, safe='')}/versions"
        return self._pages(href, "stash:versions")

    def latest_version_id(self) -> str:
        """Id of the newest version (highest ``versionNumber``), read from its ``_links.self``."""
        if self._version_id is None:
            versions = [v for v in self.versions() if _href(v, "self")]
            if not versions:
                raise InputError(f"Dryad {self.doi}", "the dataset lists no viewable version")
            latest = max(enumerate(versions), key=lambda iv: (iv[1].get("versionNumber") or 0, iv[0]))[1]
            self._version_id = _href(latest, "self").rstrip("/").rsplit("/", 1)[-1]
            log.info("Dryad %s: latest version %s (versionNumber %s, published %s)", self.doi, self._version_id,
                     latest.get("versionNumber"), latest.get("publicationDate", "?"))
        return self._version_id

    def files(self) -> dict[str, RemoteFile]:
        """Files of the latest version by name, with size, digest and absolute download URL."""
        if self._files is None:
            entries = self._pages(f"versions/{self.latest_version_id()}/files", "stash:files")
            self._files = {e["path"]: self._remote(e) for e in entries
                           if e.get("path") and e.get("status") != "deleted"}
        return self._files

    def _remote(self, entry: dict) -> RemoteFile:
        """One ``stash:files`` entry; the download link falls back to ``/files/{id}/download``."""
        file_id = (_href(entry, "self") or "").rstrip("/").rsplit("/", 1)[-1] or None
        href = _href(entry, "stash:download") or _href(entry, "stash:file-download") or f"files/{file_id}/download"
        digest = (entry["digestType"], entry["digest"]) if entry.get("digest") and entry.get("digestType") else None
        return RemoteFile(name=entry["path"], url=self._url(href), size=entry.get("size"), digest=digest,
                          file_id=file_id)

    def file(self, name: str) -> RemoteFile:
        files = self.files()
        if name not in files:
            raise InputError(name, f"not in the latest version ({self._version_id}) of Dryad dataset {self.doi}; "
                                   f"it holds: {', '.join(sorted(files)) or 'no files'}")
        return files[name]

    def download(self, name: str, dest: str | Path, *, sha256: str | None = None) -> str:
        """Fetch one file, verified against Dryad's digest (and ``sha256`` when pinned); return its sha256."""
        remote = self.file(name)
        expected = [remote.digest] if remote.digest else []
        if not remote.digest:
            log.warning("%s: Dryad publishes no digest for this file; only its size is checked", name)
        if sha256:
            expected.append(("sha256", sha256))
        return download(remote.url, dest, expected=expected, size=remote.size, headers=self._headers,
                        session=self.session, **self._http)

