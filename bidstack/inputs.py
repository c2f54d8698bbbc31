"""The market inputs of a window, from what was read (:mod:`bidstack.market_reads`) or the
fleet's own files, in the shape each stage takes: the fleet's overrides, regional demand and its
price limits, what NEMDE applied to each unit, the forecast price, the look-ahead and
registration by settlement date. Nothing here reads the store.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import polars as pl

from bidstack.columns import DEMAND_BID_PREFIX
from bidstack.config import INTERVAL_MINUTES
from bidstack.errors import ConfigError, InputError
from bidstack.fleet import MAX_CAPACITY_RATIO, Fleet
from bidstack.io import effective_on, trading_day
from bidstack.joins import join_unique
from bidstack.problems import PROBLEM_SCHEMA
from bidstack.stages.settlement import settlement_date
from bidstack.sums import group_sums


def fleet_overrides(offers: pl.DataFrame, fleet: Fleet) -> pl.DataFrame:
    """A fleet entry's ``region``, ``participant``, ``mlf`` and ``max_capacity`` replace the
    registered ones, in every scenario (so that the baseline differs only in the bids).

    A ``max_capacity`` over :data:`~bidstack.fleet.MAX_CAPACITY_RATIO` times the registered
    capacity is a :class:`~bidstack.errors.ConfigError` (a typo, or the wrong unit's figure).
    """
    _check_capacities(offers, fleet)
    columns = {"region": "regionid", "participant": "participantid", "mlf": "mlf",
               "max_capacity": "max_capacity"}  # fmt: skip
    replaced = []
    for key, column in columns.items():
        given = {d: getattr(u, key) for d, u in fleet.units.items() if getattr(u, key) is not None}
        if given:
            value = pl.col("duid").replace_strict(given, default=pl.col(column))
            replaced.append(value.cast(offers.schema[column]).alias(column))
    return offers.with_columns(replaced) if replaced else offers


def _check_capacities(offers: pl.DataFrame, fleet: Fleet) -> None:
    given = {d: u.max_capacity for d, u in fleet.units.items() if u.max_capacity is not None}
    if not given or "max_capacity" not in offers.columns:
        return
    registered = (
        offers.filter(pl.col("duid").is_in(list(given)))
        .group_by("duid")
        .agg(pl.col("max_capacity").max())
        .drop_nulls()
        .sort("duid")
    )
    for duid, capacity in registered.iter_rows():
        if capacity > 0 and given[duid] > MAX_CAPACITY_RATIO * capacity:
            raise ConfigError(
                f"{fleet.source}: unit {duid}: max_capacity {given[duid]:,.10g} MW is over "
                f"{MAX_CAPACITY_RATIO:g} times its registered capacity ({capacity:,.10g} MW, "
                "DUDETAIL.MAXCAPACITY): a typo, or another unit's figure?"
            )


def demand_basis(fleet: Fleet, mode: str) -> str:
    """The regional demand the fleet file asks for, or the default for the interconnector mode:
    ``total_demand`` when interconnectors are optimised, else ``dispatchable_generation`` (what
    the region's generators produced, flows and scheduled loads held at history)."""
    if fleet.demand is not None:
        return fleet.demand
    return "total_demand" if mode == "optimised" else "dispatchable_generation"


def demand(
    sums: pl.DataFrame,
    physical: pl.DataFrame,
    fleet: Fleet,
    offers: pl.DataFrame,
    mode: str = "none",
) -> pl.DataFrame:
    """Regional demand per interval (``regionid, interval_datetime, demand``). Demand in a region
    where no unit offers stays in: dispatch reports it (``demand_without_offers``) rather than
    drop it.

    ``total_demand`` is DISPATCHREGIONSUM.TOTALDEMAND plus DISPATCHABLELOAD: TOTALDEMAND excludes
    the scheduled loads' consumption, which stays as history had it (their bids are not
    re-dispatched). ``dispatchable_generation`` is DISPATCHABLEGENERATION: TOTALDEMAND plus the
    scheduled loads plus the region's net export with its share of interconnector losses.
    ``cleared`` sums the historical dispatch (TOTALCLEARED) of the units in the data, from the
    intervention run where there is one. ``sums``:
    :func:`bidstack.market_reads.region_sums`; ``physical``:
    :func:`bidstack.market_reads.physical_dispatch`.
    """
    basis = demand_basis(fleet, mode)
    if basis == "cleared":
        units = offers.select("duid", "regionid").unique()
        cleared = physical.join(units, on="duid").select(
            "regionid", pl.col("settlementdate").alias("interval_datetime"), "duid",
            pl.col("totalcleared").alias("demand"),
        )  # fmt: skip
        return group_sums(cleared, ["regionid", "interval_datetime"], ["demand"], order=["duid"])
    column = (
        pl.col("totaldemand") + pl.col("dispatchableload").fill_null(0.0)
        if basis == "total_demand"
        else pl.col("dispatchablegeneration")
    )
    return sums.select("regionid", "interval_datetime", column.alias("demand"))


def with_price_limits(
    demand: pl.DataFrame,
    thresholds: pl.DataFrame,
    fleet: Fleet | None = None,
    store: str | os.PathLike = "the store",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The market price cap (VOLL) and floor in force on each interval's trading day, from
    MARKET_PRICE_THRESHOLDS; days it does not cover take the fleet file's ``[market]
    market_price_cap`` and ``market_floor_price`` and are reported (``thresholds_from_fleet``).
    A day neither covers is an error: the cap changes every financial year, so no constant is
    assumed. ``thresholds``: MARKET_PRICE_THRESHOLDS whole; ``store`` names it in errors."""
    day = trading_day(pl.col("interval_datetime")).alias("day")
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
    covered = set(limits["day"].to_list())
    missing = sorted(d for d in days if d not in covered)
    problems = pl.DataFrame(schema=PROBLEM_SCHEMA)
    if missing:
        options = fleet.market if fleet is not None else None
        cap = options.market_price_cap if options is not None else None
        floor = options.market_floor_price if options is not None else None
        if cap is None or floor is None:
            raise InputError(
                f"{store}: MARKET_PRICE_THRESHOLDS has no row in force on trading day "
                f"{missing[0]} ({len(missing)} day(s) in all): ingest it, or give [market] "
                "market_price_cap and market_floor_price in the fleet file"
            )
        fill = pl.DataFrame(
            {"day": missing, "market_price_cap": cap, "market_floor_price": floor},
            schema=limits.schema,
        )
        limits = pl.concat([limits, fill])
        problems = pl.DataFrame(
            {
                "kind": "thresholds_from_fleet",
                "regionid": None,
                "duid": None,
                "interval_datetime": None,
                "detail": f"{len(missing)} trading day(s) from {missing[0]} to {missing[-1]}: no "
                f"MARKET_PRICE_THRESHOLDS row in force; the fleet file's cap {cap} and floor "
                f"{floor} are used",
            },
            schema=PROBLEM_SCHEMA,
        )
    frame = demand.with_columns(day).join(limits, on="day", how="left").drop("day")
    return frame, problems


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


def settlement_registration(
    units: pl.DataFrame, fleet: Fleet, offers: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Participant, region and loss factors of every unit on each settlement date: ``units``,
    the registration in force on each ``settlement_date`` (columns of
    :func:`bidstack.stages.offers.registration`), with a fleet entry's overrides, and the
    demand bids' units of ``offers``.

    ``mlf`` settles what a unit sends out and ``load_mlf`` what it consumes (the
    registration's, see :func:`bidstack.stages.offers.registration`); a fleet entry's ``mlf``
    replaces both. A demand bid settles at 1.0 (a retailer's bid has no connection point). A
    registration without a loss factor stays without one: settlement reports its
    unit-intervals (``unsettled``) rather than assume 1.0.

    A registration row without PARTICIPANTID (nempy's database drops the column) takes the
    participant of the unit's bids for intervals of that date, and is reported
    (``registration_incomplete``).
    """
    given = pl.DataFrame(
        [(d, u.participant, u.region, u.mlf) for d, u in fleet.units.items()],
        schema={"duid": pl.String, "participantid": pl.String, "regionid": pl.String,
                "mlf": pl.Float64},
        orient="row",
    )  # fmt: skip
    if "load_mlf" not in units.columns:
        units = units.with_columns(pl.col("mlf").alias("load_mlf"))
    day = settlement_date(pl.col("interval_datetime")).alias("settlement_date")
    is_virtual = pl.col("duid").str.starts_with(DEMAND_BID_PREFIX)
    # the bids' participants are read only where a registration has none
    needed = units.get_column("participantid").has_nulls()
    bidders = (
        (offers if needed else offers.clear())
        .filter(~is_virtual)
        .select(day, "duid", pl.col("participantid").alias("participantid_bid"))
        .unique(["settlement_date", "duid"], keep="first")
    )
    registered = (
        units.join(given, on="duid", how="left", suffix="_fleet")
        .join(bidders, on=["settlement_date", "duid"], how="left")
        .select(
            "settlement_date",
            "duid",
            *(pl.coalesce(f"{c}_fleet", c).alias(c) for c in ("participantid", "regionid", "mlf")),
            pl.coalesce("mlf_fleet", "load_mlf").alias("load_mlf"),
            "participantid_bid",
        )
    )
    gaps = registered.filter(
        pl.col("participantid").is_null() & pl.col("participantid_bid").is_not_null()
    ).select(
        pl.lit("registration_incomplete").alias("kind"),
        "regionid",
        "duid",
        pl.lit(None, pl.Datetime("us")).alias("interval_datetime"),
        pl.format(
            "DUDETAILSUMMARY in force on {} has no PARTICIPANTID; the bids' participant {} is used",
            "settlement_date",
            "participantid_bid",
        ).alias("detail"),
    )
    registered = registered.with_columns(
        pl.coalesce("participantid", "participantid_bid").alias("participantid")
    ).drop("participantid_bid")
    virtual = (
        offers.filter(is_virtual)
        .select(
            day,
            "duid",
            "participantid",
            "regionid",
            pl.lit(1.0).alias("mlf"),
            pl.lit(1.0).alias("load_mlf"),
        )
        .unique(["settlement_date", "duid"])
    )
    frame = pl.concat([registered, virtual])
    return frame, gaps.cast(PROBLEM_SCHEMA)


def lookahead(
    intervals: pl.DataFrame, frrp: pl.DataFrame, offers: pl.DataFrame
) -> pl.DataFrame | None:
    """The fleet's intervals past the end of a month that its longest phase horizon reaches
    (``intervals``: ``duid, interval_datetime`` of its bids there), with their forecast price
    (``frrp``): what PP looks ahead into."""
    if intervals.is_empty():
        return None
    regions = offers.select("duid", "regionid").unique("duid", keep="first", maintain_order=True)
    return (
        intervals.select("duid", "interval_datetime")
        .unique(keep="first", maintain_order=True)
        .join(regions, on="duid", maintain_order="left")
        .join(frrp, on=["regionid", "interval_datetime"], how="left", maintain_order="left")
    )  # in the bids' order: the same frame from every read


def lookahead_end(fleet: Fleet, right: datetime, end: datetime) -> datetime:
    """The last interval past ``right`` (within the run's ``end``) that the fleet's longest
    phase horizon reaches; ``right`` itself when none does."""
    if not fleet.units:
        return right
    longest = max(unit.horizon(INTERVAL_MINUTES) for unit in fleet.units.values())
    return max(right, min(end, right + timedelta(minutes=INTERVAL_MINUTES * (longest - 1))))


def constraint_status(local: pl.DataFrame | None) -> pl.DataFrame | None:
    """The sign of each "from data" unit's local price adjustment (``local``: dense
    DISPATCH_LOCAL_PRICE of those units): +1 constrained off, -1 on."""
    if local is None:
        return None
    return local.select(
        "duid",
        pl.col("settlementdate").alias("interval_datetime"),
        pl.col("local_price_adjustment").sign().cast(pl.Int8).alias("constraint_status"),
    )


def semidispatchcap(physical: pl.DataFrame, fleet: Fleet) -> pl.DataFrame | None:
    """DISPATCHLOAD.SEMIDISPATCHCAP of each "from data" unit (``physical``:
    :func:`bidstack.market_reads.physical_dispatch` with that column)."""
    units = [d for d, u in fleet.units.items() if u.semidispatchcap is None]
    if not units:
        return None
    return physical.filter(pl.col("duid").is_in(units)).select(
        "duid",
        pl.col("settlementdate").alias("interval_datetime"),
        (pl.col("semidispatchcap") == 1).alias("semidispatchcap"),
    )


def with_dispatch_history(
    offers: pl.DataFrame, history: pl.DataFrame, fleet: Fleet
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Offers with what NEMDE applied to each unit-interval (``[market]`` options):

    - ``uigf``: a semi-scheduled (or non-scheduled) unit's forecast cap, DISPATCHLOAD.UIGF or,
      in table versions without it, AVAILABILITY (``uigf_cap``);
    - ``rocup``/``rocdown``: DISPATCHLOAD's ramp rates (MW/h, divided by 60) where present
      (``ramp_rates = "dispatchload"``);
    - ``ramp_base_mw``: INITIALMW, at least 0 (``ramp_base = "initialmw"``).

    Returns the offers and problem rows: a UIGF above the unit's capacity (``uigf_above_capacity``)
    and a DISPATCHLOAD ramp rate of zero or less (``bad_dispatchload_ramp_rate``: the bid's is
    used).
    """
    options = fleet.market
    keys = ["interval_datetime", "duid"]  # the order both come in (see bidstack.joins)
    joined = join_unique(offers, history, keys)
    semi = pl.col("schedule_type").is_in(["SEMI-SCHEDULED", "NON-SCHEDULED"])
    forecast = pl.coalesce("uigf", "availability")
    problems = [
        _rows(
            joined.filter(semi & (forecast > pl.col("max_capacity") + 1e-6)),
            "uigf_above_capacity",
            pl.format("UIGF {} MW above the registered capacity of {} MW", forecast,
                      "max_capacity"),
        )
    ]
    columns = []
    if options.uigf_cap:
        columns.append(pl.when(semi).then(forecast).alias("uigf"))
    if options.ramp_rates == "dispatchload":
        for bid, nemde in (("rocup", "rampuprate"), ("rocdown", "rampdownrate")):
            bad = pl.col(nemde).is_not_null() & ~(pl.col(nemde) > 0)
            problems.append(
                _rows(joined.filter(bad), "bad_dispatchload_ramp_rate",
                      pl.format(f"DISPATCHLOAD {nemde.upper()} {{}} MW/h; the bid's is used",
                                pl.col(nemde)))
            )
            columns.append(
                pl.when(pl.col(nemde) > 0).then(pl.col(nemde) / 60.0).otherwise(bid).alias(bid)
            )
    if options.ramp_base == "initialmw":
        columns.append(pl.col("initialmw").clip(lower_bound=0.0).alias("ramp_base_mw"))
    joined = joined.with_columns(columns)
    extra = [c for c in history.columns if c not in keys and c not in ("uigf", "ramp_base_mw")]
    return joined.drop(extra, strict=False), pl.concat(problems)


def _rows(frame: pl.DataFrame, kind: str, detail: pl.Expr) -> pl.DataFrame:
    return frame.select(
        pl.lit(kind).alias("kind"),
        "regionid",
        "duid",
        "interval_datetime",
        detail.alias("detail"),
    ).cast(PROBLEM_SCHEMA)
