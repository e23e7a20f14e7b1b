"""Error types that carry the offending file, so every message names what to fix."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad user or upstream input. The message always starts with the file it came from."""

    def __init__(self, source: str | Path | None, problem: str):
        self.source = str(source) if source is not None else None
        self.problem = problem
        super().__init__(f"{self.source}: {problem}" if self.source else problem)


class ConfigError(InputError):
    """A configuration value failed validation; the message names the key."""


class ChecksumError(InputError):
    """A downloaded or supplied file does not match its expected digest."""
