"""Rows stored without an INTERVENTION value, in a table whose pricing run :func:`bidstack.io.read`
is asked for: found from the files' statistics, named in the error with the sources that wrote
them."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from bidstack.errors import StoreError
from bidstack.io.schema import TableSpec
from bidstack.io.store import MONTH_FORMAT, parquet_metadata, read_manifest

if TYPE_CHECKING:
    from bidstack.io.read import Store

#: How many sources an error about stored rows names.
SHOWN_SOURCES = 3


def check_interventions(
    store: Store,
    spec: TableSpec,
    frame: pl.LazyFrame,
    begin: datetime | None,
    finish: datetime | None,
) -> None:
    """Raise :class:`StoreError` if rows of ``frame`` have no INTERVENTION value: the pricing run
    cannot be told from intervention runs there. The files' statistics answer without reading
    the data, unless some file holds such rows."""
    first = begin.strftime(MONTH_FORMAT) if begin is not None else ""
    last = finish.strftime(MONTH_FORMAT) if finish is not None else "~"
    suspects = [
        path
        for path in store.without_intervention(spec)
        if first <= path.parent.name.removeprefix("month=") <= last
    ]
    if not suspects:
        return
    count = frame.filter(pl.col("intervention").is_null()).select(pl.len()).collect().item()
    if not count:
        return
    stems = {path.stem for path in suspects}
    sources = sorted(
        key
        for key, entry in read_manifest(store.root)["sources"].items()
        if entry.get("source_id") in stems
    )
    named = ", ".join(sources[:SHOWN_SOURCES]) + (", ..." if len(sources) > SHOWN_SOURCES else "")
    origin = f" (from {named})" if sources else ""
    raise StoreError(
        f"{spec.name}: {count} stored row(s) asked for have no INTERVENTION value, so the pricing "
        f"run (INTERVENTION = 0) cannot be told from intervention runs{origin}; if they hold the "
        "pricing run only, write them again under their source with write_table(..., "
        "intervention=0), else ingest their files into a new store (raw=True returns the rows "
        "as stored)"
    )


def files_without_intervention(files: list[Path]) -> list[Path]:
    """Those of ``files`` holding rows without an INTERVENTION value."""
    return [path for path in files if _null_count(path, path.stat().st_mtime_ns, "intervention")]


@lru_cache(maxsize=4096)
def _null_count(path: Path, mtime_ns: int, column: str) -> int:
    """Nulls in ``column`` of a Parquet file, from its statistics (every row if it has none).
    ``mtime_ns`` keys the cache: a store's files are replaced, never changed in place."""
    metadata = parquet_metadata(path)
    index = metadata.schema.names.index(column)
    nulls = 0
    for group in range(metadata.num_row_groups):
        chunk = metadata.row_group(group)
        stats = chunk.column(index).statistics
        nulls += stats.null_count if stats is not None and stats.has_null_count else chunk.num_rows
    return nulls
