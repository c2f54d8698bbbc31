"""NEM12 records as the reader keeps them (a ``200`` record's details, a ``300`` record's day,
the rows of a file) and the format's checks on their values; :mod:`bidstack.io.nem12` reads the
file record by record."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

from bidstack.io.schema import NEM12_INTERVAL

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
class Details:
    """A ``200`` record: the data stream its ``300`` rows belong to."""

    line: int
    fields: dict[str, str]
    interval_minutes: int
    bad: str | None = None

    @property
    def intervals(self) -> int:
        return 1440 // self.interval_minutes


@dataclass
class Day:
    """A ``300`` record, kept until the ``400`` records that may follow it are read."""

    line: int
    details: Details
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
class Rows:
    days: list[Day] = field(default_factory=list)

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


QUALITY_RULE = (
    "is not a quality method: A, N or V alone, or E, F or S with a method flag "
    "(11-21, 51-59, 61-69, 71-75)"
)


def bad_value(values: list[float], details: Details) -> str | None:
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


def interval_ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``'1..3, 7'``."""
    parts, start = [], numbers[0]
    for previous, number in zip(numbers, [*numbers[1:], None], strict=True):
        if number != previous + 1:
            parts.append(str(start) if start == previous else f"{start}..{previous}")
            start = number
    return ", ".join(parts)


def timestamp(text: str) -> datetime | None:
    text = text.strip()
    return datetime.strptime(text, "%Y%m%d%H%M%S") if text else None
