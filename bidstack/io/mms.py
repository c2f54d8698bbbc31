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
If anything in a block does not type, the block is read again as text and checked row by row
(the block's parse is :mod:`bidstack.io.mms_block`'s).
Every row comes out typed, or is counted in the :class:`~bidstack.io.report.SourceReport` with its
line and the reason.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from bidstack.errors import IngestError
from bidstack.io.chunks import (
    MAX_LINE_BYTES,
    Chunk,
    LongLine,
    count_line_starts,
    nonblank_lines,
)
from bidstack.io.mms_block import RECORD_FIELDS, BlockParse
from bidstack.io.report import SourceReport
from bidstack.io.schema import (
    TableSpec,
    clean_report_name,
    column_problem,
    resolve,
    unknown_columns,
)

END_OF_REPORT = "END OF REPORT"
CONTROL_MARKERS = (b"\nC,", b"\nI,")


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
            table = BlockParse(self, section, view[: chunk.size], lines).clean_table()
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
            rows = count - _blank_lines(data, start, stop)  # blank lines are passed over
            if rows:
                place = "after the closing row" if self.closed else "before any I row"
                self.report.add("rejected", f"{self.where}:{first}", f"rows {place}", rows)
            return
        if section.skip_reason or section.reject_reason:
            rows = count - _blank_lines(data, start, stop)
            section.skipped_rows += rows if section.skip_reason else 0
            section.rejected_rows += rows if section.reject_reason else 0
            return
        if count_line_starts(data, start, stop, section.prefix) == count:
            with memoryview(data) as view:
                lines = np.arange(first, first + count)
                table = BlockParse(self, section, view[start:stop], lines).table()
        else:
            block, lines = self._sift(data[start:stop], first, section)
            if not lines.size:  # blank lines, or rows rejected one by one
                return
            table = BlockParse(self, section, block, lines).table()
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
