"""What the stages of a backtest read from the store (or the fleet's own files) for one window.

Each function returns a frame in the shape its stage takes; the store's MMS semantics
(intervention runs, latest bids, registration in force) come from :mod:`bidstack.io`.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import polars as pl

from bidstack.errors import InputError
from bidstack.fleet import Fleet
from bidstack.io import effective_on, read, read_local_price, trading_day
from bidstack.stages.bidding import DEMAND_BID_PREFIX
from bidstack.stages.metering import nem12_energy, scada_energy

DEFAULT_PRICE_CAP = 15000.0
DEFAULT_PRICE_FLOOR = -1000.0
#: Dispatch intervals in the store (DISPATCHREGIONSUM, DISPATCHPRICE) are 5 minutes long.
INTERVAL_MINUTES = 5.0


def fleet_overrides(offers: pl.DataFrame, fleet: Fleet) -> pl.DataFrame:
    """A fleet entry's ``region`` and ``participant`` replace the registered ones."""
    region = {d: u.region for d, u in fleet.units.items() if u.region}
    participant = {d: u.participant for d, u in fleet.units.items() if u.participant}
    return offers.with_columns(
        pl.col("duid").replace_strict(region, default=pl.col("regionid")).alias("regionid"),
        pl.col("duid")
        .replace_strict(participant, default=pl.col("participantid"))
        .alias("participantid"),
    )


def demand(
    store: str | os.PathLike, left: datetime, right: datetime, fleet: Fleet, offers: pl.DataFrame
) -> pl.DataFrame:
    """Regional demand with the day's market price cap and floor. Demand in a region where no
    unit offers stays in: dispatch reports it (``demand_without_offers``) rather than drop it."""
    if fleet.demand == "cleared":
        units = offers.select("duid", "regionid").unique()
        cleared = read(store, "DISPATCHLOAD", left, right, units.get_column("duid")).collect()
        demand = (
            cleared.join(units, on="duid")
            .group_by("regionid", pl.col("settlementdate").alias("interval_datetime"))
            .agg(pl.col("totalcleared").sum().alias("demand"))
        )
    else:
        demand = (
            read(store, "DISPATCHREGIONSUM", left, right)
            .collect()
            .select(
                "regionid",
                pl.col("settlementdate").alias("interval_datetime"),
                pl.col("totaldemand").alias("demand"),
            )
        )
    return with_price_limits(store, demand)


def with_price_limits(store: str | os.PathLike, demand: pl.DataFrame) -> pl.DataFrame:
    """The market price cap (VOLL) and floor in force on each interval's trading day."""
    day = trading_day(pl.col("interval_datetime")).alias("day")
    thresholds = read(store, "MARKET_PRICE_THRESHOLDS").collect()
    days = demand.select(day).unique().get_column("day").to_list()
    limits = pl.DataFrame(
        schema={"day": pl.Date, "market_price_cap": pl.Float64, "market_floor_price": pl.Float64}
    )
    if days and not thresholds.is_empty():
        limits = (
            effective_on(thresholds, "MARKET_PRICE_THRESHOLDS", days)
            .collect()
            .select(
                pl.col("date").dt.date().alias("day"),
                pl.col("voll").alias("market_price_cap"),
                pl.col("marketpricefloor").alias("market_floor_price"),
            )
        )
    return (
        demand.with_columns(day)
        .join(limits, on="day", how="left")
        .with_columns(
            pl.col("market_price_cap").fill_null(DEFAULT_PRICE_CAP),
            pl.col("market_floor_price").fill_null(DEFAULT_PRICE_FLOOR),
        )
        .drop("day")
    )


def with_demand_bids(demand: pl.DataFrame, extra: pl.DataFrame) -> pl.DataFrame:
    if extra.is_empty():
        return demand
    return (
        demand.join(extra, on=["regionid", "interval_datetime"], how="left")
        .with_columns(pl.col("demand") + pl.col("demand_bid_mw").fill_null(0.0))
        .drop("demand_bid_mw")
    )


def frrp(store: str | os.PathLike, left: datetime, right: datetime, fleet: Fleet) -> pl.DataFrame:
    """The forecast price: the actual dispatch price, or the fleet's forecast file."""
    if fleet.frrp is None:
        return (
            read(store, "DISPATCHPRICE", left, right)
            .collect()
            .select(
                "regionid",
                pl.col("settlementdate").alias("interval_datetime"),
                pl.col("rrp").alias("frrp"),
            )
        )
    path, column = fleet.frrp.path, fleet.frrp.column
    try:
        forecast = pl.scan_parquet(path)
        names = forecast.collect_schema().names()
    except (OSError, pl.exceptions.ComputeError) as exc:
        raise InputError(f"{path}: cannot read the forecast file: {exc}") from exc
    missing = [c for c in ("regionid", "interval_datetime", column) if c not in names]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    window = pl.col("interval_datetime").is_between(left, right, closed="right")
    return (
        forecast.filter(window)
        .select("regionid", "interval_datetime", pl.col(column).cast(pl.Float64).alias("frrp"))
        .collect()
    )


