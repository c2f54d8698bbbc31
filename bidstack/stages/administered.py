"""Administered pricing: the cumulative price threshold (CPT) and the administered price cap (APC).

AEMO watches, per region, the sum of the spot prices of the last seven days: the last 2,016
five-minute prices since five-minute settlement (intervals ending after 2021-10-01 00:00), the
last 336 half-hourly trading prices before it (MARKET_PRICE_THRESHOLDS.ADMINISTERED_PRICE_THRESHOLD
is that threshold; NER 3.14.1). When the sum exceeds the CPT, the region enters an administered
price period and its prices are capped at the APC (and floored at the administered price floor,
-APC unless the data says otherwise) until the end of the trading day; the sum is checked again
in every interval, so the period runs on, day after day, while the sum stays above the threshold,
and ends with the trading day in which it falls back (NER 3.14.2, as this module reads it; AEMO's
administered price periods of June 2022 ran that way). This module applies that rule to a
scenario's own prices:

- the running sum is of the prices *before* administered pricing (AEMO's PRE_AP_ENERGY_PRICE and
  CUMUL_PRE_AP_ENERGY_PRICE in DISPATCHPRICE), so capped prices never feed back into it;
- it is kept in five-minute units: before five-minute settlement each five-minute interval
  carries the trading price of its half-hour (the mean of the half-hour's dispatch prices) and the
  sum is checked only at half-hour ends, which is six times the sum of 336 trading prices, and a
  threshold of that era is multiplied by six (see :data:`CPT_FIVE_MINUTE_FROM`);
- an interval whose sum exceeds its trading day's threshold makes every later interval of the
  trading day that the *next* interval belongs to an administered interval (so a threshold
  exceeded in a day's last interval covers the whole next trading day);
- administered intervals are priced at ``min(max(price, floor), cap)``.

Market suspension (NER 3.14.3-3.14.5, June 2022) is not modelled: it needs AEMO's declaration
and its schedule of prices, which the backtest cannot reproduce from bids.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import numpy as np
import polars as pl

from bidstack.errors import InputError
from bidstack.fleet import MarketOptions
from bidstack.io import effective_on, trading_day
from bidstack.kernel.reduce import window_sums_nb
from bidstack.problems import PROBLEM_SCHEMA
from bidstack.stages.settlement import FIVE_MINUTE_SETTLEMENT

#: A MARKET_PRICE_THRESHOLDS row effective on or after this date states the CPT as a sum of
#: five-minute prices; an earlier row as a sum of half-hourly prices (one sixth as large).
CPT_FIVE_MINUTE_FROM = date(2021, 10, 1)
#: The seven days the running sum covers, and the five-minute intervals in them.
WINDOW = timedelta(days=7)
WINDOW_INTERVALS = 2016
#: The administered price cap in force from each date ($/MWh): $300 until 30 June 2022, $600
#: from 1 July 2022 (the AEMC's rule change of June 2022; NER 3.14.1).
#: The store's REGIONAPCINTERVALS and a fleet file's ``administered_price_cap`` take precedence.
ADMINISTERED_PRICE_CAP = ((date(1998, 12, 13), 300.0), (date(2022, 7, 1), 600.0))

PRICE_COLUMNS = {"regionid": pl.String, "interval_datetime": pl.Datetime("us"), "price": pl.Float64}
THRESHOLD_COLUMNS = {
    "regionid": pl.String,
    "trading_day": pl.Date,
    "cumulative_price_threshold": pl.Float64,
    "administered_price_cap": pl.Float64,
    "administered_price_floor": pl.Float64,
}


def administered_price_cap(day: date) -> float:
    """The APC in force on ``day`` by :data:`ADMINISTERED_PRICE_CAP`.

    >>> administered_price_cap(date(2022, 6, 30)), administered_price_cap(date(2022, 7, 1))
    (300.0, 600.0)
    """
    cap = ADMINISTERED_PRICE_CAP[0][1]
    for start, value in ADMINISTERED_PRICE_CAP:
        if day >= start:
            cap = value
    return cap


def administer(
    regions: pl.DataFrame, history: pl.DataFrame, thresholds: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A scenario's regional prices with administered pricing applied, and problem rows.

    ``regions``: ``regionid, interval_datetime, price`` (the dispatch price, $/MWh) and any other
    columns, one row per region and five-minute interval of the window. ``history``: the same
    scenario's prices before administered pricing for the intervals before the window (at least
    the seven days and one trading day before it; more is ignored). ``thresholds``: per region
    and trading day, ``cumulative_price_threshold`` (in five-minute units: a sum of 2,016
    prices), ``administered_price_cap`` and ``administered_price_floor``; a region-day without a
    threshold is not administered.

    Returns ``regions`` with ``price`` administered, ``pre_ap_price`` (the price before),
    ``cumulative_price`` (the seven-day running sum of pre-AP prices, five-minute units; null
    before five-minute settlement except at half-hour ends) and ``administered`` (the interval
    is in an administered price period), and one ``administered_price_period`` problem row per
    region and trading day in which a period starts or runs.
    """
    for name, frame, columns in (
        ("regions", regions, PRICE_COLUMNS),
        ("history", history, PRICE_COLUMNS),
        ("thresholds", thresholds, THRESHOLD_COLUMNS),
    ):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise InputError(f"administered pricing {name} is missing {', '.join(missing)}")
    keys = ["regionid", "interval_datetime"]
    own = regions.select(list(PRICE_COLUMNS)).cast(PRICE_COLUMNS)
    earlier = history.select(list(PRICE_COLUMNS)).cast(PRICE_COLUMNS).join(own, on=keys, how="anti")
    prices = (
        pl.concat([earlier, own])
        .sort(keys)
        .with_columns(trading_day=trading_day(pl.col("interval_datetime")))
    )
    half_hourly = pl.col("interval_datetime") <= FIVE_MINUTE_SETTLEMENT
    half_hour = pl.col("interval_datetime").dt.offset_by("-1us").dt.truncate("30m")
    spot = pl.when(half_hourly).then(pl.col("price").mean().over("regionid", half_hour))
    prices = prices.with_columns(spot.otherwise(pl.col("price")).alias("spot"))
    checked = ~half_hourly | (pl.col("interval_datetime") == half_hour.dt.offset_by("30m"))
    running = pl.when(checked).then(_running_sums(prices))
    prices = prices.with_columns(running.alias("cumulative_price")).join(
        thresholds.select(list(THRESHOLD_COLUMNS)).cast(THRESHOLD_COLUMNS),
        on=["regionid", "trading_day"],
        how="left",
    )
    # a threshold exceeded at j puts the rest of the trading day of j's next interval under the
    # administered price cap, from that next interval on
    step = timedelta(minutes=5)
    triggers = (
        prices.filter(pl.col("cumulative_price") > pl.col("cumulative_price_threshold"))
        .select(
            "regionid",
            (pl.col("interval_datetime") + step).alias("start"),
            "interval_datetime",
            "cumulative_price",
            "cumulative_price_threshold",
        )
        .with_columns(trading_day=trading_day(pl.col("start")))
        .sort("start")
        .group_by("regionid", "trading_day")
        .first()
    )
    result = (
        regions.join(
            prices.select(*keys, "trading_day", "cumulative_price",
                          "administered_price_cap", "administered_price_floor"),
            on=keys,
            how="left",
        )
        .join(triggers.select("regionid", "trading_day", "start"),
              on=["regionid", "trading_day"], how="left")
    )  # fmt: skip
    administered = pl.col("start").is_not_null() & (pl.col("interval_datetime") >= pl.col("start"))
    limits = pl.col("administered_price_floor"), pl.col("administered_price_cap")
    capped = pl.col("price").clip(*limits)
    result = result.with_columns(
        pl.col("price").alias("pre_ap_price"),
        pl.when(administered).then(capped).otherwise(pl.col("price")).alias("price"),
        administered.alias("administered"),
    ).drop("trading_day", "start", "administered_price_cap", "administered_price_floor")
    in_window = triggers.join(
        result.filter("administered").select(
            "regionid", trading_day(pl.col("interval_datetime")).alias("trading_day")
        ).unique(),
        on=["regionid", "trading_day"],
    )
    problems = in_window.sort("regionid", "start").select(
        pl.lit("administered_price_period").alias("kind"),
        "regionid",
        pl.lit(None, pl.String).alias("duid"),
        pl.col("start").alias("interval_datetime"),
        pl.format(
            "the seven-day sum of prices, {} at {}, exceeded the cumulative price threshold {}: "
            "prices capped at the administered price cap to the end of trading day {}",
            pl.col("cumulative_price").round(2),
            pl.col("interval_datetime").dt.strftime("%Y-%m-%d %H:%M"),
            "cumulative_price_threshold",
            "trading_day",
        ).alias("detail"),
    )
    return result, problems.cast(PROBLEM_SCHEMA)


