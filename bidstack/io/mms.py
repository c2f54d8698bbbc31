"""Streaming reader for AEMO's MMS CSV format.

An MMS file is a ``C`` header row, then for each table an ``I`` row (namespace, report name,
version, column names) followed by its ``D`` rows, and a closing ``C,"END OF REPORT",n`` row
whose ``n`` is the file's line count. Line ends are CRLF or LF; date-times are
``YYYY/MM/DD HH:MM:SS`` (some tables add milliseconds), quoted or not, in AEST market time.
Values are typed by the rules of :mod:`bidstack.io.values`, shared with every other way in.

The reader walks the file in chunks of whole lines. Control rows (``C`` and ``I``) are found with
a byte search; the ``D`` rows between them go to Arrow's multi-threaded CSV parser with the
columns the ``I`` row names, so columns are matched by name whatever their order, and dates
dictionary-encoded so that Polars parses each distinct date-time once, with the fixed MMS format.
If anything in a block does not type, the block is read again as text and checked row by row.
Every row comes out typed, or is counted in the :class:`~bidstack.io.report.SourceReport` with its
line and the reason.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from bidstack.errors import IngestError
from bidstack.io.report import SourceReport
from bidstack.io.schema import (
    KINDS,
    Plausible,
    TableSpec,
    clean_report_name,
    column_problem,
    resolve,
    unknown_columns,
)
from bidstack.io.sources import (
    MAX_LINE_BYTES,
    Chunk,
    LongLine,
    count_line_starts,
    nonblank_lines,
)
from bidstack.io.values import TEXT_KINDS, implausible, parse_dates, typed_rows

END_OF_REPORT = "END OF REPORT"
RECORD_FIELDS = ("_record", "_namespace", "_report", "_version")
CONTROL_MARKERS = (b"\nC,", b"\nI,")
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


@dataclass
class Section:
    """The table an ``I`` row opens, and how its ``D`` rows are to be read."""

    label: str
    where: str
    columns: list[str]
    prefix: bytes
    spec: TableSpec | None
    skip_reason: str | None = None
    skipped_rows: int = 0
    #: Why the section's rows are rejected (a column named twice, a name that is not UTF-8).
    reject_reason: str | None = None
    rejected_rows: int = 0

    @property
    def kinds(self) -> dict[str, str]:
        """The kinds of the columns stored: those of the I row that the table has."""
        return {name: self.spec.kinds[name] for name in self.columns if name in self.spec.kinds}


class MmsReader:
    """Reads one MMS CSV file (``where`` names it in messages) into typed Arrow tables."""

    def __init__(self, where: str, report: SourceReport, *, strict: bool = False) -> None:
        self.where = where
        self.report = report
        self.strict = strict
        self.line = 1
        self.report_start = 1
        self.section: Section | None = None
        self.closed = False

    def tables(self, chunks: Iterable[Chunk]) -> Iterator[tuple[TableSpec, pa.Table]]:
        """Typed Arrow tables, one per table section and chunk, in file order."""
        for chunk in chunks:
            table = self._continuation(chunk)
            if table is not None:
                if table.num_rows:
                    yield self.section.spec, table
                continue
            data, size = chunk.data, chunk.size
            start = 0
            for line_start, line_end, long in _special_lines(chunk):
                yield from self._data_rows(data, start, line_start)
                if long is None:
                    self._control_row(bytes(data[line_start:line_end]))
                else:
                    self.reject(
                        self.line,
                        f"line of {long.length:,} bytes is over the limit of "
                        f"{MAX_LINE_BYTES:,} bytes (a damaged file?)",
                    )
                self.line += 1
                start = line_end + 1
            yield from self._data_rows(data, start, size)
        self._end_section()
        if not self.closed:
            raise IngestError(
                f"{self.where}:{self.line - 1}: file ends without its "
                f'C,"{END_OF_REPORT}" row (truncated?); nothing was stored from it'
            )

    @property
    def lines_read(self) -> int:
        return self.line - 1

    def expected_prefix(self) -> bytes | None:
        """How the next chunk's lines start if they continue the open section (the usual case)."""
        return None if self.section is None or self.closed else self.section.prefix

    def _continuation(self, chunk: Chunk) -> pa.Table | None:
        """The chunk's rows when, as usual, it only continues the open section with rows that all
        type; None when it holds anything else (it is then read line by line).

        The reading thread counted the lines starting with the section's ``D`` prefix; if every
        line is one (no blank line either: Arrow's memory grows with the lines it passes over)
        and Arrow parses exactly that many rows, every line was such a row.
        """
        section = self.section
        if (
            section is None
            or self.closed
            or section.skip_reason
            or section.reject_reason
            or chunk.long_lines
            or chunk.marker != section.prefix
            or chunk.data.count(b"\n", 0, chunk.size) != chunk.marked
            or _last_line_is_control(chunk)
        ):
            return None
        with memoryview(chunk.data) as view:
            lines = np.arange(self.line, self.line + chunk.marked)
            table = _Parse(self, section, view[: chunk.size], lines).clean_table()
        if table is not None:
            self.line += chunk.marked
            self.report.stored(section.spec.store_name, table.num_rows)
        return table

    # control rows -----------------------------------------------------------------------------

    def _control_row(self, raw: bytes) -> None:
        try:
            text, utf8 = raw.decode("utf-8"), True
        except UnicodeDecodeError:
            text, utf8 = raw.decode("utf-8", "replace"), False
        fields = next(csv.reader([text.rstrip("\r")]))
        if fields[0] == "I":
            self._end_section()
            self.section = self._open_section(fields, utf8)
        elif len(fields) > 2 and fields[1] == END_OF_REPORT:
            self._end_section()
            self._check_closing_count(fields[2])
        elif self.closed or self.line == 1:
            self.report_start = self.line
            self.closed = False

    def _check_closing_count(self, declared: str) -> None:
        lines = self.line - self.report_start + 1
        self.closed = True
        if declared.strip() == str(lines):
            return
        message = f"closing count {declared} disagrees with the {lines} lines read"
        if self.strict:
            raise IngestError(f"{self.where}:{self.line}: {message}; nothing was stored from it")
        self.report.add(
            "warning", f"{self.where}:{self.line}", message + "; accepted (rewritten by a tool?)"
        )

    def _open_section(self, fields: list[str], utf8: bool) -> Section:
        namespace, raw_report, version = [*fields, "", "", ""][1:4]
        report = clean_report_name(raw_report)
        columns = [name.strip().lower() for name in fields[4:]]
        where = f"{self.where}:{self.line}"
        label = f"{namespace}.{report or '-'} v{version}"
        spec = resolve(namespace, report)
        section = Section(
            label, where, columns, f"D,{namespace},{report},{version},".encode(), spec
        )
        if spec is not None and version.isdigit():
            section.reject_reason = _reject_reason(label, columns, utf8)
        if section.reject_reason is None:
            section.skip_reason = _skip_reason(spec, label, columns, version)
        if report != raw_report:
            self.report.add("warning", where, f"report name {raw_report!r} read as empty")
        if section.skip_reason is None and section.reject_reason is None:
            self._warn_unknown_columns(section)
        if section.skip_reason is None and spec.versions and int(version) not in spec.versions:
            checked = ", ".join(map(str, spec.versions))
            self.report.add(
                "warning",
                where,
                f"{label} is a version bidstack was not checked against (checked: {checked}); "
                "columns matched by name",
            )
        return section

    def _warn_unknown_columns(self, section: Section) -> None:
        unknown = unknown_columns(section.spec, section.columns)
        if unknown:
            self.report.add("warning", section.where, f"{section.label}: {unknown}")

    def _end_section(self) -> None:
        section = self.section
        if section is not None and section.skip_reason and section.skipped_rows:
            self.report.add("skipped", section.where, section.skip_reason, section.skipped_rows)
        if section is not None and section.reject_reason and section.rejected_rows:
            self.report.add("rejected", section.where, section.reject_reason, section.rejected_rows)
        self.section = None

    # data rows --------------------------------------------------------------------------------

    def _data_rows(
        self, data: bytearray, start: int, stop: int
    ) -> Iterator[tuple[TableSpec, pa.Table]]:
        """The lines ``data[start:stop]``, between control rows: rows of the open section."""
        count = data.count(b"\n", start, stop)
        first = self.line
        self.line += count
        if count == 0:
            return
        section = self.section
        if section is None or self.closed:
            place = "after the closing row" if self.closed else "before any I row"
            self.report.add("rejected", f"{self.where}:{first}", f"rows {place}", count)
            return
        if section.skip_reason or section.reject_reason:
            rows = count - _blank_lines(data, start, stop)
            section.skipped_rows += rows if section.skip_reason else 0
            section.rejected_rows += rows if section.reject_reason else 0
            return
        if count_line_starts(data, start, stop, section.prefix) == count:
            with memoryview(data) as view:
                lines = np.arange(first, first + count)
                table = _Parse(self, section, view[start:stop], lines).table()
        else:
            block, lines = self._sift(data[start:stop], first, section)
            if not lines.size:  # blank lines, or rows rejected one by one
                return
            table = _Parse(self, section, block, lines).table()
        if table.num_rows:
            self.report.stored(section.spec.store_name, table.num_rows)
            yield section.spec, table

    def _sift(self, block: bytes, first: int, section: Section) -> tuple[bytes, np.ndarray]:
        """Keep the block's lines that are ``D`` rows of ``section``; reject the others (blank
        lines are passed over)."""
        expected = section.prefix.decode().split(",")[:4]
        kept, lines = [], []
        for index, line in nonblank_lines(block, 0, len(block)):
            number = first + index
            head = next(csv.reader([line[:200].decode("utf-8", "replace")]))[:4]
            if head == expected:
                kept.append(line)
                lines.append(number)
            else:
                self.report.add(
                    "rejected",
                    f"{self.where}:{number}",
                    f"not a D row of {section.label} (starts {','.join(head)!r})",
                    1,
                )
        return b"".join(kept), np.array(lines, dtype=np.int64)

    def reject(self, line: int, message: str) -> None:
        self.report.add("rejected", f"{self.where}:{line}", message, 1)


