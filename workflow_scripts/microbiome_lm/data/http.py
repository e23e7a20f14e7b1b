"""One robust HTTP downloader shared by the Dryad, Zenodo and file-server fetchers.

Large published files (100-160 MB zips) over flaky links need three things a plain
``requests.get`` lacks: resuming a dropped transfer instead of restarting it, retrying
transient failures (connection errors, 5xx, 429) but not permanent ones (4xx), and
verifying the published digest before the file appears under its final name. Bytes
stream into ``<dest>.part`` next to the destination, so an interrupted run resumes where
it stopped and a failed check leaves nothing in place.

A bearer token travels only in request headers. This module's own messages name URLs
without query strings, and messages carried over from library errors pass through
:func:`_redact`, so the token never reaches a log, an exception or a file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import requests
from tqdm import tqdm

from ..core.errors import ChecksumError, InputError

log = logging.getLogger(__name__)

USER_AGENT = "microbiome-lm (reproduction of Pope et al. 2025; +https://doi.org/10.1371/journal.pcbi.1011353)"
CHUNK_BYTES = 1 << 20
# Network reads stay small: a read cut short by a dropped connection loses its whole buffer,
# and every byte written before the drop is a byte the resume does not fetch again.
STREAM_BYTES = 1 << 16

Digest = tuple[str, str]  # (algorithm as the API spells it, hex digest)

# Spellings used by Dryad (``sha-256``), Zenodo (``md5:``) and users, mapped to hashlib names.
_ALGORITHMS = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha384": "sha384", "sha512": "sha512"}

_RETRY_STATUS = {429} | set(range(500, 600))
_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


@dataclass(frozen=True)
class RemoteFile:
    """One file as a repository API lists it: enough to download and verify it."""

    name: str
    url: str
    size: int | None = None
    digest: Digest | None = None
    file_id: str | None = None


class _Transient(Exception):
    """A failure worth retrying; ``retry_after`` is the server's requested wait, if any."""

    def __init__(self, message: str, retry_after: float = 0.0):
        super().__init__(message)
        self.retry_after = retry_after


def hash_name(algorithm: str) -> str:
    """hashlib name of a digest algorithm as an API spells it (``sha-256``, ``SHA256``, ``md5``)."""
    key = algorithm.lower().replace("-", "").replace("_", "")
    if key not in _ALGORITHMS:
        raise InputError(None, f"unsupported digest algorithm {algorithm!r} (known: {', '.join(_ALGORITHMS)})")
    return _ALGORITHMS[key]


def file_digests(path: str | Path, algorithms: Iterable[str]) -> dict[str, str]:
    """Hex digests of a file for several algorithms in one read."""
    hashers = {name: hashlib.new(name) for name in {hash_name(a) for a in algorithms}}
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK_BYTES):
            for h in hashers.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashers.items()}


def verify_digests(path: str | Path, expected: Iterable[Digest], *, label: str | Path) -> str:
    """Check ``path`` against every expected digest; return its sha256.

    On a mismatch the file is deleted and :class:`ChecksumError` names ``label``, the
    expected and the found digest, so nothing unverified survives.
    """
    wanted = [(hash_name(a), h.strip().lower()) for a, h in expected]
    found = file_digests(path, [a for a, _ in wanted] + ["sha256"])
    for algorithm, hexdigest in wanted:
        if found[algorithm] != hexdigest:
            Path(path).unlink(missing_ok=True)
            raise ChecksumError(
                label, f"{algorithm} mismatch: expected {hexdigest}, found {found[algorithm]}; the file was removed"
            )
    return found["sha256"]


