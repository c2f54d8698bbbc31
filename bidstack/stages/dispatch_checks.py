"""Checks of the dispatch stage's input frames: column types at the edge, then row by row.

A frame that cannot be read raises :class:`~bidstack.errors.InputError`; a bad row is left out of
dispatch and reported as a problem (see :mod:`bidstack.stages.dispatch` for the kinds).
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.errors import InputError

KEYS = ("regionid", "interval_datetime")

OFFER_COLUMNS = {
    "regionid": pl.String,
    "duid": pl.String,
    "interval_datetime": pl.Datetime,
    **dict.fromkeys(PRICE_BANDS + BAND_VOLUMES, pl.Float64),
}
OPTIONAL_OFFER_COLUMNS = dict.fromkeys(
    ("maxavail", "uigf", "rocup", "rocdown", "mlf", "ramp_base_mw"), pl.Float64
)
DEMAND_COLUMNS = {"regionid": pl.String, "interval_datetime": pl.Datetime, "demand": pl.Float64}
OPTIONAL_DEMAND_COLUMNS = dict.fromkeys(("market_price_cap", "market_floor_price"), pl.Float64)
INITIAL_MW_COLUMNS = {"duid": pl.String, "initial_mw": pl.Float64}

Check = tuple[str, pl.Expr, pl.Expr]
"""A fault: its ``kind``, the condition flagging a row, and an expression describing it."""


def conform(
    frame: pl.DataFrame,
    name: str,
    required: dict,
    optional: dict,
    time_dtype: pl.DataType | None = None,
) -> pl.DataFrame:
    """``frame`` reduced to the known columns, cast to their dtypes; absent optionals are null."""
    if not isinstance(frame, pl.DataFrame):
        raise InputError(f"{name} must be a polars DataFrame, not {type(frame).__name__}")
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise InputError(f"{name} is missing column(s): {', '.join(missing)}")
    columns = []
    for column, dtype in (required | optional).items():
        if column not in frame.columns:
            columns.append(pl.lit(None, dtype).alias(column))
        elif dtype == pl.Datetime:
            columns.append(_time_column(frame, name, column, time_dtype))
        else:
            columns.append(_cast_column(frame, name, column, dtype))
    selected = frame.select(columns)
    keys = [column for column, dtype in required.items() if dtype != pl.Float64]
    for column, nulls in zip(keys, selected.select(pl.col(keys).null_count()).row(0), strict=True):
        if nulls:
            raise InputError(f"{name}.{column} has {nulls} null value(s)")
    return selected


def _time_column(
    frame: pl.DataFrame, name: str, column: str, time_dtype: pl.DataType | None
) -> pl.Expr:
    dtype = frame.schema[column]
    if not isinstance(dtype, pl.Datetime):
        raise InputError(f"{name}.{column} must be a Datetime column, not {dtype}")
    if time_dtype is not None and dtype.time_zone != time_dtype.time_zone:
        raise InputError(
            f"{name}.{column} has time zone {dtype.time_zone}, offers have {time_dtype.time_zone}"
        )
    return pl.col(column).dt.cast_time_unit("us")


def _cast_column(frame: pl.DataFrame, name: str, column: str, dtype: pl.DataType) -> pl.Expr:
    actual = frame.schema[column]
    if actual == dtype:
        return pl.col(column)
    readable = actual in (pl.String, pl.Null) or (
        actual.is_numeric() if dtype == pl.Float64 else isinstance(actual, pl.Categorical)
    )
    if readable:
        try:
            frame.select(pl.col(column).cast(dtype, strict=True))
        except pl.exceptions.PolarsError:
            readable = False
    if not readable:
        raise InputError(f"{name}.{column} cannot be read as {dtype} (it is {actual})")
    return pl.col(column).cast(dtype)


def initial_mw_frame(initial_mw: pl.DataFrame | None) -> pl.DataFrame:
    """The ``initial_mw`` frame checked: one finite, non-negative value (or null) per unit."""
    if initial_mw is None:
        return pl.DataFrame(schema=INITIAL_MW_COLUMNS)
    initial = conform(initial_mw, "initial_mw", INITIAL_MW_COLUMNS, {})
    repeated = initial.filter(pl.col("duid").is_duplicated())["duid"].unique().sort()
    if len(repeated):
        raise InputError(f"initial_mw gives more than one value for duid {repeated[0]}")
    value = pl.col("initial_mw")
    bad = initial.filter((value < 0) | ~value.is_finite())
    if len(bad):
        duid, mw = bad.row(0)
        raise InputError(f"initial_mw for duid {duid} is {mw}; it must be a finite MW >= 0")
    return initial


def check_limits(market_price_cap: float, market_floor_price: float) -> None:
    if not (np.isfinite(market_price_cap) and np.isfinite(market_floor_price)):
        raise InputError("market_price_cap and market_floor_price must be finite")
    if market_price_cap <= market_floor_price:
        raise InputError(
            f"market_price_cap ({market_price_cap}) must exceed "
            f"market_floor_price ({market_floor_price})"
        )


def check_unit_regions(offers: pl.DataFrame) -> None:
    pairs = offers.select("duid", "regionid").unique()
    split = pairs.filter(pl.col("duid").is_duplicated()).sort("duid", "regionid")
    if len(split):
        duid = split["duid"][0]
        names = ", ".join(split.filter(duid=duid)["regionid"])
        raise InputError(f"offers: duid {duid} offers in more than one region ({names})")


def _column_check(kind: str, columns: dict[str, pl.Expr]) -> Check:
    """A fault found column by column: flagged when any condition holds; the detail names each
    column that fails with its value (``bandavail2=-5.0``)."""
    conditions = {column: condition.fill_null(False) for column, condition in columns.items()}
    detail = pl.concat_str(
        [
            pl.when(condition).then(
                pl.concat_str(
                    pl.lit(f"{column}="), pl.col(column).cast(pl.String).fill_null("null")
                )
            )
            for column, condition in conditions.items()
        ],
        separator=", ",
        ignore_nulls=True,
    )
    return kind, pl.any_horizontal(list(conditions.values())), detail


def _missing(column: str) -> pl.Expr:
    return pl.col(column).is_null() | ~pl.col(column).is_finite()


def offer_checks() -> list[Check]:
    ascending = {
        high: (pl.col(high) <= pl.col(low)) & pl.col(high).is_finite() & pl.col(low).is_finite()
        for low, high in itertools.pairwise(PRICE_BANDS)
    }
    repeats = pl.len().over("duid", "interval_datetime")  # in details: only on flagged rows
    return [
        _column_check("missing_price", {c: _missing(c) for c in PRICE_BANDS}),
        _column_check(
            "missing_availability",
            {c: _missing(c) for c in BAND_VOLUMES} | {"maxavail": pl.col("maxavail").is_nan()},
        ),
        _column_check(
            "negative_availability", {c: pl.col(c) < 0 for c in (*BAND_VOLUMES, "maxavail")}
        ),
        _column_check("prices_not_ascending", ascending),
        _column_check("bad_mlf", {"mlf": (pl.col("mlf") <= 0) | ~pl.col("mlf").is_finite()}),
        _column_check(
            "bad_ramp_rate", {c: (pl.col(c) < 0) | pl.col(c).is_nan() for c in ("rocup", "rocdown")}
        ),
        _column_check("bad_uigf", {"uigf": (pl.col("uigf") < 0) | pl.col("uigf").is_infinite()}),
        _column_check(
            "bad_ramp_base",
            {"ramp_base_mw": (pl.col("ramp_base_mw") < 0) | ~pl.col("ramp_base_mw").is_finite()},
        ),
        (
            "duplicate_offer",
            pl.col("_duplicate"),
            pl.format("{} offers for this unit and interval", repeats),
        ),
        (
            "offer_without_demand",
            ~pl.col("_has_demand"),
            pl.lit("no usable demand row for this region and interval"),
        ),
    ]


def demand_checks() -> list[Check]:
    cap, floor = pl.col("market_price_cap"), pl.col("market_floor_price")
    repeats = pl.len().over(KEYS)
    limits = (cap <= floor) | ~cap.is_finite() | ~floor.is_finite()
    return [
        _column_check("missing_demand", {"demand": _missing("demand")}),
        (
            "duplicate_demand",
            pl.struct(KEYS).is_duplicated(),
            pl.format("{} demand rows for this interval", repeats),
        ),
        _column_check(
            "bad_price_limits",
            {"market_price_cap": limits, "market_floor_price": limits},
        ),
    ]


def screen(
    frame: pl.DataFrame, checks: list[Check], duid: pl.Expr
) -> tuple[pl.Series, pl.DataFrame]:
    """The mask of rows no check flags, and one problem row per (row, fault)."""
    flags = frame.select(condition.alias(kind) for kind, condition, _ in checks)
    problems = [
        problem_rows(frame.filter(flags[kind]), kind, duid, detail) for kind, _, detail in checks
    ]
    return ~flags.select(pl.any_horizontal(pl.all())).to_series(), pl.concat(problems)


def problem_rows(frame: pl.DataFrame, kind: str, duid: pl.Expr, detail: pl.Expr) -> pl.DataFrame:
    return frame.select(
        kind=pl.lit(kind),
        regionid="regionid",
        duid=duid,
        interval_datetime="interval_datetime",
        detail=detail,
    )
