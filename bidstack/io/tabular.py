"""Readers for MMS tables that arrive as tables rather than MMS CSV: caches and databases.

- A NEMOSIS cache (as NEMOSIS and nem-bidding-dashboard write them, ``fformat="parquet"`` or
  ``"feather"``) holds one table, the one its file name names (see
  :func:`bidstack.io.sources.cache_table`). NEMOSIS keeps every value as text
  (``'2022/01/01 00:05:00'``, ``'124.85631'``, ``'0'``) and adds pandas' index column.
- A SQLite database (nempy's ``market_management_system.db``) holds tables named as MMS tables;
  each is a member of the source, and its other tables are reported as skipped.

Columns are matched by name, in any case; pandas' index columns are dropped. Values, text or
typed, go through the typing rules MMS CSV ingest uses (:mod:`bidstack.io.values`): a value that
does not convert rejects its row, counted with the row (1-based, in file order) and column, as a
bad field of an MMS CSV is. A table whose columns cannot be stored (a column the table does not
have, no time or INTERVENTION column) is skipped and counted.

nempy's database holds NEMDE's pricing run only, without an INTERVENTION column: a pricing-run
table read from a database without one is stored with INTERVENTION = 0, and a warning says so. A
cache without INTERVENTION is not presumed to be the pricing run: it is skipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from bidstack.errors import IngestError
from bidstack.io.report import SourceReport
from bidstack.io.schema import TableSpec, column_problem, find_table, unknown_columns
from bidstack.io.sources import Member, quote_name
from bidstack.io.values import typed_rows

#: Member kinds read here.
TABLE_KINDS = frozenset({"parquet", "feather", "sqlite"})
#: Rows typed at a time.
BATCH_ROWS = 1 << 17
#: Columns pandas writes for a frame's index (``to_parquet``, ``to_sql``): not table data.
PANDAS_INDEX_COLUMNS = frozenset({"__index_level_0__", "index", "level_0"})
#: Errors a damaged Parquet or Feather file raises while read.
ARROW_ERRORS = (pa.ArrowException, OSError)

#: A table's column names, its number of rows (for progress) and its rows in batches.
Batches = tuple[list[str], int, Iterator[pa.RecordBatch]]


def read_member(
    member: Member, report: SourceReport, advance: Callable[[int], object]
) -> Iterator[tuple[TableSpec, pa.Table]]:
    """Typed tables of one cache or database member, a batch of rows at a time."""
    spec = find_table(member.table)
    form = {"parquet": "Parquet", "feather": "Feather", "sqlite": "SQLite"}[member.kind]
    try:
        with member.open() as handle:
            if member.kind == "sqlite":
                columns, rows, batches = _database_batches(handle, member.table, member.size)
            elif member.kind == "parquet":
                columns, rows, batches = _parquet_batches(handle)
            else:
                columns, rows, batches = _feather_batches(handle)
            reader = _TableReader(member.where, spec, report, columns, member.kind == "sqlite")
            yield from reader.tables(batches, lambda n: advance(member.size * n // max(1, rows)))
    except (*ARROW_ERRORS, sqlite3.Error) as exc:
        raise IngestError(
            f"{member.where}: cannot be read as {form} ({exc}); nothing was stored from it"
        ) from exc


def _parquet_batches(stream: BinaryIO) -> Batches:
    parquet = pq.ParquetFile(stream)
    columns = _data_columns(parquet.schema_arrow)
    batches = parquet.iter_batches(batch_size=BATCH_ROWS, columns=columns)
    return columns, parquet.metadata.num_rows, batches


def _feather_batches(stream: BinaryIO) -> Batches:
    ipc = pa.ipc.open_file(stream)
    columns = _data_columns(ipc.schema)
    batches = (ipc.get_batch(i).select(columns) for i in range(ipc.num_record_batches))
    return columns, ipc.count_rows(), batches


def _data_columns(schema: pa.Schema) -> list[str]:
    """The schema's columns, less those pandas' metadata names as the frame's index."""
    metadata = schema.pandas_metadata or {}
    index = {name for name in metadata.get("index_columns", []) if isinstance(name, str)}
    return [name for name in schema.names if name not in index]


