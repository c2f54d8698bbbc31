"""Values into the store's column kinds: the one set of typing rules every way in shares.

MMS CSV ingest, NEMOSIS caches, SQLite databases and :func:`~bidstack.io.write_table` type their
values here, so a value is stored the same whichever way it arrives:

- date-times: AEMO's ``YYYY/MM/DD HH:MM:SS`` (fractional seconds allowed) or ISO 8601
  (``YYYY-MM-DD HH:MM[:SS]``, ``YYYY-MM-DDTHH:MM[:SS]``, ``YYYY-MM-DD``); typed dates and date-times
  as they are, time-zone-aware ones converted to market time (AEST);
- integers (identifiers, counters, flags): integral numbers, in text too: ``'0'``, ``'0.0'`` and
  ``1.0`` are 0 and 1, ``'0.5'`` is not an integer;
- floats: numbers, and numeric text;
- text: as given (other values are written as text).

Empty text is a missing value (null), as an empty field of an MMS CSV is. A value that does not
convert becomes null: :func:`bad_values` finds those.

>>> to_kind(pl.Series(["0", "1.0", "x", None]), "int").to_list()
[0, 1, None, None]
>>> to_kind(pl.Series(["2024/09/01 00:05:00", "2024-09-01T00:10:00"]), "datetime").to_list()
[datetime.datetime(2024, 9, 1, 0, 5), datetime.datetime(2024, 9, 1, 0, 10)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import polars as pl

from bidstack.io.plausible import Plausible
from bidstack.io.schema import KINDS

#: AEMO's date-time format (with optional fractional seconds), as Polars spells it.
DATE_FORMAT = "%Y/%m/%d %H:%M:%S%.f"
#: ISO 8601 forms accepted where AEMO's is not used.
ISO_FORMATS = (
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d",
)
#: The accepted date-time forms, as messages name them.
DATE_FORMS = "AEMO's YYYY/MM/DD HH:MM:SS or ISO 8601 YYYY-MM-DD[ HH:MM[:SS]]"
MARKET_TIME_ZONE = "Etc/GMT-10"  # UTC+10 (the sign of Etc/ zones is inverted)
TEXT_KINDS = ("datetime", "date")
INT64_LIMIT = 2.0**63


def parse_dates(text: pl.Series, kind: str = "datetime") -> pl.Series:
    """Date-time text (AEMO's format, else ISO 8601) as ``kind``; null where not a date-time."""
    target = KINDS["datetime"][0]
    parsed = text.str.strptime(target, DATE_FORMAT, strict=False)
    for form in ISO_FORMATS:
        if parsed.null_count() == text.null_count():
            break
        parsed = parsed.fill_null(text.str.strptime(target, form, strict=False))
    return parsed.cast(KINDS[kind][0]) if kind == "date" else parsed


def to_kind(values: pl.Series, kind: str) -> pl.Series:
    """``values`` as the store's ``kind`` (a key of :data:`~bidstack.io.schema.KINDS`), with
    null wherever a value does not convert."""
    dtype = values.dtype
    target = KINDS[kind][0]
    if dtype == pl.Null:
        return values.cast(target)
    if isinstance(dtype, pl.Categorical | pl.Enum):
        values, dtype = values.cast(pl.String), pl.String
    if dtype == pl.String:
        values = _empty_as_null(values if kind == "string" else values.str.strip_chars())
    if kind == "string":
        return values if dtype == pl.String else values.cast(pl.String)
    if kind in TEXT_KINDS:
        return _dates(values, kind)
    if dtype == pl.Boolean:
        return values.cast(target)
    if not (dtype.is_numeric() or dtype == pl.String):
        values = values.cast(pl.String)
    if kind == "int":
        return _integers(values)
    return values.cast(target, strict=False)


def bad_values(values: pl.Series, converted: pl.Series) -> pl.Series:
    """True where ``values`` holds a value that ``converted`` lost (it did not convert)."""
    present = values.is_not_null()
    if values.dtype == pl.String:
        present &= values.str.strip_chars() != ""
    return (converted.is_null() & present).alias(values.name)


def implausible(values: pl.Series, plausible: Plausible) -> pl.Series:
    """True where a typed value lies outside ``plausible`` (or, a number, is not finite)."""
    low, high = plausible.low, plausible.high
    if values.dtype == pl.Date:
        low, high = low.date(), high.date()
    return (values.is_not_null() & ~values.is_between(low, high)).alias(values.name)


def why_implausible(name: str, given: object, value: object, plausible: Plausible) -> str:
    """What is wrong with ``value`` (typed from ``given``) in column ``name``."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{name.upper()} is {given!r}: not a finite number"
    return f"{name.upper()} is {given!r}: outside {plausible}"


def typed_rows(
    frame: pl.DataFrame,
    kinds: Mapping[str, str],
    required: Sequence[str],
    reject: Callable[[int, str], object],
    plausible: Mapping[str, Plausible] | None = None,
) -> tuple[pl.DataFrame, pl.Series]:
    """``frame`` with each column converted to its kind in ``kinds``, and which rows were kept.

    A row with a value that does not convert, a value outside its column's ``plausible`` values,
    or without a value in a ``required`` column, is left out and passed to
    ``reject(position, reason)``, once, with the first reason found (``"bad float in RRP: 'x'"``,
    ``"RRP is 'inf': not a finite number"``, ``"no SETTLEMENTDATE value"``).
    """
    typed = frame.with_columns(to_kind(frame[name], kinds[name]) for name in frame.columns)
    bad = pl.repeat(False, frame.height, eager=True)
    for name in frame.columns:
        failed = bad_values(frame[name], typed[name])
        for position in (failed & ~bad).arg_true():
            reject(int(position), f"bad {kinds[name]} in {name.upper()}: {frame[name][position]!r}")
        bad |= failed
    for name, bounds in (plausible or {}).items():
        if name not in frame.columns:
            continue
        failed = implausible(typed[name], bounds) & ~bad
        for position in failed.arg_true():
            given, value = frame[name][position], typed[name][position]
            reject(int(position), why_implausible(name, given, value, bounds))
        bad |= failed
    for name in required:
        absent = typed[name].is_null() & ~bad
        for position in absent.arg_true():
            reject(int(position), f"no {name.upper()} value")
        bad |= absent
    kept = ~bad
    return (typed.filter(kept) if bad.any() else typed), kept


def _empty_as_null(text: pl.Series) -> pl.Series:
    return pl.select(pl.when(text != "").then(text)).to_series().alias(text.name)


def _dates(values: pl.Series, kind: str) -> pl.Series:
    dtype = values.dtype
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            values = values.dt.convert_time_zone(MARKET_TIME_ZONE).dt.replace_time_zone(None)
        return values.cast(KINDS[kind][0])
    if dtype == pl.Date:
        return values.cast(KINDS[kind][0])
    return parse_dates(values if dtype == pl.String else values.cast(pl.String), kind)


def _integers(values: pl.Series) -> pl.Series:
    """Int64 where a value is an integral number, else null."""
    dtype = values.dtype
    if dtype.is_integer():
        return values.cast(pl.Int64, strict=False)
    exact = values.cast(pl.Int64, strict=False) if dtype == pl.String else None
    numbers = values.cast(pl.Float64, strict=False)
    integral = numbers.is_finite() & (numbers == numbers.floor()) & (numbers.abs() < INT64_LIMIT)
    whole = pl.select(pl.when(integral).then(numbers).cast(pl.Int64)).to_series()
    whole = whole.alias(values.name)
    return whole if exact is None else exact.fill_null(whole)
