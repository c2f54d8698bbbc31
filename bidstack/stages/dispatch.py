"""The dispatch stage: offers, demand and interconnectors in; dispatch, prices and flows out.

This module owns columns, validation and problem reporting; the solve and its exact semantics
(limits, ramp-down over availability, ties as AEMO shares them, prices at band boundaries, losses
and limits of interconnectors) are in :mod:`bidstack.kernel.network`.

Bad values never become zeros. A frame that cannot be read (a missing column, a column that cannot
be cast, a null key, a unit in two regions) raises :class:`~bidstack.errors.InputError` before any
work. A bad row is left out of dispatch and reported in ``problems`` with one row per fault, so
every offer row comes out either in ``units`` or in ``problems``:

=========================  =============================================================
kind                       row left out
=========================  =============================================================
``missing_price``          offer with a null or non-finite band price
``missing_availability``   offer with a null or non-finite band quantity, or NaN maxavail
``negative_availability``  offer with a negative band quantity or maxavail
``prices_not_ascending``   offer whose band prices do not strictly ascend
``bad_mlf``                offer whose mlf is not finite and positive
``bad_ramp_rate``          offer with a negative or NaN rocup / rocdown
``bad_uigf``               offer with a negative or infinite uigf
``bad_ramp_base``          offer with a negative or non-finite ramp_base_mw
``duplicate_offer``        every offer of a unit that appears twice in an interval
``offer_without_demand``   offer whose region-interval has no usable demand row
``missing_demand``         demand row with a null or non-finite demand (``duid`` null)
``duplicate_demand``       every demand row of a region-interval given twice (``duid`` null)
``bad_price_limits``       demand row whose cap or floor is not finite or cap <= floor
=========================  =============================================================

Rows reported that are still dispatched: ``demand_without_offers`` (a usable demand row with no
valid offer in its region: it is dispatched, unserved unless it can import) and
``network_not_proven`` (an interval whose branch and bound stopped at its node limit before
proving its best solution optimal; that solution is kept).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.errors import InputError
from bidstack.kernel.enums import RAMP_PRIORITIES, LimitFlag, LinkState, PriceSource
from bidstack.kernel.network import DispatchLayout, OfferArrays, dispatch_network_nb
from bidstack.stages import dispatch_checks as checks
from bidstack.stages.dispatch_checks import KEYS
from bidstack.stages.network import Network, link_arrays, topology

#: Branch-and-bound nodes an interval may take before the relaxation is kept.
MAX_NODES = 4096
#: ``kernel``: :mod:`bidstack.kernel.network`; ``reference``: nempy's MIP and LP on HiGHS
#: (:mod:`bidstack.reference.network_engine`), thousands of times slower, needs scipy.
ENGINES = ("kernel", "reference")


@dataclass(frozen=True)
class DispatchResult:
    """What :func:`dispatch` returns.

    ``units``: one row per dispatched offer: ``duid, regionid, interval_datetime, dispatch_mw,
    lower_mw, upper_mw`` (the unit's limits), ``availability_mw`` (the cap applied: maxavail,
    or the UIGF where lower), ``ramp_base_mw`` (the output its ramp rates count from; null when
    no ramp limit applies), ``forced_mw`` (MW held beyond its bands by its ramp-down limit),
    ``ramp_up_limited``, ``ramp_down_limited`` and ``ramp_down_over_availability`` (its
    ramp-down limit exceeded its availability and held it up, or was cut to it).

    ``regions``: one row per region-interval with demand: ``regionid, interval_datetime, price``
    ($/MWh at the regional reference node, clamped to the cap and floor), ``demand,
    dispatched_mw, net_export_mw`` (into interconnectors, losses included), ``unserved_mw,
    oversupply_mw, marginal_duid`` (the first unit, in merit order, of the region's own
    price-setting band; null when the price came over an interconnector or is the cap or
    floor), ``price_source`` (``offer``, ``market_price_cap``, ``market_floor_price``,
    ``interconnector``) and ``interval_minutes``.

    ``links``: one row per interconnector link and interval in service: ``linkid,
    interconnectorid, from_region, to_region, interval_datetime, flow_mw, losses_mw,
    withdrawn_mw`` (from its from-region), ``injected_mw`` (into its to-region),
    ``marginal_loss`` (to-price / from-price on the loss segment of the flow),
    ``at_export_limit, at_import_limit``.

    ``problems``: ``kind, regionid, duid, interval_datetime, detail``, one row per fault found.
    """

    units: pl.DataFrame
    regions: pl.DataFrame
    links: pl.DataFrame
    problems: pl.DataFrame


def dispatch(
    offers: pl.DataFrame,
    demand: pl.DataFrame,
    *,
    network: Network | None = None,
    initial_mw: pl.DataFrame | None = None,
    market_price_cap: float = 15000.0,
    market_floor_price: float = -1000.0,
    interval_minutes: float | None = None,
    ramp_priority: str = "nemde",
    max_nodes: int = MAX_NODES,
    engine: str = "kernel",
) -> DispatchResult:
    """Dispatch every region and interval, regions linked by ``network`` (None: islands).

    ``offers``: ``regionid, duid, interval_datetime`` (period ending), ``priceband1..10`` ($/MWh
    as offered), ``bandavail1..10`` (MW), and optionally ``maxavail`` and ``uigf`` (MW caps;
    null: none), ``rocup`` / ``rocdown`` (MW/min; null: no limit), ``mlf`` (the loss factor band
    prices are divided by; null: 1.0) and ``ramp_base_mw`` (the MW its ramp rates count from in
    that interval; null: the unit's own previous dispatch, or ``initial_mw`` at its first
    interval). ``demand``: ``regionid, interval_datetime, demand`` (MW) and optionally
    ``market_price_cap`` and ``market_floor_price`` (null: the keyword's value).
    ``ramp_priority``: ``"nemde"`` (a ramp-down limit above availability holds the unit up, as
    NEMDE does) or ``"availability"`` (it is cut to availability). ``engine``: one of
    :data:`ENGINES`; both return the same frames.

    The interval length is the smallest spacing of the intervals (every spacing must be a whole
    number of it); ``interval_minutes`` overrides it and is required for a single interval.

    >>> import datetime as dt
    >>> t = dt.datetime(2024, 1, 1, 0, 5)
    >>> bands = {f"priceband{k}": [10.0 * k] for k in range(1, 11)}
    >>> mw = {f"bandavail{k}": [50.0] for k in range(1, 11)}
    >>> offers = pl.DataFrame({"regionid": ["NSW1"], "duid": ["A"], "interval_datetime": [t],
    ...                        **bands, **mw})
    >>> demand = pl.DataFrame({"regionid": ["NSW1"], "interval_datetime": [t], "demand": [120.0]})
    >>> result = dispatch(offers, demand, interval_minutes=5)
    >>> result.regions.select("price", "dispatched_mw").row(0)
    (30.0, 120.0)
    """
    checks.check_limits(market_price_cap, market_floor_price)
    if interval_minutes is not None and not interval_minutes > 0:
        raise InputError(f"interval_minutes must be positive, not {interval_minutes}")
    if ramp_priority not in RAMP_PRIORITIES:
        raise InputError(f"ramp_priority must be one of {', '.join(RAMP_PRIORITIES)}")
    if engine not in ENGINES:
        raise InputError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    offers = checks.conform(offers, "offers", checks.OFFER_COLUMNS, checks.OPTIONAL_OFFER_COLUMNS)
    time_dtype = offers.schema["interval_datetime"]
    demand = checks.conform(
        demand, "demand", checks.DEMAND_COLUMNS, checks.OPTIONAL_DEMAND_COLUMNS, time_dtype
    )
    initial = checks.initial_mw_frame(initial_mw)
    checks.check_unit_regions(offers)
    demand = demand.with_columns(
        pl.col("market_price_cap").fill_null(market_price_cap),
        pl.col("market_floor_price").fill_null(market_floor_price),
    )
    demand_ok, demand_problems = checks.screen(
        demand, checks.demand_checks(), duid=pl.lit(None, pl.String)
    )
    usable = demand.filter(demand_ok)
    offers = offers.with_columns(
        _has_demand=offers.select(KEYS)
        .join(usable.select(*KEYS, _x=pl.lit(True)), on=KEYS, how="left", maintain_order="left")
        .get_column("_x")
        .fill_null(False),
        _duplicate=pl.struct("duid", "interval_datetime").is_duplicated(),
    )
    offer_ok, offer_problems = checks.screen(offers, checks.offer_checks(), duid=pl.col("duid"))
    kept = offers.filter(offer_ok)
    orphans = usable.join(kept.select(KEYS).unique(), on=KEYS, how="anti")
    problems = [
        offer_problems,
        demand_problems,
        checks.problem_rows(
            orphans, "demand_without_offers", pl.lit(None, pl.String), pl.lit("no valid offer")
        ),
    ]
    if usable.is_empty():
        return _empty(problems)
    every = pl.concat([offers.select("interval_datetime"), demand.select("interval_datetime")])
    minutes = _interval_minutes(
        every.unique().sort("interval_datetime")["interval_datetime"], interval_minutes
    )
    run = _Layout(kept, usable, initial, network, minutes)
    solve = dispatch_network_nb
    if engine == "reference":
        from bidstack.reference.network_engine import dispatch_network_reference as solve
    units, regions, links, nodes = solve(
        run.layout, run.offers, run.links, RAMP_PRIORITIES.index(ramp_priority), max_nodes
    )
    unproven = run.intervals.filter(pl.Series(nodes < 0))
    problems.append(
        unproven.select(
            kind=pl.lit("network_not_proven"),
            regionid=pl.lit(None, pl.String),
            duid=pl.lit(None, pl.String),
            interval_datetime="interval_datetime",
            detail=pl.lit(f"branch and bound stopped at {max_nodes} nodes; best found kept"),
        )
    )
    problem_frame = pl.concat(problems).sort(
        "regionid", "interval_datetime", "duid", "kind", nulls_last=True
    )
    return DispatchResult(
        run.unit_frame(units),
        run.region_frame(regions, links),
        run.link_frame(links),
        problem_frame,
    )


class _Layout:
    """The kernel's arrays for the kept offers and usable demand, and frames of its results."""

    def __init__(self, offers, demand, initial, network, minutes: float) -> None:
        regions = set(demand["regionid"]) | set(offers["regionid"])
        if network is not None:
            named = set(network.links["from_region"]) | set(network.links["to_region"])
            unknown = sorted(named - regions)
            if unknown:
                link = network.links.filter(
                    pl.col("from_region").is_in(unknown) | pl.col("to_region").is_in(unknown)
                )["linkid"][0]
                raise InputError(
                    f"interconnector link {link} names region {unknown[0]}, which has no demand "
                    "or offers in the run"
                )
        names = sorted(regions)
        self.topology = topology(names, network.links if network is not None else None)
        region = pl.Enum(names)
        times = pl.concat([offers.select("interval_datetime"), demand.select("interval_datetime")])
        self.intervals = times.unique().sort("interval_datetime")
        self.minutes = minutes
        grid = self.intervals.with_row_index("i", offset=0)
        units = (
            offers.select("regionid", "duid")
            .unique()
            .with_columns(pl.col("regionid").cast(region))
            .sort("regionid", "duid")
        )
        self.units = units.with_row_index("u")
        rows = (
            offers.with_columns(pl.col("regionid").cast(region))
            .join(grid, on="interval_datetime")
            .join(self.units.select("duid", "u"), on="duid")
            .sort("i", "u")
        )
        self.rows = rows
        n_int, n_reg = grid.height, len(names)
        demand_mw = np.full((n_int, n_reg), np.nan)
        d = demand.with_columns(pl.col("regionid").cast(region)).join(grid, on="interval_datetime")
        g = d["regionid"].to_physical().to_numpy()
        demand_mw[d["i"].to_numpy(), g] = d["demand"].to_numpy()
        limits = (
            d.group_by("i")
            .agg(
                pl.col("market_price_cap").n_unique().alias("caps"),
                pl.col("market_floor_price").n_unique().alias("floors"),
                pl.col("market_price_cap").first(),
                pl.col("market_floor_price").first(),
            )
            .sort("i")
        )
        split = limits.filter((pl.col("caps") > 1) | (pl.col("floors") > 1))
        if len(split):
            at = self.intervals["interval_datetime"][split["i"][0]]
            raise InputError(f"demand at {at}: regions give different market price caps or floors")
        cap = np.full(n_int, np.inf)
        floor = np.full(n_int, -np.inf)
        cap[limits["i"].to_numpy()] = limits["market_price_cap"].to_numpy()
        floor[limits["i"].to_numpy()] = limits["market_floor_price"].to_numpy()
        elapsed = np.diff(self.intervals["interval_datetime"].dt.epoch("us").to_numpy())
        follows = np.concatenate([[False], elapsed == round(self.minutes * 60e6)])
        region_units = np.zeros(n_reg + 1, np.int64)
        counts = units.group_by("regionid").len()
        region_units[counts["regionid"].to_physical().to_numpy() + 1] = counts["len"].to_numpy()
        initial_mw = self.units.join(initial, on="duid", how="left", maintain_order="left")
        interval_rows = np.searchsorted(rows["i"].to_numpy(), np.arange(n_int + 1))
        self.layout = DispatchLayout(
            interval_rows.astype(np.int64),
            follows,
            demand_mw,
            cap,
            floor,
            np.full(n_int, self.minutes),
            np.cumsum(region_units),
            initial_mw["initial_mw"].fill_null(np.nan).to_numpy().astype(np.float64),
            self.topology.parent,
            self.topology.order,
        )
        self.offers = _offer_arrays(rows)
        self.links, self.link_table = link_arrays(
            network, self.topology, self.intervals["interval_datetime"]
        )

    def unit_frame(self, out) -> pl.DataFrame:
        dispatch_mw, lower, upper, base, forced, flags = out
        return self.rows.select(
            "duid",
            pl.col("regionid").cast(pl.String),
            "interval_datetime",
            dispatch_mw=dispatch_mw,
            lower_mw=lower,
            upper_mw=upper,
            availability_mw=pl.min_horizontal("maxavail", "uigf").fill_null(np.inf),
            ramp_base_mw=pl.Series(base).fill_nan(None),
            forced_mw=forced,
            ramp_up_limited=(flags & LimitFlag.ramp_up) > 0,
            ramp_down_limited=(flags & LimitFlag.ramp_down) > 0,
            ramp_down_over_availability=(flags & LimitFlag.ramp_down_over_availability) > 0,
        )

    def region_frame(self, out, link_out) -> pl.DataFrame:
        price, _raw, unserved, oversupply, dispatched, marginal, source = out
        present = ~np.isnan(self.layout.demand)
        i, g = np.nonzero(present)
        export = np.zeros(self.layout.demand.shape)
        if self.links.link_from.size:
            withdrawn, injected = link_out[2], link_out[3]
            for lk in range(self.links.link_from.size):
                export[:, self.links.link_from[lk]] += withdrawn[:, lk]
                export[:, self.links.link_to[lk]] -= injected[:, lk]
        row = pl.Series(marginal[i, g])
        marginal_row = pl.select(pl.when(row >= 0).then(row)).to_series()
        return pl.DataFrame(
            {
                "regionid": np.array(self.topology.regions, dtype=object)[g].tolist(),
                "interval_datetime": self.intervals["interval_datetime"].gather(i),
                "price": price[i, g],
                "demand": self.layout.demand[i, g],
                "dispatched_mw": dispatched[i, g],
                "net_export_mw": export[i, g],
                "unserved_mw": unserved[i, g],
                "oversupply_mw": oversupply[i, g],
                "marginal_duid": self.rows["duid"].gather(marginal_row),
                "price_source": pl.Series(source[i, g]).replace_strict(
                    dict(enumerate(PriceSource._fields)), return_dtype=pl.String
                ),
                "interval_minutes": np.full(i.size, self.minutes),
            }
        )

    def link_frame(self, out) -> pl.DataFrame:
        flow, losses, withdrawn, injected, marginal_loss, flags = out
        schema = {
            "linkid": pl.String,
            "interconnectorid": pl.String,
            "from_region": pl.String,
            "to_region": pl.String,
            "interval_datetime": pl.Datetime("us"),
            "flow_mw": pl.Float64,
            "losses_mw": pl.Float64,
            "withdrawn_mw": pl.Float64,
            "injected_mw": pl.Float64,
            "marginal_loss": pl.Float64,
            "at_export_limit": pl.Boolean,
            "at_import_limit": pl.Boolean,
        }
        if not self.links.link_from.size:
            return pl.DataFrame(schema=schema)
        present = ~np.isnan(self.layout.demand)
        on = ~np.isnan(self.links.lower)
        on &= present[:, self.links.link_from] & present[:, self.links.link_to]
        i, lk = np.nonzero(on)
        table = self.link_table
        state = flags[i, lk]
        return pl.DataFrame(
            {
                "linkid": table["linkid"].gather(lk),
                "interconnectorid": table["interconnectorid"].gather(lk),
                "from_region": table["from_region"].gather(lk),
                "to_region": table["to_region"].gather(lk),
                "interval_datetime": self.intervals["interval_datetime"].gather(i),
                "flow_mw": flow[i, lk],
                "losses_mw": losses[i, lk],
                "withdrawn_mw": withdrawn[i, lk],
                "injected_mw": injected[i, lk],
                "marginal_loss": marginal_loss[i, lk],
                "at_export_limit": (state & LinkState.at_export_limit) > 0,
                "at_import_limit": (state & LinkState.at_import_limit) > 0,
            },
            schema=schema,
        )


def _offer_arrays(rows: pl.DataFrame) -> OfferArrays:
    """Per-row arrays in kernel order; each unit's runs of unchanged referred prices numbered
    once (``band_price`` holds one row per run)."""
    referred = rows.select(
        "u", *(pl.col(p) / pl.col("mlf").fill_null(1.0) for p in PRICE_BANDS)
    ).with_row_index("row")
    by_unit = referred.sort("u", "row")
    changed = pl.col("u") != pl.col("u").shift(1)
    for column in PRICE_BANDS:
        changed = changed | (pl.col(column) != pl.col(column).shift(1))
    numbered = by_unit.with_columns(
        price_set=(changed.fill_null(True).cum_sum() - 1).cast(pl.Int64)
    )
    firsts = numbered.unique("price_set", keep="first").sort("price_set")
    price_set = numbered.sort("row")["price_set"].to_numpy()
    cap = rows.select(pl.min_horizontal("maxavail", pl.col("uigf").fill_nan(None)))
    return OfferArrays(
        _array(rows["u"], np.int64),
        np.ascontiguousarray(price_set, np.int64),
        np.ascontiguousarray(rows.select(BAND_VOLUMES).to_numpy(), np.float64),
        _array(cap.to_series().fill_null(np.inf), np.float64),
        _array(rows["rocup"].fill_null(np.inf), np.float64),
        _array(rows["rocdown"].fill_null(np.inf), np.float64),
        _array(rows["ramp_base_mw"].fill_null(np.nan), np.float64),
        np.ascontiguousarray(firsts.select(PRICE_BANDS).to_numpy(), np.float64),
    )


def _interval_minutes(times: pl.Series, interval_minutes: float | None) -> float:
    """The smallest spacing of ``times``, of which every spacing must be a multiple."""
    steps = (times.diff().dt.total_microseconds() / 60e6).drop_nulls().to_numpy()
    if interval_minutes is not None:
        minutes = float(interval_minutes)
    elif steps.size:
        minutes = float(steps.min())
    else:
        raise InputError("the data has a single interval; give interval_minutes= to dispatch it")
    uneven = steps[np.abs(steps / minutes - np.round(steps / minutes)) > 1e-9]
    if uneven.size:
        raise InputError(
            f"intervals {uneven[0]} minutes apart do not fit an interval length of {minutes} "
            "minutes; dispatch data of different interval lengths apart"
        )
    return minutes


def _empty(problems: list[pl.DataFrame]) -> DispatchResult:
    units = pl.DataFrame(
        schema={
            "duid": pl.String,
            "regionid": pl.String,
            "interval_datetime": pl.Datetime("us"),
            "dispatch_mw": pl.Float64,
        }
    )
    regions = pl.DataFrame(
        schema={"regionid": pl.String, "interval_datetime": pl.Datetime("us"), "price": pl.Float64}
    )
    links = pl.DataFrame(schema={"linkid": pl.String, "interval_datetime": pl.Datetime("us")})
    return DispatchResult(units, regions, links, pl.concat(problems))


def _array(series: pl.Series, dtype: type) -> np.ndarray:
    """A series as a writable C-ordered array of the kernel's dtype."""
    return np.require(series.to_numpy(), dtype, "CW")