class _Parse:
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
        if any(table.column(name).null_count for name in self.spec.required_columns):
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
        or without a value the store needs (see ``TableSpec.required_columns``)."""

        def reject(position: int, message: str) -> None:
            self.reader.reject(int(self.lines[position]), message)

        required = self.spec.required_columns
        typed, kept = typed_rows(frame, self.kinds, required, reject, self.spec.plausible)
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


def _blank_lines(data: bytearray, start: int, stop: int) -> int:
    """How many lines of ``data[start:stop]`` (``start`` begins a line) are empty: a line end
    alone, LF or CRLF."""
    if stop <= start:
        return 0
    view = np.frombuffer(data, dtype=np.uint8, count=stop - start, offset=start)
    ends = view == ord("\n")
    empty = int(ends[0]) + int(np.count_nonzero(ends[1:] & ends[:-1]))
    if view.size > 1:
        crlf = (view[:-1] == ord("\r")) & ends[1:]
        empty += int(crlf[0]) + int(np.count_nonzero(crlf[1:] & ends[:-2]))
    return empty


def _special_lines(chunk: Chunk) -> list[tuple[int, int, LongLine | None]]:
    """The chunk's control rows and lines over the limit, in order: where each starts, where its
    line end is, and the long line (None for a control row)."""
    data, size = chunk.data, chunk.size
    special = [(line.start, line.end, line) for line in chunk.long_lines]
    for start in _control_lines(data, size):
        if not any(line.start <= start <= line.end for line in chunk.long_lines):
            special.append((start, data.index(b"\n", start, size), None))
    return sorted(special, key=lambda entry: entry[0])


def _reject_reason(label: str, columns: list[str], utf8: bool) -> str | None:
    """Why every row of a section is rejected: its I row is not UTF-8 text or names a column
    twice (which value would be the column's?)."""
    if not utf8:
        return f"{label}: the I row is not valid UTF-8 text, so its columns cannot be named"
    seen: set[str] = set(RECORD_FIELDS)
    for name in columns:
        if name in seen:
            return f"{label}: column {name.upper()} is named twice"
        seen.add(name)
    return None


def _skip_reason(
    spec: TableSpec | None, label: str, columns: list[str], version: str
) -> str | None:
    """Why a section's rows cannot be stored, or None if they can."""
    if spec is None:
        return f"{label}: no such table in the MMS Data Model v5.7"
    if not version.isdigit():
        return f"{label}: version {version!r} is not a number"
    if spec.time_column is None:
        return f"{label}: {spec.name} has no date column to partition by"
    problem = column_problem(spec, columns)
    return f"{label}: {problem}" if problem else None


def _last_line_is_control(chunk: Chunk) -> bool:
    last = chunk.data.rfind(b"\n", 0, chunk.size - 1) + 1
    return chunk.data.startswith((b"C,", b"I,"), last, chunk.size)


def _control_lines(data: bytearray, size: int) -> list[int]:
    """Offsets of the lines of ``data[:size]`` that are ``C`` or ``I`` rows."""
    starts = [0] if data.startswith((b"C,", b"I,"), 0, size) else []
    for marker in CONTROL_MARKERS:
        found = data.find(marker, 0, size)
        while found >= 0:
            starts.append(found + 1)
            found = data.find(marker, found + 1, size)
    return sorted(starts)