def _running_sums(prices: pl.DataFrame) -> pl.Series:
    """The seven-day running sum of ``spot`` at each row of ``prices`` (sorted by region and
    time), each added afresh in time order (:func:`~bidstack.kernel.reduce.window_sums_nb`): the
    same bits whether the series starts a week or a month before, so a window of days and its
    month sum alike (Polars' ``rolling_sum_by`` carries its rounding along the series)."""
    region = prices.get_column("regionid")
    group = (region != region.shift(1)).fill_null(True).cum_sum().to_numpy().astype(np.int64)
    times = prices.get_column("interval_datetime").dt.cast_time_unit("us").to_physical()
    spot = prices.get_column("spot")
    sums, found = window_sums_nb(
        group,
        times.to_numpy().astype(np.int64),
        spot.fill_null(0.0).to_numpy().astype(np.float64),
        spot.is_not_null().to_numpy(),
        WINDOW // timedelta(microseconds=1),
    )
    return pl.Series("running", sums).set(pl.Series(~found), None)


def history_gaps(history: pl.DataFrame, regions: pl.DataFrame, left: datetime) -> pl.DataFrame:
    """Problem rows (``cpt_history_incomplete``) for the regions of ``regions`` whose ``history``
    holds fewer than the 2,016 five-minute prices of the seven days before ``left``: their running
    sum starts short, so administered pricing may start later than the market's."""
    counted = (
        history.filter(pl.col("interval_datetime").is_between(left - WINDOW, left, closed="right"))
        .group_by("regionid")
        .agg(pl.col("interval_datetime").n_unique().alias("n"))
    )
    short = (
        regions.select("regionid")
        .unique()
        .join(counted, on="regionid", how="left")
        .with_columns(pl.col("n").fill_null(0))
        .filter(pl.col("n") < WINDOW_INTERVALS)
        .sort("regionid")
    )
    return short.select(
        pl.lit("cpt_history_incomplete").alias("kind"),
        "regionid",
        pl.lit(None, pl.String).alias("duid"),
        pl.lit(left, pl.Datetime("us")).alias("interval_datetime"),
        pl.format(
            "{} of the {} five-minute prices of the seven days before {} are known: the "
            "cumulative price threshold's running sum starts short",
            "n",
            pl.lit(WINDOW_INTERVALS),
            pl.lit(str(left)),
        ).alias("detail"),
    ).cast(PROBLEM_SCHEMA)


