"""Reader for NEM12 interval meter data files (AEMO's Meter Data File Format).

Records: ``100`` header (``100,NEM12,...``); ``200`` NMI data details (NMI, configuration,
register, NMI suffix, data stream, meter serial, unit of measure, interval length in minutes);
``300`` one day of interval values (date ``YYYYMMDD``, one value per interval, quality method,
reason code and description, update and MSATS load times ``YYYYMMDDhhmmss``); ``400`` quality
events overriding the quality of a range of intervals of the ``300`` row above (used when its
quality method is ``V``, variable); ``500`` B2B details (not interval data); ``900`` end of file.

Every interval becomes one row of the ``nem12_interval`` table. Interval ``k`` of a day of
``L``-minute intervals ends at ``date + k·L`` minutes (period-ending, NEM market time, AEST
without daylight saving, as the format specifies). ``value`` is kept as given, in the ``200``
record's unit; ``energy_mwh`` converts kWh, MWh and Wh to MWh and is null for other units.
``source_line`` is the line of the ``300`` record that gave the value.

Records end at ``\n`` (``\r\n`` too), and each line is parsed on its own: a quoted field may not
run past its line (no NEM12 value holds a line end), so a line with an unclosed quote, or with a
carriage return or another line-break character inside it (form feed, ``U+2028``, ...), is
rejected alone, naming its line, and the lines after it keep their numbers; so is a line that is
not UTF-8 text (never stored with replacement characters).

Checked as the MDFF specification (AEMO, *Meter Data File Format Specification NEM12 & NEM13*)
sets them out, each failure naming ``file:line`` (the constants named are in
:mod:`bidstack.io.nem12_records`):

- a ``300`` record for a day whose intervals are not all within
  :data:`bidstack.io.plausible.INTERVAL_DATES` (as MMS interval times must be) is rejected;
- a ``300`` record whose values are not all finite numbers ≥ 0 (directions are in the NMI
  suffix, never in the sign), or whose energy implies more than :data:`MAX_PLAUSIBLE_MW` over its
  interval (no NEM connection point comes close), is rejected whole;
- the whole quality method is checked (:data:`QUALITY_METHOD`): a flag, with a two-digit method
  for estimated and substituted data (``E``, ``F``, ``S``) and none for ``A``, ``N`` and ``V``;
- a ``400`` record may only follow a ``300`` record of quality ``V``, and may not itself be
  ``V``: one after any other day is refused, and so is that day (its own quality and the event
  disagree); intervals of a ``V`` day that no ``400`` record covers are stored with quality ``V``
  and reported (metering does not use them);
- an NMI is 10 letters and digits (:data:`NMI`); a ``200`` record with another is rejected with
  its days;
- ``400`` records of one day may not overlap (which quality would hold?): the day is refused;
- a day given twice in one file for the same NMI and suffix is reported; both are stored and
  :func:`bidstack.io.read` keeps one by the rule it applies across files: the later
  ``UpdateDateTime``, then the later ``MSATSLoadDateTime``, then the later line.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime

import pyarrow as pa

from bidstack.errors import IngestError
from bidstack.io.chunks import MAX_LINE_BYTES, Chunk, LongLine
from bidstack.io.mms_block import UNCLOSED_QUOTE
from bidstack.io.nem12_records import (
    DETAIL_FIELDS,
    INTERVAL_MINUTES,
    NMI,
    QUALITY_METHOD,
    QUALITY_RULE,
    TRAILING_300_FIELDS,
    Day,
    Details,
    Rows,
    bad_value,
    interval_ranges,
    timestamp,
)
from bidstack.io.plausible import INTERVAL_DATES
from bidstack.io.report import SourceReport
from bidstack.io.schema import NEM12_INTERVAL, TableSpec

#: The characters other than ``\n`` that end a line for some tools (Python's ``str.splitlines``
#: among them): inside a record they would split it in two.
LINE_BREAK = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
NOT_UTF8 = "not valid UTF-8 text"


class Nem12Reader:
    """Reads one NEM12 file (``where`` names it in messages) into ``nem12_interval`` tables."""

    def __init__(self, where: str, report: SourceReport, source_file: str) -> None:
        self.where = where
        self.report = report
        self.source_file = source_file
        self.line = 0
        self.details: Details | None = None
        self.day: Day | None = None
        self.ended = False
        self.seen: dict[tuple[str, str, date], Day] = {}

    @property
    def lines_read(self) -> int:
        return self.line

    def tables(self, chunks: Iterable[Chunk]) -> Iterator[tuple[TableSpec, pa.Table]]:
        """``nem12_interval`` rows, one table per chunk of the file."""
        for chunk in chunks:
            rows = Rows()
            for line, long in _lines(chunk):
                self.line += 1
                if long is None:
                    self._line(line, rows)
                else:  # never parsed: a damaged file's line, perhaps not even held
                    record_rows = self._intervals([]) if line.startswith(b"300,") else 1
                    self._reject(
                        f"line of {long.length:,} bytes is over the limit of {MAX_LINE_BYTES:,} "
                        "bytes (a damaged file?)",
                        record_rows,
                    )
            if rows.days:
                frame = rows.frame(self.source_file)
                self.report.stored(NEM12_INTERVAL.store_name, frame.height)
                yield NEM12_INTERVAL, frame.to_arrow().cast(NEM12_INTERVAL.arrow_schema)
        if not self.ended:
            raise IngestError(
                f"{self.where}:{self.line}: file ends without its 900 record (truncated?); "
                "nothing was stored from it"
            )

    def _reject(self, message: str, rows: int = 1) -> None:
        """Report the current record rejected, counting ``rows``: a ``300`` record's intervals
        (see :meth:`_intervals`), so that every interval in is stored or counted; 0 for a
        ``200`` record, whose days count their own; 1 for any other record."""
        self.report.add("rejected", f"{self.where}:{self.line}", message, rows)

    def _line(self, line: bytearray, rows: Rows) -> None:
        """Parse one line as a record on its own; a line that is not UTF-8 text, or that a CSV
        parser would join to the next or split, is read only for its record indicator, and
        rejected."""
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            text, broken = line.decode("utf-8", "replace"), NOT_UTF8
        else:
            broken = _broken(text)
        fields = text.split(",") if broken else next(csv.reader([text]))
        self._record(fields, rows, broken)

    def _record(self, fields: list[str], rows: Rows, broken: str | None = None) -> None:
        indicator = fields[0].strip() if fields else ""
        if not indicator and not broken:
            return
        if self.ended:
            rows_in = self._intervals(fields) if indicator == "300" else 1
            self._reject(f"record {indicator} after the 900 record", rows_in)
        elif indicator == "400":
            if broken:
                self._reject(broken)
            else:
                self._event(fields)
        else:
            self._finish_day(rows)
            handler = {"100": self._header, "200": self._data_details, "300": self._interval_day}
            if broken:
                self._broken_record(indicator, fields, broken)
            elif indicator in handler:
                handler[indicator](fields)
            elif indicator == "900":
                self.ended = True
            elif indicator != "500":
                self._reject(f"unknown NEM12 record {indicator!r}")

    def _broken_record(self, indicator: str, fields: list[str], why: str) -> None:
        """Reject a record whose line is broken (``why``): a ``200`` record with its days, a
        ``300`` record counting its intervals."""
        if indicator == "200":
            self._data_details(fields, why)
        elif indicator == "300":
            self._reject(why, self._intervals(fields))
        else:
            self._reject(why)

    def _intervals(self, fields: list[str]) -> int:
        """How many intervals the ``300`` record ``fields`` stands for: as many as its ``200``
        record gives a day; without a usable one, as many values as it holds (at least 1)."""
        details = self.details
        if details is not None and details.interval_minutes in INTERVAL_MINUTES:
            return details.intervals
        return max(1, len(fields) - 2 - TRAILING_300_FIELDS)

    def _header(self, fields: list[str]) -> None:
        if self.line != 1 or fields[1:2] != ["NEM12"]:
            self._reject("a 100 record belongs on the first line, as 100,NEM12,...")

    def _data_details(self, fields: list[str], broken: str | None = None) -> None:
        values = dict(zip(DETAIL_FIELDS, (f.strip() for f in fields[1:8]), strict=False))
        minutes = fields[8].strip() if len(fields) > 8 else ""
        details = Details(self.line, values, int(minutes) if minutes.isdigit() else 0)
        if broken:
            details.bad = broken
        elif len(fields) not in (9, 10):
            details.bad = f"200 record has {len(fields)} fields, not 10"
        elif details.interval_minutes not in INTERVAL_MINUTES:
            details.bad = f"interval length {minutes!r} is not one of {INTERVAL_MINUTES}"
        elif not values["nmi"]:
            details.bad = "200 record has no NMI"
        elif not NMI.fullmatch(values["nmi"]):
            shown = values["nmi"] if len(values["nmi"]) <= 20 else values["nmi"][:20] + "..."
            details.bad = (
                f"NMI {shown!r} ({len(values['nmi'])} characters) is not an NMI: 10 letters "
                "and digits"
            )
        if details.bad:
            self._reject(details.bad, 0)
        self.details = details

    def _interval_day(self, fields: list[str]) -> None:
        details = self.details
        if details is None:
            self._reject("300 record before any 200 record", self._intervals(fields))
            return
        if details.bad:
            self._reject(
                f"300 record under the bad 200 record at line {details.line}",
                self._intervals(fields),
            )
            return
        count = details.intervals
        if len(fields) != 2 + count + TRAILING_300_FIELDS:
            self._reject(
                f"300 record has {len(fields)} fields; {count} intervals of "
                f"{details.interval_minutes} min need {2 + count + TRAILING_300_FIELDS}",
                count,
            )
            return
        quality, code, description, updated, loaded = fields[2 + count :]
        try:
            day = datetime.strptime(fields[1].strip(), "%Y%m%d").date()
            values = [float(value) for value in fields[2 : 2 + count]]
            timestamps = [timestamp(text) for text in (updated, loaded)]
            reason = int(code) if code.strip() else None
        except ValueError as exc:
            self._reject(f"bad 300 record ({exc})", count)
            return
        if not INTERVAL_DATES.low.date() <= day < INTERVAL_DATES.high.date():
            self._reject(f"300 record for {day}: its intervals are outside {INTERVAL_DATES}", count)
            return
        bad = bad_value(values, details)
        if bad:
            self._reject(f"300 record for {day}: {bad}", count)
            return
        quality = quality.strip()
        if not QUALITY_METHOD.fullmatch(quality):
            self._reject(f"quality method {quality!r} {QUALITY_RULE}", count)
            return
        self.day = Day(
            self.line,
            details,
            day,
            values,
            [quality] * count,
            [reason] * count,
            [description or None] * count,
            *timestamps,
            method=quality,
        )

    def _event(self, fields: list[str]) -> None:
        day = self.day
        if day is None:
            self._reject("400 record without a 300 record above it")
            return
        if day.refused:
            self._reject(f"400 record for the refused 300 record at line {day.line}")
            return
        if day.method != "V":
            self._refuse_day(
                day,
                f"400 record after the 300 record at line {day.line}, whose quality is "
                f"{day.method!r}: 400 records belong to days of quality V only; the day is "
                "refused too",
                "a 400 record follows it, but its quality is not V",
            )
            return
        try:
            first, last = int(fields[1]), int(fields[2])
            quality, code, description = fields[3:6]
            reason = int(code) if code.strip() else None
        except (ValueError, IndexError) as exc:
            self._reject(f"bad 400 record ({exc})")
            return
        quality = quality.strip()
        if not 1 <= first <= last <= len(day.values):
            self._reject(
                f"400 record for intervals {first}..{last} does not fit the 300 record at line "
                f"{day.line} ({len(day.values)} intervals)"
            )
            return
        if quality[:1] == "V" or not QUALITY_METHOD.fullmatch(quality):
            self._reject(f"400 record quality method {quality!r} {QUALITY_RULE}, and not V")
            return
        overlapped = [event for event in day.events if event[0] <= last and first <= event[1]]
        if overlapped:
            low, high, line = overlapped[0]
            self._refuse_day(
                day,
                f"400 record for intervals {first}..{last} overlaps the 400 record at line "
                f"{line} (intervals {low}..{high}): which quality holds is unclear; the day is "
                "refused too",
                f"its 400 records at lines {line} and {self.line} overlap",
            )
            return
        day.events.append((first, last, self.line))
        for index in range(first - 1, last):
            day.quality[index] = quality
            day.reason_code[index] = reason
            day.reason_description[index] = description or None

    def _refuse_day(self, day: Day, message: str, why: str) -> None:
        """Reject the current record with ``message``, and ``day`` with it, saying ``why``."""
        self._reject(message)
        self.report.add(
            "rejected", f"{self.where}:{day.line}", f"300 record refused: {why}", len(day.values)
        )
        day.refused = True

    def _finish_day(self, rows: Rows) -> None:
        day, self.day = self.day, None
        if day is None or day.refused:
            return
        uncovered = [k + 1 for k, quality in enumerate(day.quality) if quality == "V"]
        if uncovered:
            self.report.add(
                "warning",
                f"{self.where}:{day.line}",
                f"{len(uncovered)} interval(s) of this quality-V day "
                f"({interval_ranges(uncovered)}) have no 400 record: stored with quality V, "
                "which metering does not use",
            )
        earlier = self.seen.get(day.key)
        if earlier is not None:
            kept = max(earlier, day, key=lambda d: d.order)
            self.report.add(
                "warning",
                f"{self.where}:{day.line}",
                f"{day.key[0]} {day.key[1]} {day.day} is also at line {earlier.line}: both are "
                f"stored and read keeps line {kept.line} (the later UpdateDateTime, then "
                "MSATSLoadDateTime, then the later line)",
            )
        if earlier is None or day.order > earlier.order:
            self.seen[day.key] = day
        rows.days.append(day)


def _lines(chunk: Chunk) -> Iterator[tuple[bytearray, LongLine | None]]:
    """The chunk's lines without their line ends, each with its :class:`LongLine` where it is
    over :data:`MAX_LINE_BYTES` (a line longer than the chunk stands empty): split at ``\\n``
    only, one ``\\r`` before it removed (``str.splitlines`` would also split at a carriage
    return or form feed inside a line)."""
    long_lines = {line.start: line for line in chunk.long_lines}
    start = 0
    for line in chunk.data[: chunk.size].split(b"\n")[:-1]:
        yield line.removesuffix(b"\r"), long_lines.get(start)
        start += len(line) + 1


def _broken(text: str) -> str | None:
    """Why a line cannot be parsed on its own as a CSV record: a quoted field that does not
    close on it, or a line break inside it; None if neither.

    >>> _broken('300,20240901,"x')
    'unclosed quote: a quoted field runs past the end of its line'
    >>> _broken('300,"a,b"') is None
    True
    """
    if text.count('"') % 2:
        return UNCLOSED_QUOTE
    found = LINE_BREAK.search(text)
    return f"a line break ({found.group()!r}) inside the line" if found else None
