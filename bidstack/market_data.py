"""One loader per window: every frame a month of a backtest needs, each table read once.

:meth:`MarketData.open` opens the store once (:class:`~bidstack.io.Store`: recovered once) and
reads what does not change from month to month: registration (DUDETAILSUMMARY, DUDETAIL), price
thresholds (MARKET_PRICE_THRESHOLDS, REGIONAPCINTERVALS), the interconnector tables and the
fleet's demand bids. :meth:`MarketData.window` then reads each windowed table once, with only the
columns the stages use, and returns a :class:`MarketWindow` of frames: the stages never see the
store.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from bidstack import inputs
from bidstack.config import BASELINE
from bidstack.fleet import Fleet
from bidstack.fleet_files import demand_bids, forecast_prices
from bidstack.io import Store, read, read_local_price
from bidstack.market_reads import (
    APPLIED,
    dispatch_history,
    dispatch_prices,
    initial_mw_of,
    interconnector_history,
    measured,
    physical_dispatch,
    region_sums,
    registration_by_settlement_date,
)
from bidstack.network import TABLES as NETWORK_TABLES
from bidstack.network import NetworkTables
from bidstack.problems import EVERY_SCENARIO, PROBLEM_SCHEMA, problem_rows
from bidstack.stages.administered import administered_thresholds
from bidstack.stages.network import Network
from bidstack.stages.offers import (
    VOLUME_COLUMNS,
    OfferBook,
    build_offers,
    offer_dates,
    registration,
)
from bidstack.window_network import flows_beyond_limits, window_network

#: How far back administered pricing reads prices before a window.
PRICE_HISTORY = timedelta(days=8)


@dataclass(frozen=True)
class MarketWindow:
    """Everything a month ``(left, right]`` of a run ending at ``end`` needs, as frames.

    ``offers``: every unit's offers (:mod:`bidstack.stages.offers`) with the fleet's overrides
    and what NEMDE applied (:func:`bidstack.inputs.with_dispatch_history`); ``history``:
    DISPATCHLOAD per unit-interval; ``network``/``interconnectors``/``flows``: the links, their
    mode and AEMO's flows; ``demand``: regional demand with the day's price limits; ``frrp``,
    ``constraint_status``, ``semidispatchcap``, ``demand_bids``, ``lookahead``: what the bidding
    round takes; ``registration``: each unit's registration per settlement date; ``measured``:
    SCADA (and NEM12) energy; ``initial_mw``: INITIALMW at ``left``; ``thresholds`` and
    ``stored_prices``: administered pricing's thresholds and DISPATCHPRICE before ``left``
    (None when it is off); ``history_prices``: DISPATCHPRICE.RRP, for calibration;
    ``problems``: rows found loading, with their ``scenario``.

    The offers are the month's largest frame, and the bidding round copies them into each
    scenario's: :meth:`release_offers` lets the run drop them once it has (the window then holds
    none).
    """

    left: datetime
    right: datetime
    end: datetime
    offers: pl.DataFrame
    history: pl.DataFrame
    network: Network | None
    interconnectors: str
    flows: pl.DataFrame
    demand: pl.DataFrame
    frrp: pl.DataFrame
    constraint_status: pl.DataFrame | None
    semidispatchcap: pl.DataFrame | None
    demand_bids: pl.DataFrame | None
    lookahead: pl.DataFrame | None
    registration: pl.DataFrame
    measured: pl.DataFrame
    initial_mw: pl.DataFrame | None
    thresholds: pl.DataFrame | None
    stored_prices: pl.DataFrame | None
    history_prices: pl.DataFrame
    problems: pl.DataFrame

    @property
    def month(self) -> str:
        return f"{self.left:%Y-%m}"

    def release_offers(self) -> None:
        """Hold no offers from now on (``offers`` becomes empty, with the same columns), so that
        the month's largest frame is freed once nothing else refers to it."""
        object.__setattr__(self, "offers", self.offers.clear())


