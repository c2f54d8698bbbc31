"""The Parquet store: one hive-partitioned dataset per table, by month, and a manifest of sources.

Layout::

    STORE/
      _manifest.json                          every source stored: key, hash, rows, files, issues
      _lock                                   held by the one process writing
      _staging/<transaction>/...              files being written; never read, removed at the end
      <table>/month=YYYY-MM/<source-id>.parquet
      <table>/month=undated/<source-id>.parquet   rows without a time (see below)

``<table>`` is the MMS table name lower-cased (``bidperoffer_d``), ``month`` the calendar month
of the table's interval column, and ``<source-id>`` 16 hex digits of the SHA-256 of the source's
key (its absolute path, or the name given to :func:`~bidstack.io.write.write_table`). Each
source's rows live in files of their own, so a changed source replaces exactly its own rows.
Every file of a table has the table's full schema, so polars, pyarrow and duckdb read a table
directory without bidstack.

A table whose time column is not part of its primary key (INTERCONNECTOR's ``LASTCHANGED``, say)
may have rows without a time: they are stored in the fixed partition ``month=undated`` (the
partition value is then the text ``undated``) and :func:`bidstack.io.read` returns them whatever
the window. A table whose time column is part of its key never has undated rows.

Writes are atomic. A source is written to ``_staging`` first; only when all of it has been read
is a commit journal written there, then the files are renamed into place, the source's old files
removed and the manifest replaced. An interrupted write leaves either no journal (the staging is
discarded by the next writer or reader) or a complete journal (which the next one completes).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bidstack.errors import StoreError
from bidstack.io.conflicts import resolve_conflicts
from bidstack.io.report import SourceReport
from bidstack.io.schema import TableSpec, table_spec

MANIFEST = "_manifest.json"
LOCK = "_lock"
STAGING = "_staging"
COMMIT = "_commit.json"
STORE_FORMAT = "bidstack-store/1"
COMPRESSION = "zstd"
MONTH_FORMAT = "%Y-%m"
#: The partition of rows without a time (tables whose time column is not part of the key).
UNDATED = "undated"
#: The column pandas writes its index to (NEMOSIS caches carry it); not data of the table.
PANDAS_INDEX = "__index_level_0__"


def table_dir(store: str | os.PathLike, table: str) -> Path:
    """The directory of ``table`` (any case) in ``store``: a hive-partitioned Parquet dataset."""
    return Path(store) / table_spec(table).store_name


def partition_dir(store: str | os.PathLike, table: str, month: str) -> Path:
    """The directory holding ``table``'s rows for ``month`` (``YYYY-MM``)."""
    return table_dir(store, table) / f"month={month}"


def source_id(key: str) -> str:
    """The file name stem of a source's Parquet files."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def read_manifest(store: str | os.PathLike) -> dict:
    """The store's manifest (empty if nothing has been stored yet)."""
    path = Path(store) / MANIFEST
    if not path.exists():
        return {"format": STORE_FORMAT, "sources": {}, "rejected": {}}
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != STORE_FORMAT:
        raise StoreError(f"{path}: not a bidstack store manifest ({STORE_FORMAT})")
    return manifest


def _write_json(path: Path, content: dict) -> None:
    """Replace ``path`` with ``content`` atomically and durably."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w") as out:
        json.dump(content, out, indent=1, sort_keys=True)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, path)


def _remove_transaction(transaction: Path) -> None:
    """Delete a transaction's staging folder, and ``_staging`` itself once empty."""
    shutil.rmtree(transaction, ignore_errors=True)
    with suppress(OSError):
        transaction.parent.rmdir()


