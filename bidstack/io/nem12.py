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

Checked as the MDFF specification (AEMO, *Meter Data File Format Specification NEM12 & NEM13*)
sets them out, each failure naming ``file:line``:

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
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl
import pyarrow as pa

from bidstack.errors import IngestError
from bidstack.io.chunks import Chunk
from bidstack.io.report import SourceReport
from bidstack.io.schema import NEM12_INTERVAL, TableSpec

#: An NMI: 10 letters and digits (the MDFF's NMI field, CHAR(10)).
NMI = re.compile(r"[A-Za-z0-9]{10}")
#: Interval lengths (minutes) the format allows.
INTERVAL_MINUTES = (5, 15, 30)
#: A whole quality method: the flag (Actual, Estimated, Final substitute, Null, Substituted,
#: Variable), ``A``, ``N`` or ``V`` alone, ``E``, ``F`` or ``S`` with a two-digit method flag of
#: the Metrology Procedure's substitution and estimation types (11-21, 51-59, 61-69, 71-75).
QUALITY_METHOD = re.compile(r"[ANV]|[EFS](?:1[1-9]|2[01]|5[1-9]|6[1-9]|7[1-5])")
#: MWh per unit, for the units of measure that are energy.
MWH_PER_UNIT = {"KWH": 1e-3, "MWH": 1.0, "WH": 1e-6}
#: No NEM connection point delivers or draws more than this (MW, the mean over an interval).
MAX_PLAUSIBLE_MW = 10_000.0
DETAIL_FIELDS = (
    "nmi",
    "nmi_configuration",
    "register_id",
    "nmi_suffix",
    "mdm_data_stream_identifier",
    "meter_serial_number",
    "uom",
)
TRAILING_300_FIELDS = 5


@dataclass
class _Details:
    """A ``200`` record: the data stream its ``300`` rows belong to."""

    line: int
    fields: dict[str, str]
    interval_minutes: int
    bad: str | None = None

    @property
    def intervals(self) -> int:
        return 1440 // self.interval_minutes


@dataclass
class _Day:
    """A ``300`` record, kept until the ``400`` records that may follow it are read."""

    line: int
    details: _Details
    day: date
    values: list[float]
    quality: list[str]
    reason_code: list[int | None]
    reason_description: list[str | None]
    update_datetime: datetime | None
    msats_load_datetime: datetime | None
    method: str = ""  # the 300 record's quality method
    refused: bool = False
    #: The intervals its 400 records cover so far, as (first, last, line).
    events: list[tuple[int, int, int]] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, date]:
        return self.details.fields["nmi"], self.details.fields["nmi_suffix"], self.day

    @property
    def order(self) -> tuple:
        """How it ranks against another version of the same day (read's rule; nulls first)."""
        low = datetime.min
        return self.update_datetime or low, self.msats_load_datetime or low, self.line


@dataclass
class _Rows:
    days: list[_Day] = field(default_factory=list)

    def frame(self, source_file: str) -> pl.DataFrame:
        days = self.days
        frame = pl.DataFrame(
            {
                **{name: [d.details.fields[name] for d in days] for name in DETAIL_FIELDS},
                "interval_minutes": [d.details.interval_minutes for d in days],
                "interval_date": [d.day for d in days],
                "value": [d.values for d in days],
                "quality_method": [d.quality for d in days],
                "reason_code": [d.reason_code for d in days],
                "reason_description": [d.reason_description for d in days],
                "update_datetime": [d.update_datetime for d in days],
                "msats_load_datetime": [d.msats_load_datetime for d in days],
                "source_line": [d.line for d in days],
            },
            schema_overrides={
                "value": pl.List(pl.Float64),
                "reason_code": pl.List(pl.Int64),
                "reason_description": pl.List(pl.String),
                "update_datetime": pl.Datetime("us"),
                "msats_load_datetime": pl.Datetime("us"),
                "source_line": pl.Int64,
            },
        )
        intervals = frame.with_columns(
            interval_number=pl.int_ranges(1, pl.col("value").list.len() + 1)
        ).explode(
            ["value", "quality_method", "reason_code", "reason_description", "interval_number"]
        )
        factor = pl.col("uom").str.to_uppercase().replace_strict(MWH_PER_UNIT, default=None)
        return intervals.with_columns(
            interval_datetime=pl.col("interval_date").cast(pl.Datetime("us"))
            + pl.duration(minutes=pl.col("interval_number") * pl.col("interval_minutes")),
            energy_mwh=pl.col("value") * factor,
            source_file=pl.lit(source_file),
        ).select(NEM12_INTERVAL.polars_schema.names())