class MarketData:
    """A store and a fleet, opened once for a run; see the module docstring."""

    def __init__(self, store: Store, fleet: Fleet) -> None:
        self.store = store
        self.fleet = fleet
        self.summary = store.read("DUDETAILSUMMARY").collect()
        self.detail = store.read("DUDETAIL").collect()
        self.thresholds = store.read("MARKET_PRICE_THRESHOLDS").collect()
        self.apc = store.read("REGIONAPCINTERVALS").collect()
        self.tables = NetworkTables(*(store.read(t).collect() for t in NETWORK_TABLES))
        self.bids = demand_bids(fleet)
        self._ahead: tuple[tuple[datetime, datetime, datetime], Future] | None = None
        self._reader: ThreadPoolExecutor | None = None

    @classmethod
    def open(cls, store: str | os.PathLike, fleet: Fleet) -> MarketData:
        return cls(Store.open(store), fleet)

    def offers(
        self, left: datetime, right: datetime, volumes: pl.DataFrame, units: pl.DataFrame
    ) -> OfferBook:
        """The offers of every unit with energy bids (``volumes``: BIDPEROFFER_D) in the window,
        ``units`` the registration on each of its settlement dates."""
        prices = self.store.read("BIDDAYOFFER_D", left, right).collect()
        return build_offers(volumes, prices, units)

    def read_ahead(self, left: datetime, right: datetime, end: datetime) -> None:
        """Start reading the window ``(left, right]`` on a thread of its own, for the next
        :meth:`window` call to take: a serial run reads its next month while the last scenarios
        of this one settle. A window read ahead and not asked for is dropped at the next call."""
        if self._reader is None:
            self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bidstack-ahead")
        bounds = (left, right, end)
        self._ahead = (bounds, self._reader.submit(self._read, *bounds))

    def window(self, left: datetime, right: datetime, end: datetime) -> MarketWindow:
        """Every frame of ``(left, right]`` (``end``: where the run ends, which the look-ahead
        does not pass): the window :meth:`read_ahead` read, if it was this one."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None:
            bounds, reading = ahead
            if bounds == (left, right, end):
                return reading.result()  # raises what the read raised
            reading.cancel()
        return self._read(left, right, end)

    def close(self) -> None:
        """Let go of a window read ahead and not asked for, and of the thread that read it
        (waiting for a read under way, which cannot be stopped)."""
        self._ahead = None
        if self._reader is not None:
            self._reader.shutdown(wait=True, cancel_futures=True)
            self._reader = None

    def _read(self, left: datetime, right: datetime, end: datetime) -> MarketWindow:
        store, fleet, options = self.store, self.fleet, self.fleet.market
        until = inputs.lookahead_end(fleet, right, end)
        bids = store.frame("BIDPEROFFER_D", VOLUME_COLUMNS, left, until)
        in_window = pl.col("interval_datetime") <= right
        # one registration a window, by settlement date: offers, metering and settlement take it
        registered = registration_by_settlement_date(self.summary, self.detail, left, right, fleet)
        book = self.offers(left, right, bids.filter(in_window), registered)
        ahead = bids.filter(~in_window & pl.col("duid").is_in(list(fleet.units)))
        del bids
        offers = inputs.fleet_overrides(book.offers, fleet)
        physical = physical_dispatch(store, left, right, columns=APPLIED)
        history = dispatch_history(physical)
        offers, found_history = inputs.with_dispatch_history(offers, history, fleet)
        flows = interconnector_history(store, left, right)
        sums = region_sums(store, left, right)
        network, mode, found_network = window_network(self.tables, flows, sums, fleet, store)
        demand, found_limits = inputs.with_price_limits(
            inputs.demand(sums, physical, fleet, offers, mode), self.thresholds, fleet, store
        )
        first = left - PRICE_HISTORY if options.administered_pricing else left
        prices = dispatch_prices(store, first, until)
        window_prices = prices.filter(pl.col("interval_datetime").is_between(left, right, "right"))
        local = None
        from_data = [d for d, u in fleet.units.items() if u.constraint_status is None]
        found_local = pl.DataFrame(schema=PROBLEM_SCHEMA)
        if from_data:
            local = read_local_price(store, left, right, from_data).collect()
            found_local = local_price_absent(store, left, right, from_data)
        energy, found_meters = measured(store, left, right, fleet, registered)
        thresholds = stored = None
        found_thresholds = pl.DataFrame()
        if options.administered_pricing:
            regions = demand.get_column("regionid").unique().to_list()
            thresholds, found_thresholds = administered_thresholds(
                self.thresholds, self.apc, left, right, options, regions
            )
            stored = prices.filter(pl.col("interval_datetime") <= left).select(
                "regionid", "interval_datetime", pl.col("pre_ap_price").alias("price")
            )
        everywhere = pl.lit(EVERY_SCENARIO)
        problems = pl.concat(
            [
                *(f.with_columns(scenario=everywhere) for f in (
                    book.problems, found_history, flows_beyond_limits(flows), found_network,
                    found_limits, found_local)),
                found_meters.with_columns(scenario=pl.lit(BASELINE)),
                found_thresholds.with_columns(scenario=everywhere),
            ],
            how="diagonal_relaxed",
        )  # fmt: skip
        bids_in_window = None
        if self.bids is not None:
            bids_in_window = self.bids.filter(
                pl.col("interval_datetime").is_between(left, right, closed="right")
            )
        return MarketWindow(
            left=left,
            right=right,
            end=end,
            offers=offers,
            history=history,
            network=network,
            interconnectors=mode,
            flows=flows,
            demand=demand,
            frrp=forecast_prices(fleet, left, right, window_prices),
            constraint_status=inputs.constraint_status(local),
            semidispatchcap=inputs.semidispatchcap(physical, fleet),
            demand_bids=bids_in_window,
            lookahead=inputs.lookahead(
                ahead, forecast_prices(fleet, right, until, prices), offers
            ) if until > right else None,
            registration=registered,
            measured=energy,
            initial_mw=initial_mw_of(physical, left),
            thresholds=thresholds,
            stored_prices=stored,
            history_prices=window_prices.select("regionid", "interval_datetime", "rrp"),
            problems=problems,
        )  # fmt: skip


def local_price_absent(
    store: Store, left: datetime, right: datetime, units: list[str]
) -> pl.DataFrame:
    """A problem row (``local_price_absent``) per unit taking its constraint status from
    DISPATCH_LOCAL_PRICE where the store holds no row of that table in ``(left, right]``, for
    any unit: AEMO publishes only non-zero adjustments, so the status is 0 throughout, but a
    store the table was never ingested into reads the same, and says so here."""
    if read(store, "DISPATCH_LOCAL_PRICE", left, right).select(pl.len()).collect().item():
        return pl.DataFrame(schema=PROBLEM_SCHEMA)
    return problem_rows(
        pl.DataFrame({"duid": units}, schema={"duid": pl.String}),
        "local_price_absent",
        "no DISPATCH_LOCAL_PRICE row for any unit in the window: constraint status taken as 0 "
        "(no binding constraint) throughout; ingest the table if it was left out, or give the "
        "unit a constraint_status in the fleet file",
    )


def load_offers(
    store: str | os.PathLike, start: datetime, end: datetime, loss_factors: str = "tlf_dlf"
) -> OfferBook:
    """The offers of every unit with energy bids in ``(start, end]`` (see
    :mod:`bidstack.stages.offers`)."""
    store = Store.open(store)
    volumes = store.frame("BIDPEROFFER_D", VOLUME_COLUMNS, start, end)
    prices = store.read("BIDDAYOFFER_D", start, end).collect()
    days = offer_dates(volumes)
    summary = store.read("DUDETAILSUMMARY").collect()
    detail = store.read("DUDETAIL").collect()
    return build_offers(volumes, prices, registration(summary, detail, days, loss_factors))