class Staging:
    """The Parquet files of one source, written under ``_staging`` until committed.

    Parquet encoding runs on a background thread, one frame at a time, while the caller reads
    the next chunk; an error there is raised by the next :meth:`write` or by :meth:`close`.
    """

    def __init__(self, root: Path, key: str) -> None:
        self.key = key
        self.stem = source_id(key)
        self.dir = root / STAGING / uuid.uuid4().hex
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {}
        self._encoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bidstack-parquet")
        self._pending: Future | None = None

    def write(self, spec: TableSpec, table: pa.Table) -> None:
        """Append ``table`` (in ``spec``'s Arrow schema) to its month partitions."""
        time = table.column(spec.partition_column)
        months = pc.add(pc.multiply(pc.year(time), 100), pc.month(time))
        numbers = pc.unique(months).to_pylist()
        if len(numbers) == 1:
            parts = {numbers[0]: table}
        else:
            parts = {
                number: table.filter(
                    pc.is_null(months) if number is None else pc.equal(months, number)
                )
                for number in numbers
            }
        self._wait()
        self._pending = self._encoder.submit(self._write_parts, spec, parts)

    def _wait(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def _write_parts(self, spec: TableSpec, parts: dict[int | None, pa.Table]) -> None:
        for number, part in parts.items():
            month = UNDATED if number is None else f"{number // 100:04d}-{number % 100:02d}"
            final = f"{spec.store_name}/month={month}/{self.stem}.parquet"
            self._writer(final, spec).write_table(part)
            self.rows[final] = self.rows.get(final, 0) + part.num_rows

    def _writer(self, final: str, spec: TableSpec) -> pq.ParquetWriter:
        if final not in self.writers:
            path = self.dir / final
            path.parent.mkdir(parents=True, exist_ok=True)
            self.writers[final] = pq.ParquetWriter(
                path,
                spec.arrow_schema,
                compression=COMPRESSION,
                write_statistics=spec.statistics_columns,
            )
        return self.writers[final]

    def close(self) -> None:
        """Finish every file; raise what went wrong in the background, if anything did."""
        try:
            self._wait()
        finally:
            self._encoder.shutdown()
            for writer in self.writers.values():
                writer.close()
            self.writers.clear()

    def drop_rows(self, dropped: Mapping[str, pl.Series]) -> None:
        """Write the staged files named in ``dropped`` again without the rows marked True."""
        self.close()
        for final, mask in dropped.items():
            path = self.dir / final
            kept = pq.read_table(path).filter(pa.array(~mask))
            self.rows[final] = kept.num_rows
            if not kept.num_rows:
                path.unlink()
                del self.rows[final]
                continue
            spec = table_spec(Path(final).parts[0])
            pq.write_table(
                kept, path, compression=COMPRESSION, write_statistics=spec.statistics_columns
            )

    def discard(self) -> None:
        """Remove the staged files, unless a commit journal says they are to be kept."""
        with suppress(Exception):
            self.close()
        if not (self.dir / COMMIT).exists():
            _remove_transaction(self.dir)


class StoreWriter:
    """A store opened for writing by this process (see :func:`open_for_writing`)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = read_manifest(root)

    @contextmanager
    def staging(self, key: str) -> Iterator[Staging]:
        """A staging area for source ``key``; discarded unless committed before it closes."""
        staging = Staging(self.root, key)
        try:
            yield staging
        finally:
            staging.discard()

    def commit(self, staging: Staging, entry: dict) -> None:
        """Make ``staging``'s files visible and record ``entry`` as source ``staging.key``."""
        staging.close()
        old = self.manifest["sources"].get(staging.key, {}).get("files", [])
        files = sorted(staging.rows)
        journal = {
            "key": staging.key,
            "moves": [[str(staging.dir.relative_to(self.root) / name), name] for name in files],
            "deletes": [name for name in old if name not in staging.rows],
            "entry": entry | {"source_id": staging.stem, "files": files},
        }
        staging.dir.mkdir(parents=True, exist_ok=True)
        _write_json(staging.dir / COMMIT, journal)
        self._apply(staging.dir, journal)

    def settle_conflicts(self, staging: Staging, report: SourceReport) -> None:
        """Drop the staged rows that conflict with rows other sources stored, reporting every
        conflict (the rule is :mod:`bidstack.io.conflicts`')."""
        staging.close()
        sources = {entry.get("source_id"): key for key, entry in self.manifest["sources"].items()}
        files = sorted(staging.rows)
        try:
            dropped = resolve_conflicts(
                self.root, sources, staging.dir, staging.stem, files, report
            )
        except (pl.exceptions.PolarsError, OSError) as exc:
            for name in files:  # a damaged file of another source: name it
                for path in sorted((self.root / name).parent.glob("*.parquet")):
                    parquet_metadata(path)
            raise StoreError(damaged(self.root, exc)) from exc
        for final, mask in dropped.items():
            report.rows[Path(final).parts[0]] -= int(mask.sum())
        staging.drop_rows(dropped)

    def record_rejection(self, key: str, entry: dict) -> None:
        """Remember that source ``key`` was rejected (its earlier rows, if any, stay)."""
        self.manifest["rejected"][key] = entry
        _write_json(self.root / MANIFEST, self.manifest)

    def source_with_hash(self, sha256: str) -> str | None:
        """The key of a stored source with this content hash, if any."""
        return next(
            (key for key, entry in self.manifest["sources"].items() if entry["sha256"] == sha256),
            None,
        )

    def recover(self) -> None:
        """Complete committed transactions and discard unfinished ones."""
        staging_root = self.root / STAGING
        if not staging_root.is_dir():
            return
        for transaction in sorted(staging_root.iterdir()):
            journal = transaction / COMMIT
            if journal.exists():
                try:
                    content = json.loads(journal.read_text())
                except (OSError, ValueError) as exc:
                    raise StoreError(
                        f"{journal}: unreadable commit journal of an interrupted write ({exc}); "
                        f"remove {transaction} and ingest its source again"
                    ) from exc
                self._apply(transaction, content)
            else:
                _remove_transaction(transaction)

    def _apply(self, transaction: Path, journal: dict) -> None:
        for staged, final in journal["moves"]:
            source = self.root / staged
            if source.exists():
                (self.root / final).parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, self.root / final)
        for name in journal["deletes"]:
            path = self.root / name
            path.unlink(missing_ok=True)
            if path.parent.is_dir() and not any(path.parent.iterdir()):
                path.parent.rmdir()
        self.manifest["sources"][journal["key"]] = journal["entry"]
        self.manifest["rejected"].pop(journal["key"], None)
        _write_json(self.root / MANIFEST, self.manifest)
        _remove_transaction(transaction)


