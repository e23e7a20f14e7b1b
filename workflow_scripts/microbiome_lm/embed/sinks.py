"""Streaming table outputs: each batch is appended to parquet and TSV, both renamed into place at the end.

Per-taxon contextual embeddings grow with samples x taxa x hidden, so nothing is collected in
memory: a :class:`TableSink` appends every batch to a pyarrow ``ParquetWriter`` and a TSV handle
opened on temporary siblings (:func:`core.atomic.atomic_path`); a failure anywhere removes them.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..core.atomic import atomic_path

TABLE_FORMATS = ("parquet", "tsv")


class TableSink:
    """Appends DataFrame batches with identical columns to ``<stem>.parquet`` and/or ``<stem>.tsv``."""

    def __init__(self, stack: contextlib.ExitStack, out_dir: Path, stem: str, formats: tuple[str, ...]):
        self.paths = {fmt: out_dir / f"{stem}.{fmt}" for fmt in TABLE_FORMATS if fmt in formats}
        self._tmp = {fmt: stack.enter_context(atomic_path(path, suffix=f".{fmt}")) for fmt, path in self.paths.items()}
        self._parquet: pq.ParquetWriter | None = None
        self._tsv = open(self._tmp["tsv"], "w") if "tsv" in self._tmp else None  # noqa: SIM115 - closed in close()
        self._header = True
        stack.callback(self.close)

    def append(self, frame: pd.DataFrame) -> None:
        if "parquet" in self._tmp:
            batch = pa.Table.from_pandas(frame, preserve_index=False)
            if self._parquet is None:
                self._parquet = pq.ParquetWriter(self._tmp["parquet"], batch.schema)
            self._parquet.write_table(batch)
        if self._tsv is not None:
            frame.to_csv(self._tsv, sep="\t", index=False, header=self._header, float_format="%.7g")
        self._header = False

    def close(self) -> None:
        """Finish both files (runs before the atomic renames, which the stack unwinds afterwards)."""
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None
        if self._tsv is not None:
            self._tsv.close()
            self._tsv = None
