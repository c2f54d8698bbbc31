"""What the stages of a backtest read from the store (or the fleet's own files) for one window.

Each function returns a frame in the shape its stage takes; the store's MMS semantics
(intervention runs, latest bids, registration in force) come from :mod:`bidstack.io`.
"""

from __future__ import annotations

import os
from datetime import datetime, time, timedelta

import polars as pl

from bidstack.columns import DEMAND_BID_PREFIX
from bidstack.errors import ConfigError, InputError
from bidstack.fleet import MAX_CAPACITY_RATIO, Fleet
from bidstack.io import effective_on, read, read_local_price, trading_day
from bidstack.network import TABLES as NETWORK_TABLES
from bidstack.network import NetworkTables
from bidstack.network import network as build_network
from bidstack.stages.administered import CPT_FIVE_MINUTE_FROM, administered_price_cap
from bidstack.stages.metering import nem12_energy, scada_energy
from bidstack.stages.network import Network
from bidstack.stages.offers import PROBLEM_SCHEMA, registration
from bidstack.stages.settlement import settlement_date

#: Dispatch intervals in the store (DISPATCHREGIONSUM, DISPATCHPRICE) are 5 minutes long.
INTERVAL_MINUTES = 5.0


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
    store: str | os.PathLike,
    left: datetime,
    right: datetime,
    fleet: Fleet,
    offers: pl.DataFrame,
    mode: str = "none",
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Regional demand with the day's market price cap and floor, and problem rows for days whose
    thresholds came from the fleet file. Demand in a region where no unit offers stays in:
    dispatch reports it (``demand_without_offers``) rather than drop it.

    ``total_demand`` is DISPATCHREGIONSUM.TOTALDEMAND plus DISPATCHABLELOAD: TOTALDEMAND excludes
    the scheduled loads' consumption, which stays as history had it (their bids are not
    re-dispatched). ``dispatchable_generation`` is DISPATCHABLEGENERATION: TOTALDEMAND plus the
    scheduled loads plus the region's net export with its share of interconnector losses.
    ``cleared`` sums the historical dispatch (TOTALCLEARED) of the units in the data, from the
    intervention run where there is one (:func:`physical_dispatch`).
    """
    basis = demand_basis(fleet, mode)
    if basis == "cleared":
        units = offers.select("duid", "regionid").unique()
        cleared = physical_dispatch(store, left, right, units.get_column("duid"))
        frame = (
            cleared.join(units, on="duid")
            .group_by("regionid", pl.col("settlementdate").alias("interval_datetime"))
            .agg(pl.col("totalcleared").sum().alias("demand"))
        )
    else:
        column = (
            pl.col("totaldemand") + pl.col("dispatchableload").fill_null(0.0)
            if basis == "total_demand"
            else pl.col("dispatchablegeneration")
        )
        frame = (
            read(store, "DISPATCHREGIONSUM", left, right)
            .collect()
            .select(
                "regionid",
                pl.col("settlementdate").alias("interval_datetime"),
                column.alias("demand"),
            )
        )
    return with_price_limits(store, frame, fleet)


def with_price_limits(
    store: str | os.PathLike, demand: pl.DataFrame, fleet: Fleet | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The market price cap (VOLL) and floor in force on each interval's trading day, from
    MARKET_PRICE_THRESHOLDS; days it does not cover take the fleet file's ``[market]
    market_price_cap`` and ``market_floor_price`` and are reported (``thresholds_from_fleet``).
    A day neither covers is an error: the cap changes every financial year, so no constant is
    assumed."""
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
        )
        if not fits and given != pl.Null:
            raise InputError(f"{path}: column {column!r} ({given}) is not {dtype}")
        frame = frame.with_columns(pl.col(column).cast(dtype))
    return frame


