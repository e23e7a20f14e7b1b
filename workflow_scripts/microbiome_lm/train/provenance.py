"""What goes into a checkpoint's meta.json besides the config: versions and input checksums."""

from __future__ import annotations

import hashlib
import platform
from pathlib import Path


def library_versions() -> dict[str, str]:
    """Versions of the libraries that determine a checkpoint's numbers."""
    import numpy
    import torch
    import transformers

    from .. import __version__

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "numpy": numpy.__version__,
        "microbiome_lm": __version__,
        "cuda": str(torch.version.cuda),
    }


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def input_checksums(paths: dict[str, str | Path]) -> dict[str, str]:
    """SHA-256 of every input file; a directory (a checkpoint) hashes its files in name order."""
    out = {}
    for name, path in paths.items():
        path = Path(path)
        if path.is_dir():
            digest = hashlib.sha256()
            for child in sorted(p for p in path.iterdir() if p.is_file() and p.name != "meta.json"):
                digest.update(child.name.encode() + b"\0" + file_sha256(child).encode())
            out[name] = digest.hexdigest()
        else:
            out[name] = file_sha256(path)
    return out