def _database_batches(database: sqlite3.Connection, table: str, rows: int) -> Batches:
    cursor = database.execute(f"SELECT * FROM {quote_name(table)}")
    columns = [description[0] for description in cursor.description]

    def batches() -> Iterator[pa.RecordBatch]:
        while block := cursor.fetchmany(BATCH_ROWS):
            values = zip(*block, strict=True)
            arrays = [_sqlite_array(list(column)) for column in values]
            yield pa.RecordBatch.from_arrays(arrays, names=columns)

    return columns, rows, batches()


def _sqlite_array(values: list) -> pa.Array:
    """One column of SQLite values as an Arrow array: typed if the values share a type, else as
    text (a SQLite column may mix types), to be typed by the ingest rules."""
    try:
        return pa.array(values)
    except (pa.ArrowException, TypeError, OverflowError):
        return pa.array([v if v is None or isinstance(v, str) else repr(v) for v in values])


class _TableReader:
    """Types the rows of one cached or database table, batch by batch."""

    def __init__(
        self,
        where: str,
        spec: TableSpec,
        report: SourceReport,
        columns: list[str],
        presume_pricing_run: bool,
    ) -> None:
        self.where = where
        self.spec = spec
        self.report = report
        data = [c for c in columns if c.lower() not in PANDAS_INDEX_COLUMNS]
        self.unknown = unknown_columns(spec, [name.lower() for name in data])
        self.source_columns = [name for name in data if name.lower() in spec.kinds]
        self.columns = [name.lower() for name in self.source_columns]
        self.fill_intervention = (
            presume_pricing_run and spec.pricing_run and "intervention" not in self.columns
        )
        stored = [*self.columns, "intervention"] if self.fill_intervention else self.columns
        self.problem = column_problem(spec, stored)
        self.row = 0

    def tables(
        self, batches: Iterable[pa.RecordBatch], advance: Callable[[int], object]
    ) -> Iterator[tuple[TableSpec, pa.Table]]:
        skipped = 0
        for batch in batches:
            first, self.row = self.row, self.row + batch.num_rows
            advance(batch.num_rows)
            if self.problem:
                skipped += batch.num_rows
                continue
            table = self._typed(batch, first)
            if table.num_rows:
                self.report.stored(self.spec.store_name, table.num_rows)
                yield self.spec, table
        if self.unknown and self.row and not self.problem:
            self.report.add("warning", self.where, f"{self.spec.name}: {self.unknown}")
        if self.problem and skipped:
            self.report.add("skipped", self.where, f"{self.spec.name}: {self.problem}", skipped)
        elif self.fill_intervention and self.row:
            self.report.add(
                "warning",
                self.where,
                f"{self.spec.name} has no INTERVENTION column: stored as INTERVENTION = 0, the "
                "pricing run (a database such as nempy's holds the pricing run only)",
            )

    def _typed(self, batch: pa.RecordBatch, first: int) -> pa.Table:
        """The batch's rows in the table's full schema; rows that do not type are rejected."""
        frame = pl.from_arrow(batch.select(self.source_columns))
        frame.columns = self.columns
        if self.fill_intervention:
            frame = frame.with_columns(intervention=pl.lit(0, dtype=pl.Int64))

        def reject(position: int, message: str) -> None:
            self.report.add("rejected", f"{self.where} row {first + position + 1}", message, 1)

        kinds = {name: self.spec.kinds[name] for name in frame.columns}
        try:
            required, plausible = self.spec.required_in(frame.columns), self.spec.plausible
            typed, _ = typed_rows(frame, kinds, required, reject, plausible)
        except pl.exceptions.PolarsError as exc:  # a column of a type no rule converts (a list)
            raise IngestError(
                f"{self.where}: a column cannot be stored as its MMS type ({exc}); "
                "nothing was stored from it"
            ) from exc
        return pa.Table.from_arrays(
            [
                typed[field.name].to_arrow().cast(field.type)
                if field.name in kinds
                else pa.nulls(typed.height, field.type)
                for field in self.spec.arrow_schema
            ],
            schema=self.spec.arrow_schema,
        )