def settlement_units(
    store: str | os.PathLike,
    left: datetime,
    right: datetime,
    fleet: Fleet,
    offers: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Participant, region and loss factors of every unit on each settlement date of
    ``(left, right]``: the registration in force on that date (DUDETAILSUMMARY, DUDETAIL), with
    a fleet entry's overrides and the demand bids' units (see :func:`settlement_registration`).
    """
    first = left.date()  # the settlement date of the interval ending just after ``left``
    days = [first + timedelta(days=k) for k in range((settlement_date(right) - first).days + 1)]
    registered = registration(
        read(store, "DUDETAILSUMMARY").collect(),
        read(store, "DUDETAIL").collect(),
        days,
        fleet.market.loss_factors,
    ).rename({"trading_day": "settlement_date"})
    return settlement_registration(registered, fleet, offers)


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
    bidders = (
        offers.filter(~is_virtual)
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


def measured(
    store: str | os.PathLike, left: datetime, right: datetime, fleet: Fleet
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Measured energy in ``(left, right]``: SCADA for every unit, and NEM12 for fleet units
    with an NMI (NEM12 first, checked against the unit's capacity: the fleet's
    ``max_capacity``, else DUDETAIL's), with the problems metering found. SCADA is read one
    interval past ``right``: its value there is the end of the window's last interval."""
    step = timedelta(minutes=INTERVAL_MINUTES)
    scada, problems = scada_energy(
        read(store, "DISPATCH_UNIT_SCADA", left, right + step).collect(), INTERVAL_MINUTES, right
    )
    nmis = {d: u.nmi for d, u in fleet.units.items() if u.nmi}
    if not nmis:
        return scada, problems
    reads = read(store, "nem12_interval", left, right).collect()
    registered = registration(
        read(store, "DUDETAILSUMMARY").collect(), read(store, "DUDETAIL").collect(), [left.date()]
    )
    capacity = dict(registered.select("duid", "max_capacity").drop_nulls().iter_rows())
    capacity |= {d: u.max_capacity for d, u in fleet.units.items() if u.max_capacity is not None}
    nem12, found = nem12_energy(reads, nmis, INTERVAL_MINUTES, capacity)
    energy = pl.concat([nem12, scada], how="vertical_relaxed")
    return energy, pl.concat([found, problems])


def initial_mw(store: str | os.PathLike, left: datetime) -> pl.DataFrame | None:
    """Each unit's output as the run starts: DISPATCHLOAD.INITIALMW of the first interval, from
    the intervention run where there is one (:func:`physical_dispatch`).

    SCADA reads a unit drawing auxiliary load as slightly negative (-0.6 MW, say); dispatch
    ramps from output, so such a unit starts from 0 MW.
    """
    first = physical_dispatch(store, left, left + timedelta(minutes=INTERVAL_MINUTES))
    if first.is_empty():
        return None
    initial = pl.col("initialmw").clip(lower_bound=0.0).alias("initial_mw")
    return first.select("duid", initial).drop_nulls()


def physical_dispatch(
    store: str | os.PathLike, left: datetime, right: datetime, duids=None
) -> pl.DataFrame:
    """DISPATCHLOAD's physical values per unit and interval in ``(left, right]``: ``duid,
    settlementdate, initialmw, totalcleared``. Prices come from the pricing run (INTERVENTION =
    0), but in an intervention interval what the units did is the intervention run's (INTERVENTION
    = 1): only its INITIALMW matches SCADA there (every unit-interval of the 2018-04 and 2019-12
    samples), so its rows replace the pricing run's where they exist."""
    pricing = read(store, "DISPATCHLOAD", left, right, duids).select(
        "duid", "settlementdate", *PHYSICAL
    )
    intervention = (
        read(store, "DISPATCHLOAD", left, right, duids, raw=True)
        .filter(pl.col("intervention") == 1)
        .select("duid", "settlementdate", *(pl.col(c).alias(f"{c}_run") for c in PHYSICAL))
        .unique(["duid", "settlementdate"], keep="any")
    )
    return (
        pricing.join(intervention, on=["duid", "settlementdate"], how="left")
        .select(
            "duid", "settlementdate", *(pl.coalesce(f"{c}_run", c).alias(c) for c in PHYSICAL)
        )
        .collect()
    )


def lookahead(
    store: str | os.PathLike, right: datetime, end: datetime, fleet: Fleet, offers: pl.DataFrame
) -> pl.DataFrame | None:
    """The fleet's intervals in ``(right, end]`` that its longest phase horizon reaches, with
    their forecast price: what PP looks ahead into past the end of a month."""
    if not fleet.units:
        return None
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


#: DISPATCHLOAD's physical columns, for which the intervention run is what happened.
PHYSICAL = ("initialmw", "totalcleared")


def dispatch_history(store: str | os.PathLike, left: datetime, right: datetime) -> pl.DataFrame:
    """DISPATCHLOAD per unit and interval: ``duid, interval_datetime, initialmw, totalcleared,
    availability, uigf, rampuprate, rampdownrate``. Prices and offers come from the pricing run
    (INTERVENTION = 0); physical values (INITIALMW, TOTALCLEARED) from the intervention run
    where one exists, as it is what the units did (it matches SCADA in intervention months)."""
    columns = ["duid", "settlementdate", *PHYSICAL, "availability", "uigf", "rampuprate",
               "rampdownrate"]  # fmt: skip
    pricing = read(store, "DISPATCHLOAD", left, right).select(columns).collect()
    raw = read(store, "DISPATCHLOAD", left, right, raw=True)
    intervention = (
        raw.filter(pl.col("intervention") == 1)
        .select("duid", "settlementdate", *(pl.col(c).alias(f"{c}_run") for c in PHYSICAL))
        .unique(["duid", "settlementdate"], keep="any")
        .collect()
    )
    history = pricing.join(intervention, on=["duid", "settlementdate"], how="left")
    return history.select(
        "duid",
        pl.col("settlementdate").alias("interval_datetime"),
        *(pl.coalesce(f"{c}_run", c).alias(c) for c in PHYSICAL),
        "availability",
        "uigf",
        "rampuprate",
        "rampdownrate",
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
    keys = ["duid", "interval_datetime"]
    joined = offers.join(history, on=keys, how="left", maintain_order="left")
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


def network(
    store: str | os.PathLike, left: datetime, right: datetime, fleet: Fleet
) -> tuple[Network | None, str, pl.DataFrame]:
    """The interconnectors of the window, the mode they run in (``[market]``
    ``interconnectors``: ``"optimised"``, the default when the store has the network tables,
    ``"historical"`` or ``"none"``), and their flows as AEMO dispatched them
    (:func:`interconnector_history`)."""
    options = fleet.market
    history = interconnector_history(store, left, right)
    tables = NetworkTables(*(read(store, table).collect() for table in NETWORK_TABLES))
    mode = options.interconnectors or ("none" if tables.empty else "optimised")
    if mode != "optimised":
        return None, mode, history
    if tables.empty:
        raise InputError(
            f"{store}: interconnectors = optimised needs INTERCONNECTORCONSTRAINT, LOSSMODEL and "
            "LOSSFACTORMODEL in the store (ingest them), or set [market] interconnectors"
        )
    regions = read(store, "DISPATCHREGIONSUM", left, right).collect()
    loss_demand = regions.select(
        "regionid",
        pl.col("settlementdate").alias("interval_datetime"),
        (pl.col("initialsupply") + pl.col("demandforecast")).alias("loss_demand"),
    )
    limits = history if options.interconnector_limits == "dispatch" else None
    built = build_network(tables, loss_demand, dispatch_limits=limits, as_of=options.network_as_of)
    return built, mode, history


def interconnector_history(
    store: str | os.PathLike, left: datetime, right: datetime
) -> pl.DataFrame:
    """DISPATCHINTERCONNECTORRES (the pricing run): ``interconnectorid, interval_datetime,
    mwflow, mwlosses, marginalloss, exportlimit, importlimit``."""
    return (
        read(store, "DISPATCHINTERCONNECTORRES", left, right)
        .select(
            "interconnectorid",
            pl.col("settlementdate").alias("interval_datetime"),
            "mwflow",
            "mwlosses",
            "marginalloss",
            "exportlimit",
            "importlimit",
        )
        .collect()
    )


def flows_beyond_limits(history: pl.DataFrame) -> pl.DataFrame:
    """Problem rows for intervals whose historical flow lies beyond its own export or import
    limit (``flow_beyond_limits``): the limits NEMDE reported are then not the ones it applied."""
    tolerance = 1e-3
    beyond = (pl.col("mwflow") > pl.col("exportlimit") + tolerance) | (
        pl.col("mwflow") < pl.col("importlimit") - tolerance
    )
    return (
        history.filter(beyond.fill_null(False))
        .select(
            pl.lit("flow_beyond_limits").alias("kind"),
            pl.lit(None, pl.String).alias("regionid"),
            pl.col("interconnectorid").alias("duid"),
            "interval_datetime",
            pl.format(
                "MWFLOW {} outside its limits [{}, {}]", "mwflow", "importlimit", "exportlimit"
            ).alias("detail"),
        )
        .cast(PROBLEM_SCHEMA)
    )


def historical_links(history: pl.DataFrame) -> pl.DataFrame:
    """The flows of :func:`interconnector_history` in the dispatch stage's ``links`` columns, for
    ``interconnectors = "historical"``, where flows are held at history."""
    return history.select(
        pl.col("interconnectorid").alias("linkid"),
        "interconnectorid",
        pl.lit(None, pl.String).alias("from_region"),
        pl.lit(None, pl.String).alias("to_region"),
        "interval_datetime",
        pl.col("mwflow").alias("flow_mw"),
        pl.col("mwlosses").alias("losses_mw"),
        pl.lit(None, pl.Float64).alias("withdrawn_mw"),
        pl.lit(None, pl.Float64).alias("injected_mw"),
        pl.col("marginalloss").alias("marginal_loss"),
        (pl.col("mwflow") >= pl.col("exportlimit") - 1e-3).alias("at_export_limit"),
        (pl.col("mwflow") <= pl.col("importlimit") + 1e-3).alias("at_import_limit"),
    )


def history_prices(store: str | os.PathLike, left: datetime, right: datetime) -> pl.DataFrame:
    """DISPATCHPRICE.RRP per region and interval (the pricing run): what the baseline is
    compared with."""
    return (
        read(store, "DISPATCHPRICE", left, right)
        .select("regionid", pl.col("settlementdate").alias("interval_datetime"), "rrp")
        .collect()
    )


def administered_thresholds(
    store: str | os.PathLike, left: datetime, right: datetime, fleet: Fleet, regions: list[str]
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
      :data:`bidstack.stages.administered.ADMINISTERED_PRICE_CAP` and its negative.
    """
    options = fleet.market
    first, last = trading_day(left - timedelta(days=8)), trading_day(right)
    days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    grid = pl.DataFrame({"regionid": sorted(set(regions))}).join(
        pl.DataFrame({"trading_day": days}, schema={"trading_day": pl.Date}), how="cross"
    )
    rows = read(store, "MARKET_PRICE_THRESHOLDS").collect()
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
            frame.join(_regional_apc(store, days), on=["regionid", "trading_day"], how="left")
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


def _regional_apc(store: str | os.PathLike, days: list) -> pl.DataFrame:
    """``regionid, trading_day, apc, apf`` from REGIONAPCINTERVALS in force on each day."""
    schema = {"regionid": pl.String, "trading_day": pl.Date, "apc": pl.Float64, "apf": pl.Float64}
    rows = read(store, "REGIONAPCINTERVALS").collect()
    if rows.is_empty():
        return pl.DataFrame(schema=schema)
    return (
        effective_on(rows, "REGIONAPCINTERVALS", days)
        .collect()
        .group_by("regionid", pl.col("date").dt.date().alias("trading_day"))
        .agg(pl.col("apcvalue").max().alias("apc"), pl.col("apfvalue").min().alias("apf"))
        .cast(schema)
    )


def price_history(store: str | os.PathLike, left: datetime) -> pl.DataFrame:
    """DISPATCHPRICE's prices before administered pricing (PRE_AP_ENERGY_PRICE, else RRP) per
    region and interval, for the eight days before ``left``: the history administered pricing
    starts a run with."""
    frame = read(store, "DISPATCHPRICE", left - timedelta(days=8), left).collect()
    pre_ap = pl.col("pre_ap_energy_price") if "pre_ap_energy_price" in frame.columns else None
    price = pl.coalesce(pre_ap, "rrp") if pre_ap is not None else pl.col("rrp")
    return frame.select(
        "regionid", pl.col("settlementdate").alias("interval_datetime"), price.alias("price")
    )
