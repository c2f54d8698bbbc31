"""The fleet file's own data files: the forecast price (``[market] frrp``) and retailers'
demand bids (``demand_bids``), typed, with errors that name the file and column."""

from __future__ import annotations

import os
from datetime import datetime

import polars as pl

from bidstack.errors import InputError
from bidstack.fleet import Fleet


def forecast_prices(
    fleet: Fleet, left: datetime, right: datetime, prices: pl.DataFrame
) -> pl.DataFrame:
    """The forecast price ``frrp`` per region and interval of ``(left, right]``: the actual
    dispatch price (``prices``: ``regionid, interval_datetime, rrp``), or the fleet's forecast
    file."""
    window = pl.col("interval_datetime").is_between(left, right, closed="right")
    if fleet.frrp is None:
        return prices.filter(window).select(
            "regionid", "interval_datetime", pl.col("rrp").alias("frrp")
        )
    path, column = fleet.frrp.path, fleet.frrp.column
    forecast, types = _forecast(fleet)
    rows = forecast.filter(window).select("regionid", "interval_datetime", column).collect()
    key = ["regionid", "interval_datetime"]
    repeated = rows.filter(pl.struct(key).is_duplicated()).sort(key)
    if len(repeated):
        region, at = repeated.row(0)[:2]
        raise InputError(
            f"{path}: {len(repeated)} rows repeat a (regionid, interval_datetime), the first "
            f"{region} at {at}; give one forecast per region and interval (for example the "
            "latest run of each)"
        )
    return _typed(rows, path, types).rename({column: "frrp"})


def check_fleet_files(fleet: Fleet) -> None:
    """Raise :class:`InputError` naming the file if a data file the fleet file names cannot be
    read as it must be: checked before a run makes its output folder."""
    if fleet.frrp is not None:
        _forecast(fleet)
    demand_bids(fleet)


def _forecast(fleet: Fleet) -> tuple[pl.LazyFrame, dict]:
    """The fleet's forecast file (``[market] frrp``), its schema checked, and its columns'
    types."""
    path, column = fleet.frrp.path, fleet.frrp.column
    try:
        forecast = pl.scan_parquet(path)
        schema = forecast.collect_schema()
    except (OSError, pl.exceptions.ComputeError) as exc:
        raise InputError(f"{path}: cannot read the forecast file: {exc}") from exc
    missing = [c for c in ("regionid", "interval_datetime", column) if c not in schema]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    types = {"regionid": pl.String, "interval_datetime": pl.Datetime("us"), column: pl.Float64}
    _typed(pl.DataFrame(schema=schema), path, types)
    return forecast, types


def demand_bids(fleet: Fleet) -> pl.DataFrame | None:
    """The retailers' demand bids of the fleet file's ``demand_bids``, typed."""
    if fleet.demand_bids is None:
        return None
    path = fleet.demand_bids
    try:
        bids = pl.read_parquet(path)
    except (OSError, pl.exceptions.ComputeError) as exc:
        raise InputError(f"{path}: cannot read the demand bids: {exc}") from exc
    types = {"regionid": pl.String, "interval_datetime": pl.Datetime("us"),
             "participantid": pl.String, "price": pl.Float64, "mw": pl.Float64}  # fmt: skip
    if "submitted" in bids.columns:
        types["submitted"] = pl.Datetime("us")
    bids = _typed(bids, path, types)
    timeless = bids.get_column("interval_datetime").null_count()
    if timeless:
        raise InputError(f"{path}: {timeless} demand bid(s) have no interval_datetime")
    return bids


def _typed(frame: pl.DataFrame, path: os.PathLike, types: dict) -> pl.DataFrame:
    """``frame`` with these columns cast to these types, or an error naming file and column.

    Numbers must be stored as numbers and times as times; text is not parsed.
    """
    missing = [c for c in types if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    for column, dtype in types.items():
        given = frame.schema[column]
        fits = (
            given.is_numeric() if dtype.is_numeric()
            else isinstance(given, pl.Datetime | pl.Date) if isinstance(dtype, pl.Datetime)
            else given in (pl.String, pl.Categorical, pl.Null) or isinstance(given, pl.Enum)
        )
        if not fits and given != pl.Null:
            raise InputError(f"{path}: column {column!r} ({given}) is not {dtype}")
        frame = frame.with_columns(pl.col(column).cast(dtype))
    return frame
