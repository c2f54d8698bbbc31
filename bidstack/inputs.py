"""What the stages of a backtest read from the store (or the fleet's own files) for one window.

Each function returns a frame in the shape its stage takes; the store's MMS semantics
(intervention runs, latest bids, registration in force) come from :mod:`bidstack.io`.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import polars as pl

from bidstack.columns import DEMAND_BID_PREFIX
from bidstack.errors import InputError
from bidstack.fleet import Fleet
from bidstack.io import effective_on, read, read_local_price, trading_day
from bidstack.stages.metering import nem12_energy, scada_energy

DEFAULT_PRICE_CAP = 15000.0
DEFAULT_PRICE_FLOOR = -1000.0
#: Dispatch intervals in the store (DISPATCHREGIONSUM, DISPATCHPRICE) are 5 minutes long.
INTERVAL_MINUTES = 5.0


def fleet_overrides(offers: pl.DataFrame, fleet: Fleet) -> pl.DataFrame:
    """A fleet entry's ``region``, ``participant``, ``mlf`` and ``max_capacity`` replace the
    registered ones, in every scenario (so that the baseline differs only in the bids)."""
    columns = {"region": "regionid", "participant": "participantid", "mlf": "mlf",
               "max_capacity": "max_capacity"}  # fmt: skip
    replaced = []
    for key, column in columns.items():
        given = {d: getattr(u, key) for d, u in fleet.units.items() if getattr(u, key) is not None}
        if given:
            value = pl.col("duid").replace_strict(given, default=pl.col(column))
            replaced.append(value.cast(offers.schema[column]).alias(column))
    return offers.with_columns(replaced) if replaced else offers


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


def with_demand_bids(
    demand: pl.DataFrame, extra: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Demand plus the demand bids' MW, and the bids' region-intervals that have no demand
    row (``regionid``, ``interval_datetime``): those cannot be dispatched."""
    keys = ["regionid", "interval_datetime"]
    if extra.is_empty():
        return demand, extra.select(keys)
    added = (
        demand.join(extra, on=keys, how="left")
        .with_columns(pl.col("demand") + pl.col("demand_bid_mw").fill_null(0.0))
        .drop("demand_bid_mw")
    )
    return added, extra.join(demand, on=keys, how="anti").select(keys)


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
        schema = forecast.collect_schema()
    except (OSError, pl.exceptions.ComputeError) as exc:
        raise InputError(f"{path}: cannot read the forecast file: {exc}") from exc
    missing = [c for c in ("regionid", "interval_datetime", column) if c not in schema]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}")
    window = pl.col("interval_datetime").is_between(left, right, closed="right")
    types = {"regionid": pl.String, "interval_datetime": pl.Datetime("us"), column: pl.Float64}
    _typed(pl.DataFrame(schema=schema), path, types)
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
    """The retailers' demand bids of the fleet file's ``demand_bids``, typed, in the window."""
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
    return bids.filter(pl.col("interval_datetime").is_between(left, right, closed="right"))


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
        )  # fmt: skip
        if not fits and given != pl.Null:
            raise InputError(f"{path}: column {column!r} ({given}) is not {dtype}")
        frame = frame.with_columns(pl.col(column).cast(dtype))
    return frame


def settlement_units(units: pl.DataFrame, fleet: Fleet, offers: pl.DataFrame) -> pl.DataFrame:
    """Participant, region and loss factor of every unit on each trading day settled: the
    registration in force that day, a fleet entry's overrides, and the demand bids' units."""
    given = pl.DataFrame(
        [(d, u.participant, u.region, u.mlf) for d, u in fleet.units.items()],
        schema={"duid": pl.String, "participantid": pl.String, "regionid": pl.String,
                "mlf": pl.Float64},
        orient="row",
    )  # fmt: skip
    registered = units.join(given, on="duid", how="left", suffix="_fleet").select(
        "trading_day",
        "duid",
        *(pl.coalesce(f"{c}_fleet", c).alias(c) for c in ("participantid", "regionid", "mlf")),
    )
    virtual = (
        offers.filter(pl.col("duid").str.starts_with(DEMAND_BID_PREFIX))
        .select(
            trading_day(pl.col("interval_datetime")).alias("trading_day"),
            "duid",
            "participantid",
            "regionid",
            pl.lit(1.0).alias("mlf"),
        )
        .unique(["trading_day", "duid"])
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
    """Each unit's output as the run starts: DISPATCHLOAD.INITIALMW of the first interval.

    SCADA reads a unit drawing auxiliary load as slightly negative (-0.6 MW, say); dispatch
    ramps from output, so such a unit starts from 0 MW.
    """
    first = read(store, "DISPATCHLOAD", left, left + timedelta(minutes=INTERVAL_MINUTES))
    first = first.collect()
    if first.is_empty():
        return None
    initial = pl.col("initialmw").clip(lower_bound=0.0).alias("initial_mw")
    return first.select("duid", initial).drop_nulls()


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
