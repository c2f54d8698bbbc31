"""``DISPATCH_LOCAL_PRICE`` as a dense frame: AEMO publishes only the non-zero adjustments."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import datetime, time

import polars as pl

from bidstack.io.read import DISPATCH_INTERVAL, Moment, market_time, read
from bidstack.io.schema import KINDS


def read_local_price(
    store: str | os.PathLike,
    start: Moment,
    end: Moment,
    duids: Iterable[str],
    *,
    intervals: Sequence[Moment] | None = None,
) -> pl.LazyFrame:
    """``DISPATCH_LOCAL_PRICE`` as a dense frame: one row per dispatch interval and unit.

    AEMO publishes only non-zero adjustments, so an interval and unit with no row has
    ``local_price_adjustment = 0`` and ``locally_constrained = 0``. ``intervals`` defaults to
    every 5-minute (period-ending) dispatch interval in ``(start, end]``.
    """
    begin, finish = market_time(start), market_time(end)
    duids = list(duids)
    if intervals is None:
        intervals = dispatch_intervals(begin, finish)
    grid = pl.LazyFrame(
        {"settlementdate": [market_time(value) for value in intervals]},
        schema={"settlementdate": KINDS["datetime"][0]},
    ).join(pl.LazyFrame({"duid": duids}, schema={"duid": pl.String}), how="cross")
    prices = read(store, "DISPATCH_LOCAL_PRICE", begin, finish, duids)
    dense = grid.join(prices, on=["settlementdate", "duid"], how="left")
    return dense.with_columns(
        pl.col("local_price_adjustment").fill_null(0.0),
        pl.col("locally_constrained").fill_null(0),
    ).sort("settlementdate", "duid")


def dispatch_intervals(begin: datetime, finish: datetime) -> list[datetime]:
    midnight = datetime.combine(begin.date(), time())
    first = begin + DISPATCH_INTERVAL - (begin - midnight) % DISPATCH_INTERVAL
    count = max(0, (finish - first) // DISPATCH_INTERVAL + 1)
    return [first + index * DISPATCH_INTERVAL for index in range(count)]