def display_url(url: str) -> str:
    """URL without query string or credentials: presigned storage URLs carry signatures."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _secrets(headers: Mapping[str, str]) -> list[str]:
    """Credential values to blank out of messages: the header value and its credential part."""
    secrets = []
    for key, value in headers.items():
        if key.lower() in {"authorization", "proxy-authorization"} and value.strip():
            secrets += [value, value.split()[-1]]
    return sorted(secrets, key=len, reverse=True)


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def _retry_after(response: requests.Response) -> float:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else 0.0


def _auth_error(label: str | Path, status: int, url: str, authorized: bool, token_env: str | None) -> InputError:
    if authorized:
        hint = (f"the token in environment variable {token_env} was refused (expired or without access); "
                "create a new one")
    elif token_env:
        hint = (f"this server needs a personal API token: set the environment variable {token_env} to it "
                "(it is sent as a bearer token and never logged)")
    else:
        hint = "access denied (the file may be restricted, or the server may need a token)"
    return InputError(label, f"HTTP {status} from {display_url(url)}: {hint}")


def _check_status(response: requests.Response, label: str | Path, *, authorized: bool, token_env: str | None) -> None:
    """Turn an HTTP error status into a retryable failure (5xx, 429) or a clear InputError (4xx)."""
    status = response.status_code
    if status in (401, 403):
        raise _auth_error(label, status, response.url, authorized, token_env)
    if status in _RETRY_STATUS:
        raise _Transient(f"HTTP {status} from {display_url(response.url)}", _retry_after(response))
    if status >= 400:
        raise InputError(label, f"HTTP {status} from {display_url(response.url)}")


def _with_retries(action: Callable[[], object], *, label: str | Path, retries: int, backoff_seconds: float,
                 secrets: Iterable[str] = (), sleep: Callable[[float], None] = time.sleep):
    """Run ``action`` until it succeeds, retrying transient failures with doubling waits."""
    secrets = list(secrets)
    for attempt in range(retries + 1):
        try:
            return action()
        except (_Transient, *_NETWORK_ERRORS) as err:
            message = _redact(f"{type(err).__name__}: {err}", secrets)
            if attempt == retries:
                raise InputError(label, f"failed after {retries + 1} attempt(s); last error: {message}") from None
            wait = max(backoff_seconds * 2**attempt, getattr(err, "retry_after", 0.0))
            log.warning("%s: attempt %d/%d failed (%s); retrying in %.1f s",
                        label, attempt + 1, retries + 1, message, wait)
            sleep(wait)
    raise AssertionError("unreachable")


def _session_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {"User-Agent": USER_AGENT, **(headers or {})}


def get_json(url: str, *, headers: Mapping[str, str] | None = None, retries: int = 5, backoff_seconds: float = 2.0,
             timeout_seconds: float = 120, session: requests.Session | None = None,
             token_env: str | None = None, label: str | None = None) -> dict:
    """GET a JSON document with the same retry policy as :func:`download`."""
    headers = {**_session_headers(headers), "Accept": "application/json"}
    secrets = _secrets(headers)
    authorized = bool(secrets)
    label = label or display_url(url)
    http = session or requests.Session()

    def once() -> dict:
        with http.get(url, headers=headers, timeout=timeout_seconds) as response:
            _check_status(response, label, authorized=authorized, token_env=token_env)
            try:
                return response.json()
            except ValueError:
                raise InputError(label, f"response from {display_url(url)} is not JSON") from None

    try:
        return _with_retries(once, label=label, retries=retries, backoff_seconds=backoff_seconds, secrets=secrets)
    finally:
        if session is None:
            http.close()


def _content_range_start(response: requests.Response) -> int | None:
    match = re.match(r"bytes (\d+)-\d+/(\d+|\*)", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _range_total(response: requests.Response) -> int | None:
    match = re.match(r"bytes \*/(\d+)", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _fetch_once(http: requests.Session, url: str, part: Path, headers: dict[str, str], timeout: float,
                label: str, authorized: bool, token_env: str | None) -> None:
    """One request: append to ``part`` from where it stops; raise _Transient on a short read."""
    have = part.stat().st_size if part.exists() else 0
    request_headers = dict(headers)
    if have:
        request_headers["Range"] = f"bytes={have}-"
    with http.get(url, headers=request_headers, stream=True, timeout=timeout) as response:
        if response.status_code == 416 and have:
            if _range_total(response) == have:
                return  # the part file already holds every byte
            part.unlink()
            raise _Transient(f"partial file of {have} bytes does not fit the remote file; restarting")
        _check_status(response, label, authorized=authorized, token_env=token_env)
        if response.status_code == 206:
            if not have or _content_range_start(response) != have:
                part.unlink(missing_ok=True)
                raise _Transient(f"server answered an unrequested range ({response.headers.get('Content-Range')})")
            mode, start = "ab", have
            log.info("%s: resuming at byte %d", label, have)
        else:
            if have:
                log.info("%s: server ignored the range request; restarting from byte 0", label)
            mode, start = "wb", 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        received = start
        with open(part, mode) as fh, tqdm(total=total, initial=start, unit="B", unit_scale=True,
                                           desc=label, disable=None, leave=False) as bar:
            for chunk in response.iter_content(STREAM_BYTES):
                fh.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if total is not None and received < total:
            raise _Transient(f"connection dropped after {received} of {total} bytes")


def download(url: str, dest: str | Path, *, expected: Digest | Iterable[Digest] | None = None,
             headers: Mapping[str, str] | None = None, retries: int = 5, backoff_seconds: float = 2.0,
             timeout_seconds: float = 120, session: requests.Session | None = None,
             token_env: str | None = None, size: int | None = None,
             sleep: Callable[[float], None] = time.sleep) -> str:
    """Download ``url`` to ``dest`` atomically, resuming and retrying; return the file's sha256.

    ``expected`` is one ``(algorithm, hexdigest)`` pair or several (an API digest plus a
    pinned sha256); each, and ``size`` when the API lists one, is checked before the
    rename onto ``dest``. ``token_env`` only names the variable in the message a 401/403
    produces. A part file left by a failed transfer is resumed by the next call.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    if expected is None:
        expected = []
    elif isinstance(expected, tuple) and len(expected) == 2 and all(isinstance(x, str) for x in expected):
        expected = [expected]
    expected = list(expected)
    for algorithm, _ in expected:
        hash_name(algorithm)  # fail on an unknown algorithm before any transfer
    request_headers = _session_headers(headers)
    secrets = _secrets(request_headers)
    label = dest.name
    http = session or requests.Session()
    log.info("%s: downloading %s", label, display_url(url))
    try:
        _with_retries(lambda: _fetch_once(http, url, part, request_headers, timeout_seconds, label,
                                         bool(secrets), token_env),
                     label=label, retries=retries, backoff_seconds=backoff_seconds, secrets=secrets, sleep=sleep)
    finally:
        if session is None:
            http.close()
    if size is not None and part.stat().st_size != int(size):
        found = part.stat().st_size
        part.unlink()
        raise ChecksumError(dest, f"{found} bytes, the API lists {size}; the file was removed")
    sha256 = verify_digests(part, expected, label=dest)
    os.replace(part, dest)
    checked = ", ".join(f"{hash_name(a)} {h.lower()}" for a, h in expected) or "nothing to check against"
    log.info("%s: sha256 %s (verified: %s)", label, sha256, checked)
    return sha256