class Nem12Reader:
    """Reads one NEM12 file (``where`` names it in messages) into ``nem12_interval`` tables."""

    def __init__(self, where: str, report: SourceReport, source_file: str) -> None:
        self.where = where
        self.report = report
        self.source_file = source_file
        self.line = 0
        self.details: _Details | None = None
        self.day: _Day | None = None
        self.ended = False
        self.seen: dict[tuple[str, str, date], _Day] = {}

    @property
    def lines_read(self) -> int:
        return self.line

    def tables(self, chunks: Iterable[Chunk]) -> Iterator[tuple[TableSpec, pa.Table]]:
        """``nem12_interval`` rows, one table per chunk of the file."""
        for chunk in chunks:
            rows = _Rows()
            for fields in csv.reader(chunk.text().splitlines()):
                self.line += 1
                self._record(fields, rows)
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
        self.report.add("rejected", f"{self.where}:{self.line}", message, rows)

    def _record(self, fields: list[str], rows: _Rows) -> None:
        indicator = fields[0].strip() if fields else ""
        if not indicator:
            return
        if self.ended:
            self._reject(f"record {indicator} after the 900 record")
        elif indicator == "400":
            self._event(fields)
        else:
            self._finish_day(rows)
            handler = {"100": self._header, "200": self._data_details, "300": self._interval_day}
            if indicator in handler:
                handler[indicator](fields)
            elif indicator == "900":
                self.ended = True
            elif indicator != "500":
                self._reject(f"unknown NEM12 record {indicator!r}")

    def _header(self, fields: list[str]) -> None:
        if self.line != 1 or fields[1:2] != ["NEM12"]:
            self._reject("a 100 record belongs on the first line, as 100,NEM12,...")

    def _data_details(self, fields: list[str]) -> None:
        values = dict(zip(DETAIL_FIELDS, (f.strip() for f in fields[1:8]), strict=False))
        minutes = fields[8].strip() if len(fields) > 8 else ""
        details = _Details(self.line, values, int(minutes) if minutes.isdigit() else 0)
        if len(fields) not in (9, 10):
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
            self._reject("300 record before any 200 record")
            return
        if details.bad:
            self._reject(f"300 record under the bad 200 record at line {details.line}")
            return
        count = details.intervals
        if len(fields) != 2 + count + TRAILING_300_FIELDS:
            self._reject(
                f"300 record has {len(fields)} fields; {count} intervals of "
                f"{details.interval_minutes} min need {2 + count + TRAILING_300_FIELDS}"
            )
            return
        quality, code, description, updated, loaded = fields[2 + count :]
        try:
            day = datetime.strptime(fields[1].strip(), "%Y%m%d").date()
            values = [float(value) for value in fields[2 : 2 + count]]
            timestamps = [_timestamp(text) for text in (updated, loaded)]
            reason = int(code) if code.strip() else None
        except ValueError as exc:
            self._reject(f"bad 300 record ({exc})")
            return
        bad = _bad_value(values, details)
        if bad:
            self._reject(f"300 record for {day}: {bad}", count)
            return
        quality = quality.strip()
        if not QUALITY_METHOD.fullmatch(quality):
            self._reject(f"quality method {quality!r} {_QUALITY_RULE}", count)
            return
        self.day = _Day(
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
            self._reject(f"400 record quality method {quality!r} {_QUALITY_RULE}, and not V")
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

    def _refuse_day(self, day: _Day, message: str, why: str) -> None:
        """Reject the current record with ``message``, and ``day`` with it, saying ``why``."""
        self._reject(message)
        self.report.add(
            "rejected", f"{self.where}:{day.line}", f"300 record refused: {why}", len(day.values)
        )
        day.refused = True

    def _finish_day(self, rows: _Rows) -> None:
        day, self.day = self.day, None
        if day is None or day.refused:
            return
        uncovered = [k + 1 for k, quality in enumerate(day.quality) if quality == "V"]
        if uncovered:
            self.report.add(
                "warning",
                f"{self.where}:{day.line}",
                f"{len(uncovered)} interval(s) of this quality-V day ({_ranges(uncovered)}) have "
                "no 400 record: stored with quality V, which metering does not use",
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


_QUALITY_RULE = (
    "is not a quality method: A, N or V alone, or E, F or S with a method flag "
    "(11-21, 51-59, 61-69, 71-75)"
)


def _bad_value(values: list[float], details: _Details) -> str | None:
    """Why a day's values cannot be meter data, naming the first bad interval, or None."""
    factor = MWH_PER_UNIT.get(details.fields["uom"].upper())
    per_hour = 60.0 / details.interval_minutes
    for number, value in enumerate(values, start=1):
        if not math.isfinite(value):
            return f"interval {number} is {value}, not a number"
        if value < 0:
            return f"interval {number} is {value}: interval values are never negative"
        if factor is not None and value * factor * per_hour > MAX_PLAUSIBLE_MW:
            return (
                f"interval {number} is {value} {details.fields['uom']} in "
                f"{details.interval_minutes} minutes, over {MAX_PLAUSIBLE_MW:,.0f} MW: not "
                "plausible"
            )
    return None


def _ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``'1..3, 7'``."""
    parts, start = [], numbers[0]
    for previous, number in zip(numbers, [*numbers[1:], None], strict=True):
        if number != previous + 1:
            parts.append(str(start) if start == previous else f"{start}..{previous}")
            start = number
    return ", ".join(parts)


def _timestamp(text: str) -> datetime | None:
    text = text.strip()
    return datetime.strptime(text, "%Y%m%d%H%M%S") if text else None