@contextmanager
def open_for_writing(store: str | os.PathLike) -> Iterator[StoreWriter]:
    """Lock ``store`` (creating it if needed), finish any interrupted write, and yield a writer."""
    root = Path(store)
    try:
        root.mkdir(parents=True, exist_ok=True)
        lock = (root / LOCK).open("a")
    except OSError as exc:
        raise StoreError(f"{root}: cannot open the store for writing ({exc})") from exc
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise StoreError(f"{root}: another process is writing to this store") from exc
        writer = StoreWriter(root)
        writer.recover()
        yield writer


def recover(store: str | os.PathLike) -> None:
    """Finish an interrupted write, if there is one and no other process is writing."""
    root = Path(store)
    if not (root / STAGING).is_dir():
        return
    try:
        with open_for_writing(root):
            pass
    except StoreError:
        return


def describe(store: str | os.PathLike) -> pl.DataFrame:
    """One row per stored table: rows, first and last interval time, months and sources.

    Read from the Parquet footers (row counts and column statistics), not the data.
    """
    root = Path(store)
    if not (root / MANIFEST).exists():
        raise StoreError(f"{root}: not a bidstack store (no {MANIFEST})")
    recover(root)
    rows = []
    for directory in sorted(path for path in root.iterdir() if path.is_dir()):
        files = sorted(directory.glob("month=*/*.parquet"))
        if directory.name.startswith(("_", ".")) or not files:
            continue
        spec = table_spec(directory.name)
        first, last, count = None, None, 0
        for path in files:
            metadata = parquet_metadata(path)
            count += metadata.num_rows
            index = metadata.schema.names.index(spec.time_column)
            for group in range(metadata.num_row_groups):
                stats = metadata.row_group(group).column(index).statistics
                if stats is not None and stats.has_min_max:
                    first = min(first or stats.min, stats.min)
                    last = max(last or stats.max, stats.max)
        rows.append(
            {
                "table": directory.name,
                "rows": count,
                "time_column": spec.time_column,
                "first": first,
                "last": last,
                "months": len({path.parent.name for path in files}),
                "sources": len({path.stem for path in files}),
            }
        )
    return pl.DataFrame(
        rows,
        schema={
            "table": pl.String,
            "rows": pl.Int64,
            "time_column": pl.String,
            "first": pl.Datetime("us"),
            "last": pl.Datetime("us"),
            "months": pl.Int64,
            "sources": pl.Int64,
        },
    )


def parquet_metadata(path: Path) -> pq.FileMetaData:
    """The footer of a stored Parquet file, or a :class:`StoreError` if it is damaged."""
    try:
        return pq.ParquetFile(path).metadata
    except (OSError, pa.ArrowException) as exc:
        raise StoreError(damaged(path, exc)) from exc


def damaged(path: Path, exc: Exception) -> str:
    """The message for a stored file that cannot be read."""
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return (
        f"{path}: a damaged file in the store ({first}); remove it and ingest its source again"
    )


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
