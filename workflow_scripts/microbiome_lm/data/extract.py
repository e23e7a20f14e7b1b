"""``microbiome-lm extract``: unpack a downloaded zip safely and check its expected members.

Every entry is vetted before anything is written: absolute paths, drive letters, ``..``
components, symlinks and device entries are refused (a crafted archive could otherwise
write outside the output folder). macOS debris (``__MACOSX/``, ``.DS_Store``) is skipped.
When every entry sits under one folder named like the zip's stem, that folder is stripped,
so ``microbiomedata.zip`` lands the same whether it was zipped from inside or outside its
folder, unless the expected members name that folder themselves. Extraction goes into a
temporary sibling that replaces the output folder only after every expected member was
found, so a failure leaves nothing behind.
"""

from __future__ import annotations

import logging
import re
import shutil
import stat
import zipfile
from collections.abc import Iterable
from pathlib import Path

from tqdm import tqdm

from ..core.atomic import atomic_dir
from ..core.errors import InputError
from .layout import zip_members

log = logging.getLogger(__name__)

_SKIPPED_DIRS = {"__MACOSX"}
_SKIPPED_FILES = {".DS_Store"}


def _parts(name: str) -> list[str]:
    return [p for p in re.split(r"[\\/]", name) if p not in ("", ".")]


def _is_skipped(parts: list[str]) -> bool:
    return bool(parts) and (parts[0] in _SKIPPED_DIRS or parts[-1] in _SKIPPED_FILES)


def _check_entry(zip_path: Path, info: zipfile.ZipInfo) -> None:
    """Refuse an entry that could escape the output folder or is not a plain file or folder."""
    name = info.filename
    if name.startswith(("/", "\\")):
        raise InputError(zip_path, f"entry {name!r} has an absolute path; refusing to extract")
    if re.match(r"[A-Za-z]:", name):
        raise InputError(zip_path, f"entry {name!r} starts with a drive letter; refusing to extract")
    if ".." in _parts(name):
        raise InputError(zip_path, f"entry {name!r} has a '..' component; refusing to extract")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise InputError(zip_path, f"entry {name!r} is a symbolic link; refusing to extract")
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise InputError(zip_path, f"entry {name!r} is not a regular file or folder; refusing to extract")


def plan_members(zip_path: str | Path, infos: Iterable[zipfile.ZipInfo],
                 expect: Iterable[str] = ()) -> list[tuple[zipfile.ZipInfo, str]]:
    """Vet every entry and map each kept one to its relative output path (``/``-separated)."""
    zip_path = Path(zip_path)
    kept = []
    for info in infos:
        _check_entry(zip_path, info)
        parts = _parts(info.filename)
        if parts and not _is_skipped(parts):
            kept.append((info, parts))
    stem = zip_path.stem
    expect_names_stem = any(_parts(m)[:1] == [stem] for m in expect)
    if kept and not expect_names_stem and all(p[0] == stem and (len(p) > 1 or i.is_dir()) for i, p in kept):
        log.info("%s: stripping the top-level folder %s/", zip_path.name, stem)
        kept = [(i, p[1:]) for i, p in kept if len(p) > 1]
    return [(info, "/".join(parts)) for info, parts in kept]


def extract_zip(zip_path: str | Path, out_dir: str | Path, expect: Iterable[str] = ()) -> list[str]:
    """Extract ``zip_path`` into ``out_dir`` (replaced atomically); return the files written."""
    zip_path, expect = Path(zip_path), list(expect)
    if not zip_path.is_file():
        raise InputError(zip_path, "not found")
    try:
        with zipfile.ZipFile(zip_path) as archive:
            plan = plan_members(zip_path, archive.infolist(), expect)
            written = []
            with atomic_dir(out_dir) as tmp:
                for info, rel in tqdm(plan, desc=zip_path.name, unit="file", disable=None, leave=False):
                    target = tmp / rel
                    if info.is_dir():
                        target.mkdir(parents=True, exist_ok=True)
                        continue
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(info) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 20)
                    written.append(rel)
                missing = [m for m in expect if not (tmp / m).is_file()]
                if missing:
                    raise InputError(zip_path, f"{len(missing)} expected member(s) missing: {', '.join(missing)} "
                                               f"(the archive holds {len(written)} file(s))")
    except zipfile.BadZipFile as err:
        raise InputError(zip_path, f"not a readable zip archive ({err}); was the download complete?") from None
    except (RuntimeError, NotImplementedError) as err:  # encrypted entries, unsupported compression
        raise InputError(zip_path, f"cannot read the archive: {err}") from None
    log.info("%s: extracted %d file(s) into %s", zip_path.name, len(written), out_dir)
    return written


def _run(args):
    expect = list(args.expect or [])
    if args.expect_published:
        try:
            expect += zip_members(Path(args.zip).name)
        except KeyError:
            raise InputError(args.zip, "--expect-published: not one of the published archives") from None
    extract_zip(args.zip, args.out, expect)


def register(subparsers) -> None:
    p = subparsers.add_parser("extract", help="safely unpack a zip and check its expected members",
                              description=__doc__)
    p.add_argument("--zip", required=True, help="archive to unpack")
    p.add_argument("--out", required=True, help="output folder (replaced atomically)")
    p.add_argument("--expect", action="extend", nargs="+", metavar="MEMBER",
                   help="member that must exist after extraction (repeatable)")
    p.add_argument("--expect-published", action="store_true",
                   help="also expect every member the published archive of this name holds (data.layout)")
    p.set_defaults(func=_run)