def constraint_status(
    store: str | os.PathLike, left: datetime, right: datetime, fleet: Fleet
) -> pl.DataFrame | None:
    """The sign of each "from data" unit's local price adjustment: +1 constrained off, -1 on."""
    units = [d for d, u in fleet.units.items() if u.constraint_status is None]
    if not units:
        return None
    local = read_local_price(store, left, right, units).collect()
    return local.select(
        "duid",
        pl.col("settlementdate").alias("interval_datetime"),
        pl.col("local_price_adjustment").sign().cast(pl.Int8).alias("constraint_status"),
    )


def semidispatchcap(
    store: str | os.PathLike, left: datetime, right: datetime, fleet: Fleet
) -> pl.DataFrame | None:
    """DISPATCHLOAD.SEMIDISPATCHCAP of each "from data" unit."""
    units = [d for d, u in fleet.units.items() if u.semidispatchcap is None]
    if not units:
        return None
    return (
        read(store, "DISPATCHLOAD", left, right, units)
        .collect()
        .select(
            "duid",
            pl.col("settlementdate").alias("interval_datetime"),
            (pl.col("semidispatchcap") == 1).alias("semidispatchcap"),
        )
    )


def demand_bids(fleet: Fleet, left: datetime, right: datetime) -> pl.DataFrame | None:
    if fleet.demand_bids is None:
        return None
    try:
        bids = pl.read_parquet(fleet.demand_bids)
    except (OSError, pl.exceptions.ComputeError) as exc:
        raise InputError(f"{fleet.demand_bids}: cannot read the demand bids: {exc}") from exc
    if "interval_datetime" not in bids.columns:
        raise InputError(f"{fleet.demand_bids}: missing column interval_datetime")
    return bids.filter(pl.col("interval_datetime").is_between(left, right, closed="right"))


def settlement_units(units: pl.DataFrame, fleet: Fleet, offers: pl.DataFrame) -> pl.DataFrame:
    """Participant, region and loss factor of every unit settled this month."""
    latest = units.sort("trading_day").unique("duid", keep="last")
    given = pl.DataFrame(
        [(d, u.participant, u.region, u.mlf) for d, u in fleet.units.items()],
        schema={
            "duid": pl.String,
            "participantid": pl.String,
            "regionid": pl.String,
            "mlf": pl.Float64,
        },
        orient="row",
    )
    registered = latest.join(given, on="duid", how="left", suffix="_fleet").select(
        "duid",
        *(pl.coalesce(f"{c}_fleet", c).alias(c) for c in ("participantid", "regionid", "mlf")),
    )
    virtual = (
        offers.filter(pl.col("duid").str.starts_with(DEMAND_BID_PREFIX))
        .select("duid", "participantid", "regionid", pl.lit(1.0).alias("mlf"))
        .unique("duid")
    )
    return pl.concat([registered.with_columns(pl.col("mlf").fill_null(1.0)), virtual])


def measured(store: str | os.PathLike, left: datetime, right: datetime, fleet: Fleet):
    """SCADA for every unit, and NEM12 for fleet units with an NMI (NEM12 first)."""
    scada = scada_energy(
        read(store, "DISPATCH_UNIT_SCADA", left, right).collect(), INTERVAL_MINUTES
    )
    nmis = {d: u.nmi for d, u in fleet.units.items() if u.nmi}
    if not nmis:
        return scada
    reads = read(store, "nem12_interval", left, right).collect()
    return pl.concat([nem12_energy(reads, nmis, INTERVAL_MINUTES), scada], how="vertical_relaxed")


def initial_mw(store: str | os.PathLike, left: datetime) -> pl.DataFrame | None:
    """Each unit's output as the run starts: DISPATCHLOAD.INITIALMW of the first interval."""
    first = read(store, "DISPATCHLOAD", left, left + timedelta(minutes=INTERVAL_MINUTES))
    first = first.collect()
    if first.is_empty():
        return None
    return first.select("duid", pl.col("initialmw").alias("initial_mw")).drop_nulls()


def lookahead(
    store: str | os.PathLike, right: datetime, end: datetime, fleet: Fleet, offers: pl.DataFrame
) -> pl.DataFrame | None:
    """The fleet's intervals in ``(right, end]`` that its longest phase horizon reaches, with
    their forecast price: what PP looks ahead into past the end of a month."""
    longest = max(unit.horizon(INTERVAL_MINUTES) for unit in fleet.units.values())
    until = min(end, right + timedelta(minutes=INTERVAL_MINUTES * (longest - 1)))
    if until <= right:
        return None
    intervals = read(store, "BIDPEROFFER_D", right, until, list(fleet.units)).collect()
    regions = offers.select("duid", "regionid").unique("duid")
    return (
        intervals.select("duid", "interval_datetime")
        .unique()
        .join(regions, on="duid")
        .join(frrp(store, right, until, fleet), on=["regionid", "interval_datetime"], how="left")
    )
