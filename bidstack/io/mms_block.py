"""One block of an MMS section's ``D`` rows parsed into the table's typed rows.

The fast path hands the block to Arrow's multi-threaded CSV parser with the final types, dates
dictionary-encoded so that each distinct date-time is parsed once; if anything does not type,
the block is read again as text and typed row by row, every row that does not type rejected by
its line (:class:`BlockParse`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from bidstack.io.plausible import Plausible
from bidstack.io.schema import KINDS, TableSpec
from bidstack.io.values import TEXT_KINDS, implausible, parse_dates, typed_rows

if TYPE_CHECKING:
    from bidstack.io.mms import MmsReader, Section

RECORD_FIELDS = ("_record", "_namespace", "_report", "_version")
UNCLOSED_QUOTE = "unclosed quote: a quoted field runs past the end of its line"
#: Bytes per Arrow CSV block: the unit of Arrow's parallel parse.
ARROW_BLOCK_BYTES = 4 << 20

#: How Arrow parses each kind on the fast path. Dates are dictionary-encoded text: a column
#: holds few distinct date-times, so Polars parses each distinct text once.
FAST_TYPES = {
    "datetime": pa.dictionary(pa.int32(), pa.string()),
    "date": pa.dictionary(pa.int32(), pa.string()),
    "float": pa.float64(),
    "int": pa.int64(),
    "string": pa.large_string(),
}


class _SlowPath(Exception):
    """The fast parse found a value it cannot type; the block is re-read row by row."""


class BlockParse:
    """Parses one block of ``D`` rows of one section into the table's typed rows."""

    def __init__(
        self, reader: MmsReader, section: Section, block: bytes | memoryview, lines: np.ndarray
    ) -> None:
        self.reader = reader
        self.section = section
        self.spec: TableSpec = section.spec
        self.block = block
        self.lines = lines
        self.kinds = section.kinds
        self.required = self.spec.required_in(list(self.kinds))

    def table(self) -> pa.Table:
        """The block's rows in the table's full schema; rows that cannot be typed are rejected."""
        try:
            table = self._fast()
        except (pa.ArrowInvalid, _SlowPath):
            table = self._typed(pl.from_arrow(self._arrow_as_text())).to_arrow()
        return self._conform(table)

    def clean_table(self) -> pa.Table | None:
        """The block's rows if there is one per line and every value types, else None."""
        try:
            table = self._fast(strict=True)
        except (pa.ArrowInvalid, _SlowPath):
            return None
        return self._conform(table)

    def _conform(self, table: pa.Table) -> pa.Table:
        """``table`` in the table's full schema: columns in order, absent ones null."""
        rows = table.num_rows
        return pa.Table.from_arrays(
            [
                table.column(field.name).cast(field.type)
                if field.name in self.kinds
                else pa.nulls(rows, field.type)
                for field in self.spec.arrow_schema
            ],
            schema=self.spec.arrow_schema,
        )

    def _fast(self, *, strict: bool = False) -> pa.Table:
        """Parse with the final types; :class:`_SlowPath` if a date is bad or the time missing,
        or (``strict``) if a line is not a row of the block's width or rows and lines differ."""
        types = {c: FAST_TYPES[k] for c, k in self.kinds.items()}
        try:
            table, bad_rows = self._arrow(types, repair=not strict)
        except pa.ArrowInvalid as exc:
            raise _SlowPath from exc
        if strict and (bad_rows or table.num_rows != len(self.lines)):
            raise _SlowPath
        table = table.unify_dictionaries()
        for name, kind in self.kinds.items():
            if kind in TEXT_KINDS:
                index = table.schema.get_field_index(name)
                table = table.set_column(index, name, _typed_dates(table.column(name), kind))
        if any(table.column(name).null_count for name in self.required):
            raise _SlowPath
        if _implausible(table, self.spec.plausible):
            raise _SlowPath
        self._reject_field_counts(bad_rows)
        return table

    def _arrow_as_text(self) -> pa.Table:
        """Every column as text, so that bad values can be found row by row."""
        text = dict.fromkeys(self.kinds, pa.large_string())
        try:
            table, bad_rows = self._arrow(text)
        except pa.ArrowInvalid:
            self._drop_lines(_not_utf8)
            table, bad_rows = self._arrow(text)
        self._reject_field_counts(bad_rows)
        return table

    def _drop_lines(self, broken: Callable[[bytes], str | None]) -> bool:
        """Reject the block's lines for which ``broken`` gives a reason; True if any were."""
        kept, lines = [], []
        for line, number in zip(_split_lines(bytes(self.block)), self.lines, strict=True):
            reason = broken(line)
            if reason:
                self.reader.reject(int(number), reason)
                continue
            kept.append(line)
            lines.append(number)
        dropped = len(lines) < len(self.lines)
        self.block, self.lines = b"".join(kept), np.array(lines, dtype=np.int64)
        return dropped

    def _arrow(
        self, types: dict[str, pa.DataType], *, repair: bool = True
    ) -> tuple[pa.Table, list[pacsv.InvalidRow]]:
        """The block parsed with ``types``, and its rows with the wrong number of fields.

        A quoted field may not run past its line (no MMS value holds a line end): with
        ``repair``, a line with an unclosed quote, which Arrow would join to the lines after it,
        is rejected and the rest parsed again (without, the caller looks line by line).
        """
        bad_rows: list[pacsv.InvalidRow] = []
        try:
            table = self._read_csv(types, bad_rows, threads=True)
        except pa.ArrowInvalid:
            if not (repair and self._drop_lines(_joining)):
                raise
            return self._arrow(types)
        joined = table.num_rows + len(bad_rows) != len(self.lines)
        if joined and repair and self._drop_lines(_joining):
            return self._arrow(types)
        if bad_rows:
            bad_rows.clear()
            table = self._read_csv(types, bad_rows, threads=False)
        return table, bad_rows

    def _read_csv(
        self, types: dict[str, pa.DataType], bad_rows: list, *, threads: bool
    ) -> pa.Table:
        def keep_aside(row: pacsv.InvalidRow) -> str:
            bad_rows.append(row)
            return "skip"

        return pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(self.block)),
            read_options=pacsv.ReadOptions(
                column_names=[*RECORD_FIELDS, *self.section.columns],
                use_threads=threads,
                block_size=ARROW_BLOCK_BYTES,
            ),
            parse_options=pacsv.ParseOptions(
                invalid_row_handler=keep_aside, ignore_empty_lines=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types=types,
                include_columns=list(self.kinds),
                null_values=[""],
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )

    def _reject_field_counts(self, bad_rows: list[pacsv.InvalidRow]) -> None:
        if not bad_rows:
            return
        positions = np.array([row.number - 1 for row in bad_rows], dtype=np.int64)
        for position, row in zip(positions, bad_rows, strict=True):
            self.reader.reject(
                int(self.lines[position]),
                _joining(row.text.encode())
                or f"D row has {row.actual_columns} fields; the I row at {self.section.where} "
                f"names {row.expected_columns}",
            )
        self.lines = np.delete(self.lines, positions)

    def _typed(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Convert text columns to their kinds; reject rows with a value that does not convert,
        or without a value the store needs (see ``TableSpec.required_in``)."""

        def reject(position: int, message: str) -> None:
            self.reader.reject(int(self.lines[position]), message)

        typed, kept = typed_rows(frame, self.kinds, self.required, reject, self.spec.plausible)
        self.lines = self.lines[kept.to_numpy()]
        return typed


def _typed_dates(codes: pa.ChunkedArray, kind: str) -> pa.ChunkedArray:
    """A column of MMS date-time texts, dictionary-encoded with one dictionary, as timestamps (or
    dates): each distinct text is parsed once. :class:`_SlowPath` if one is not a date-time."""
    chunks = [chunk for chunk in codes.chunks if len(chunk)]
    if not chunks:
        return pa.chunked_array([], type=KINDS[kind][1])
    text = pl.from_arrow(chunks[0].dictionary)
    parsed = parse_dates(text, kind)
    if parsed.null_count() != text.null_count():
        raise _SlowPath
    values = parsed.to_arrow()
    return pa.chunked_array([values.take(chunk.indices) for chunk in chunks], type=values.type)


def _implausible(table: pa.Table, plausible: Mapping[str, Plausible]) -> bool:
    """True if a value of ``table`` lies outside its column's plausible values (a number not
    finite included): the rows are then typed one by one, to reject them by line."""
    checks = [
        implausible(pl.from_arrow(table.column(name)).alias(name), bounds).any()
        for name, bounds in plausible.items()
        if name in table.column_names
    ]
    return any(checks)


def _split_lines(block: bytes) -> list[bytes]:
    """The lines of ``block``, each with its line end: split at ``\\n`` only (``splitlines``
    would also split at a carriage return inside a line).

    >>> _split_lines(b"a\\rb\\nc\\n")
    [b'a\\rb\\n', b'c\\n']
    """
    return [line + b"\n" for line in block.split(b"\n")[:-1]]


def _not_utf8(line: bytes) -> str | None:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return "not valid UTF-8 text"
    return None


def _joining(line: bytes) -> str | None:
    """Why a line would be joined to the lines after it, or split, by a CSV parser: a quoted
    field that does not close on it, or a carriage return inside it; None if neither."""
    if line.count(b'"') % 2:
        return UNCLOSED_QUOTE
    if b"\r" in line.rstrip(b"\r\n"):
        return "a carriage return (a line end) inside the line"
    return None
