"""Grid evaluation: per region and interval, offered capacity against demand.

The reserve margin is the capacity offered in a region (each unit's availability: the lower of
its MAXAVAIL and the sum of its band volumes; demand bids are not capacity) less demand.
Lack-of-reserve flags follow AEMO's levels with the largest units as the credible contingencies
(a simplification, stated here):
LOR3 when the margin is below zero, LOR2 below the largest single unit's availability, LOR1
below the sum of the two largest.
"""

from __future__ import annotations

import functools
import operator

import polars as pl

from bidstack.columns import BAND_VOLUMES, DEMAND_BID_PREFIX
from bidstack.errors import InputError
from bidstack.sums import group_sums


def unit_availability(offers: pl.DataFrame) -> pl.Expr:
    """A unit's offered MW in an interval: its band volumes, capped by MAXAVAIL when given.

    A volume that is missing, NaN or infinite counts as nothing: dispatch rejects such offers.
    """
    # added band by band, left to right: pl.sum_horizontal's order depends on the thread count
    bands = functools.reduce(
        operator.add,
        (pl.when(pl.col(band).is_finite()).then(pl.col(band)).otherwise(0.0)
         for band in BAND_VOLUMES),
    )  # fmt: skip
    if "maxavail" not in offers.columns:
        return bands
    return (
        pl.when(pl.col("maxavail").is_null())
        .then(bands)
        .otherwise(pl.min_horizontal(bands, pl.col("maxavail")))
    )


def evaluate(offers: pl.DataFrame, demand: pl.DataFrame) -> pl.DataFrame:
    """Demand, offered capacity, reserve margin and LOR flags per region and interval.

    ``offers``: ``regionid``, ``duid``, ``interval_datetime``, ``bandavail1..10`` and optionally
    ``maxavail``. ``demand``: ``regionid``, ``interval_datetime``, ``demand`` (MW). Every demand
    row comes out; a region-interval without offers has ``offered_mw`` 0 and is flagged LOR3.
    """
    for name, frame, needed in (
        ("offers", offers, ["regionid", "duid", "interval_datetime", *BAND_VOLUMES]),
        ("demand", demand, ["regionid", "interval_datetime", "demand"]),
    ):
        missing = [c for c in needed if c not in frame.columns]
        if missing:
            raise InputError(f"evaluation {name} is missing column(s) {', '.join(missing)}")
    keys = ["regionid", "interval_datetime"]
    available = offers.select(*keys, "duid", unit_availability(offers).alias("mw")).filter(
        ~pl.col("duid").str.starts_with(DEMAND_BID_PREFIX)
    )  # the columns used, then the rows: filtering every column first took most of the time
    offered = (
        available.group_by(keys)
        .agg(
            pl.col("mw").max().alias("largest_unit_mw"),
            pl.col("mw").top_k(2).sum().alias("two_largest_mw"),
            pl.len().alias("units_offering"),
        )
        .join(
            group_sums(available, keys, ["mw"], order=["duid"]).rename({"mw": "offered_mw"}),
            on=keys,
        )
    )
    table = demand.select("regionid", "interval_datetime", "demand").join(
        offered, on=["regionid", "interval_datetime"], how="left"
    )
    table = table.with_columns(
        pl.col("offered_mw", "largest_unit_mw", "two_largest_mw").fill_null(0.0),
        pl.col("units_offering").fill_null(0).cast(pl.Int64),
    )
    margin = pl.col("offered_mw") - pl.col("demand")
    return table.with_columns(
        margin.alias("reserve_mw"),
        (margin < 0).alias("lor3"),
        (margin < pl.col("largest_unit_mw")).alias("lor2"),
        (margin < pl.col("two_largest_mw")).alias("lor1"),
    ).sort("regionid", "interval_datetime")