def administered_thresholds(
    rows: pl.DataFrame,
    apc_rows: pl.DataFrame,
    left: datetime,
    right: datetime,
    options: MarketOptions,
    regions: list[str],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per region and trading day from eight days before ``left`` to ``right``, what
    administered pricing needs (:mod:`bidstack.stages.administered`), and problem rows:

    - ``cumulative_price_threshold``: MARKET_PRICE_THRESHOLDS.ADMINISTERED_PRICE_THRESHOLD in
      force that day, in five-minute units (a row effective before 2021-10-01 sums half-hourly
      prices and is multiplied by six); days it does not cover take the fleet file's ``[market]
      cumulative_price_threshold`` (reported, ``cpt_from_fleet``) or, without one, are not
      administered (reported, ``cpt_missing``);
    - ``administered_price_cap`` and ``administered_price_floor``: the fleet file's ``[market]
      administered_price_cap`` (and its negative), else REGIONAPCINTERVALS in force that day
      (its highest APCVALUE and lowest APFVALUE, -APC where null), else the APC in force by
      :data:`ADMINISTERED_PRICE_CAP` and its negative.

    ``rows``: MARKET_PRICE_THRESHOLDS whole; ``apc_rows``: REGIONAPCINTERVALS whole;
    ``options``: the fleet file's ``[market]``.
    """
    first, last = trading_day(left - timedelta(days=8)), trading_day(right)
    days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    grid = pl.DataFrame({"regionid": sorted(set(regions))}).join(
        pl.DataFrame({"trading_day": days}, schema={"trading_day": pl.Date}), how="cross"
    )
    cpt = pl.DataFrame(schema={"trading_day": pl.Date, "cpt": pl.Float64})
    if not rows.is_empty():
        five_minute = pl.col("effectivedate") >= datetime.combine(CPT_FIVE_MINUTE_FROM, time())
        threshold = pl.col("administered_price_threshold")
        cpt = (
            effective_on(rows, "MARKET_PRICE_THRESHOLDS", days)
            .collect()
            .select(
                pl.col("date").dt.date().alias("trading_day"),
                pl.when(five_minute).then(threshold).otherwise(threshold * 6).alias("cpt"),
            )
            .drop_nulls("cpt")
        )
    frame = grid.join(cpt, on="trading_day", how="left")
    in_run = pl.col("trading_day") >= trading_day(left + timedelta(microseconds=1))
    missing = sorted(frame.filter(pl.col("cpt").is_null() & in_run)["trading_day"].unique())
    problems = pl.DataFrame(schema=PROBLEM_SCHEMA)
    if missing:
        given = options.cumulative_price_threshold
        kind, detail = (
            ("cpt_missing", "no cumulative price threshold in force (MARKET_PRICE_THRESHOLDS, "
             "[market] cumulative_price_threshold): prices are not administered")
            if given is None
            else ("cpt_from_fleet", f"no MARKET_PRICE_THRESHOLDS.ADMINISTERED_PRICE_THRESHOLD "
                  f"in force: the fleet file's cumulative_price_threshold {given} is used")
        )  # fmt: skip
        problems = pl.DataFrame(
            {"kind": kind, "regionid": None, "duid": None, "interval_datetime": None,
             "detail": f"{len(missing)} trading day(s) from {missing[0]} to {missing[-1]}: "
             f"{detail}"},
            schema=PROBLEM_SCHEMA,
        )  # fmt: skip
        if given is not None:
            frame = frame.with_columns(pl.col("cpt").fill_null(given))
    if options.administered_price_cap is not None:
        frame = frame.with_columns(
            apc=pl.lit(options.administered_price_cap), apf=pl.lit(None, pl.Float64)
        )
    else:
        default = pl.DataFrame(
            {"trading_day": days, "default": [administered_price_cap(d) for d in days]},
            schema={"trading_day": pl.Date, "default": pl.Float64},
        )
        frame = (
            frame.join(_regional_apc(apc_rows, days), on=["regionid", "trading_day"], how="left")
            .join(default, on="trading_day")
            .with_columns(pl.coalesce("apc", "default").alias("apc"))
        )
    return frame.select(
        "regionid",
        "trading_day",
        pl.col("cpt").alias("cumulative_price_threshold"),
        pl.col("apc").alias("administered_price_cap"),
        pl.coalesce("apf", -pl.col("apc")).alias("administered_price_floor"),
    ), problems


def _regional_apc(rows: pl.DataFrame, days: list) -> pl.DataFrame:
    """``regionid, trading_day, apc, apf`` from REGIONAPCINTERVALS in force on each day."""
    schema = {"regionid": pl.String, "trading_day": pl.Date, "apc": pl.Float64, "apf": pl.Float64}
    if rows.is_empty():
        return pl.DataFrame(schema=schema)
    return (
        effective_on(rows, "REGIONAPCINTERVALS", days)
        .collect()
        .group_by("regionid", pl.col("date").dt.date().alias("trading_day"))
        .agg(pl.col("apcvalue").max().alias("apc"), pl.col("apfvalue").min().alias("apf"))
        .cast(schema)
    )
