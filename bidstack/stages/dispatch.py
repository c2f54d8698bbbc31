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

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import polars as pl

from bidstack.errors import InputError
from bidstack.kernel.enums import RAMP_PRIORITIES
from bidstack.kernel.network import solve_network
from bidstack.sorting import duplicated_rows
from bidstack.stages import dispatch_checks as checks
from bidstack.stages.dispatch_checks import KEYS
from bidstack.stages.dispatch_layout import Layout
from bidstack.stages.network import Network

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

    ``by_unit``: the rows of ``units`` in unit and time order (``duid, interval_datetime``), as
    :func:`~bidstack.stages.metering.meter` takes them, where the stage knows it.
    """

    units: pl.DataFrame
    regions: pl.DataFrame
    links: pl.DataFrame
    problems: pl.DataFrame
    by_unit: np.ndarray | None = field(default=None, compare=False, repr=False)


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
    validate: bool = True,
) -> DispatchResult:
    """Dispatch every region and interval, regions linked by ``network`` (None: islands).

    ``offers``: ``regionid, duid, interval_datetime`` (period ending), ``priceband1..10`` ($/MWh
    as offered), ``bandavail1..10`` (MW), and optionally ``maxavail`` and ``uigf`` (MW caps;
    null: none), ``rocup`` / ``rocdown`` (MW/min; null: no limit), ``mlf`` (the loss factor band
    prices are divided by; null: 1.0) and ``ramp_base_mw`` (the MW its ramp rates count from in
    that interval; null: the unit's own dispatch in the interval before, or ``initial_mw`` in the
    run's first interval; none after a gap, or in a unit's first row after the first interval).
    ``demand``: ``regionid, interval_datetime, demand`` (MW) and optionally
    ``market_price_cap`` and ``market_floor_price`` (null: the keyword's value).
    ``ramp_priority``: ``"nemde"`` (a ramp-down limit above availability holds the unit up, as
    NEMDE does) or ``"availability"`` (it is cut to availability). ``engine``: one of
    :data:`ENGINES`; both return the same frames.

    The interval length is the smallest spacing of the intervals (every spacing must be a whole
    number of it); ``interval_minutes`` overrides it and is required for a single interval.

    ``validate=False`` is for callers that :func:`conform` and :func:`screen` the frames
    themselves (a backtest screens a month's offers once for every scenario): ``offers`` and
    ``demand`` are then taken as kept and usable, with every column in place, and only
    ``demand_without_offers`` and ``network_not_proven`` are reported.

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
    _check_options(interval_minutes, ramp_priority, engine)
    initial = checks.initial_mw_frame(initial_mw)
    if validate:
        offers, demand = conform(offers, demand)
        demand = with_price_limits(demand, market_price_cap, market_floor_price)
        kept, usable, problems = screen(offers, demand)
    else:
        kept, usable, problems = offers, demand, []
    problems = [*problems, _orphans(kept, usable)]
    if usable.is_empty():
        return _empty(problems)
    minutes = _interval_minutes(_times(offers, demand), interval_minutes)
    run = Layout(kept, usable, initial, network, minutes)
    return _solve(run, problems, ramp_priority, max_nodes, engine)


class ScenarioDispatch:
    """:func:`dispatch` of several scenarios that share every offer but their own (a backtest's
    baseline and variants: only the fleet's offers differ), conformed and screened by the caller
    (as with ``validate=False``).

    The shared offers are laid out once, with the first scenario's own offers. A later
    scenario whose own offers are the same unit-intervals with the same availability (a re-bid
    moves a unit's volume between its bands) is laid out by writing its own rows over that
    layout (:meth:`~bidstack.stages.dispatch_layout.Layout.replace_own`); any other is laid
    out whole. Either way its result is :func:`dispatch`'s on all its offers.
    """

    def __init__(
        self,
        shared: pl.DataFrame,
        usable: pl.DataFrame,
        *,
        network: Network | None = None,
        interval_minutes: float | None = None,
        ramp_priority: str = "nemde",
        max_nodes: int = MAX_NODES,
        engine: str = "kernel",
    ) -> None:
        _check_options(interval_minutes, ramp_priority, engine)
        self.shared, self.usable, self.network = shared, usable, network
        self.interval_minutes = interval_minutes
        self.ramp_priority, self.max_nodes, self.engine = ramp_priority, max_nodes, engine
        self._first: tuple[Layout, list[pl.DataFrame]] | None = None

    def dispatch(self, own: pl.DataFrame, initial_mw: pl.DataFrame | None = None) -> DispatchResult:
        """Dispatch the shared offers and ``own``, from ``initial_mw``."""
        initial = checks.initial_mw_frame(initial_mw)
        if self._first is not None and self._first[0].replace_own(own, initial):
            run, problems = self._first
        else:
            offers = pl.concat([self.shared, own])
            problems = [_orphans(offers, self.usable)]
            if self.usable.is_empty():
                return _empty(problems)
            minutes = _interval_minutes(_times(offers, self.usable), self.interval_minutes)
            run = Layout(offers, self.usable, initial, self.network, minutes, self.shared.height)
            self._first = self._first or (run, problems)
        return _solve(run, list(problems), self.ramp_priority, self.max_nodes, self.engine)


def _check_options(interval_minutes: float | None, ramp_priority: str, engine: str) -> None:
    if interval_minutes is not None and not interval_minutes > 0:
        raise InputError(f"interval_minutes must be positive, not {interval_minutes}")
    if ramp_priority not in RAMP_PRIORITIES:
        raise InputError(f"ramp_priority must be one of {', '.join(RAMP_PRIORITIES)}")
    if engine not in ENGINES:
        raise InputError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")


def _orphans(kept: pl.DataFrame, usable: pl.DataFrame) -> pl.DataFrame:
    """``demand_without_offers``: the usable demand rows no kept offer shares a region-interval
    with."""
    orphans = usable.join(kept.select(KEYS).unique(), on=KEYS, how="anti")
    return checks.problem_rows(
        orphans, "demand_without_offers", pl.lit(None, pl.String), pl.lit("no valid offer")
    )


def _times(offers: pl.DataFrame, demand: pl.DataFrame) -> pl.Series:
    """Every interval of the offers and demand, once each, in order."""
    every = pl.concat([offers.select("interval_datetime"), demand.select("interval_datetime")])
    return every.unique().sort("interval_datetime")["interval_datetime"]


def _solve(
    run: Layout, problems: list[pl.DataFrame], ramp_priority: str, max_nodes: int, engine: str
) -> DispatchResult:
    """Dispatch a laid-out run; its frames, with ``problems`` and the intervals not proven."""
    solve = solve_network
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
        run.by_unit,
    )


def conform(offers: pl.DataFrame, demand: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The two frames with the stage's columns, cast (absent optional columns null); raises
    :class:`~bidstack.errors.InputError` for a frame that cannot be read (see the module
    docstring)."""
    offers = checks.conform(offers, "offers", checks.OFFER_COLUMNS, checks.OPTIONAL_OFFER_COLUMNS)
    time_dtype = offers.schema["interval_datetime"]
    demand = checks.conform(
        demand, "demand", checks.DEMAND_COLUMNS, checks.OPTIONAL_DEMAND_COLUMNS, time_dtype
    )
    checks.check_unit_regions(offers)
    return offers, demand


def with_price_limits(demand: pl.DataFrame, cap: float, floor: float) -> pl.DataFrame:
    """Demand rows without a cap or floor of their own take these."""
    return demand.with_columns(
        pl.col("market_price_cap").fill_null(cap), pl.col("market_floor_price").fill_null(floor)
    )


def screen(
    offers: pl.DataFrame, demand: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, list[pl.DataFrame]]:
    """The offers and demand rows dispatch can use, and problem frames for the rest, one row per
    fault (conformed frames; demand with its price limits). Offers of different units can be
    screened apart (a backtest screens the units every scenario shares once): only a unit's own
    rows and the demand decide whether it is kept."""
    demand_ok, demand_problems = checks.screen(
        demand, checks.demand_checks(), duid=pl.lit(None, pl.String)
    )
    usable = demand.filter(demand_ok)
    flagged = offers.with_columns(
        _has_demand=offers.select(KEYS)
        .join(usable.select(*KEYS, _x=pl.lit(True)), on=KEYS, how="left", maintain_order="left")
        .get_column("_x")
        .fill_null(False),
        _duplicate=duplicated_rows(offers, "duid", "interval_datetime"),
    )
    offer_ok, offer_problems = checks.screen(flagged, checks.offer_checks(), duid=pl.col("duid"))
    return offers.filter(offer_ok), usable, [offer_problems, demand_problems]


def last_dispatch(units: pl.DataFrame) -> pl.DataFrame:
    """Each unit's last dispatch (``units``: :attr:`DispatchResult.units`), and when: where its
    ramp limits start in the next window (see :func:`carry_initial_mw`)."""
    if not units["interval_datetime"].is_sorted():  # the stage's frames come in time order
        units = units.sort("interval_datetime", maintain_order=True)
    return (
        units.unique("duid", keep="last")
        .select("duid", pl.col("dispatch_mw").alias("initial_mw"), "interval_datetime")
        .sort("duid")
    )


def carry_initial_mw(last: pl.DataFrame | None, at: datetime) -> pl.DataFrame | None:
    """The ``initial_mw`` of a window starting at ``at``: the :func:`last_dispatch` of the units
    dispatched in the interval ending at ``at``. After a gap a unit starts without a ramp limit,
    as within a window. A frame without ``interval_datetime`` (INITIALMW read for ``at``) is
    taken as it is.

    >>> import datetime as dt
    >>> at = dt.datetime(2024, 2, 1)
    >>> units = pl.DataFrame({"duid": ["A", "A", "B"], "dispatch_mw": [10.0, 12.0, 5.0],
    ...     "interval_datetime": [at - dt.timedelta(minutes=5), at, at - dt.timedelta(hours=1)]})
    >>> carry_initial_mw(last_dispatch(units), at).rows()
    [('A', 12.0)]
    """
    if last is None or "interval_datetime" not in last.columns:
        return last
    return last.filter(pl.col("interval_datetime") == at).drop("interval_datetime")


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
