"""One month of a backtest, every stage, for the baseline and each variant: :func:`run_month`.

A pure step: a :class:`~bidstack.market_data.MarketWindow` of frames, the run's
:class:`~bidstack.config.RunConfig` and the ramp state carried from the month before in; the
month's partitions under ``out`` and a :class:`MonthResult` out. It holds no state between
calls, so months can run in any process (``../shared/design/scaleout.md`` distributes it).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from bidstack.calibration import month_comparison
from bidstack.columns import DEMAND_BID_PREFIX
from bidstack.config import BASELINE, MONTH_FILE, RunConfig
from bidstack.inputs import settlement_registration, with_demand_bids
from bidstack.market_data import MarketWindow
from bidstack.problems import EVERY_SCENARIO, one_problem, problem_rows, tagged
from bidstack.results import FLEET_ROWS, fleet_rows
from bidstack.stages import dispatch as dispatch_stage
from bidstack.stages.administered import administer, history_gaps
from bidstack.stages.bidding import (
    BiddingRound,
    allocation_output,
    bidding_round,
    rejected_allocations,
)
from bidstack.stages.evaluation import ScenarioEvaluation
from bidstack.stages.metering import meter
from bidstack.stages.settlement import settle, settlement_prices
from bidstack.stages.statements import STATEMENT_INTERVALS, interval_sums
from bidstack.summary import Peak, bid_stack, peak_interval, scenario_figures
from bidstack.window_network import historical_links

#: The dispatch stage's defaults for demand rows without price limits.
MARKET_PRICE_CAP, MARKET_FLOOR_PRICE = 15000.0, -1000.0
PROBLEM_ORDER = ("scenario", "kind", "regionid", "duid", "interval_datetime", "detail")


@dataclass(frozen=True)
class MonthResult:
    """What a month hands back to the run.

    ``head``: the ``initial_mw`` each scenario started from; ``tails``: each scenario's
    :func:`~bidstack.stages.dispatch.last_dispatch` (empty when the month had no offers);
    ``figures``: each scenario's :func:`~bidstack.summary.scenario_figures`; ``allocation``:
    the fleet's allocation counts; ``problems``: rows reported per scenario and kind;
    ``calibration``: the baseline against history (:func:`~bidstack.calibration.month_comparison`);
    ``peak`` and ``stack``: the bid stack at the month's peak interval; ``file``: the file it
    wrote in each partition (:meth:`~bidstack.config.RunConfig.partition_file`).
    """

    month: str
    head: dict[str, pl.DataFrame | None]
    tails: dict[str, pl.DataFrame]
    figures: list[tuple[pl.DataFrame, pl.DataFrame]]
    allocation: list[pl.DataFrame]
    problems: pl.DataFrame
    calibration: tuple | None
    peak: Peak | None
    stack: pl.DataFrame | None
    file: str


def run_month(
    window: MarketWindow,
    config: RunConfig,
    out: Path,
    carry: dict[str, pl.DataFrame | None] | None = None,
    *,
    history: Path | None = None,
    dispatched: Callable[[], None] | None = None,
) -> MonthResult:
    """Run every stage over ``window`` and write its partitions under ``out``.

    ``carry``: each scenario's last dispatch from the month before (None for the first month of
    a run: every scenario then starts from the window's INITIALMW). ``history``: the folder whose
    earlier months' ``dispatch_regions`` administered pricing reads (default ``out``).

    Once the bidding round has built every scenario's offers, the window's own are released
    (:meth:`~bidstack.market_data.MarketWindow.release_offers`): after this call the window
    holds none. ``dispatched``, if given, is called once every scenario is dispatched, with the
    offers laid out for dispatch released, while the last scenarios settle (a serial run reads
    its next window then).
    """
    fleet, minutes, month = config.fleet, config.interval_minutes, window.month
    file = config.partition_file(window.left)
    fleet_units = list(fleet.units)
    problems = [window.problems]
    if window.offers.is_empty():
        detail = f"no energy offers with prices and registration in ({window.left}, {window.right}]"
        problems += tagged([one_problem("no_offers", detail)], EVERY_SCENARIO)
        counts = write_problems(problems, out, month, config.compression, file)
        return MonthResult(month, {}, {}, [], [], counts, None, None, None, file)
    bidding = bidding_round(
        window.offers,
        fleet,
        list(config.variants),
        frrp=window.frrp,
        interval_minutes=minutes,
        constraint_status=window.constraint_status,
        semidispatchcap=window.semidispatchcap,
        demand_bids=window.demand_bids,
        lookahead=window.lookahead,
    )
    found = [bidding.problems]
    allocation = []
    if bidding.allocation is not None:
        allocation.append(bidding.allocation.counts)
        write_partition(
            allocation_output(bidding), out / "allocation", month, config.compression, file
        )
        found.append(rejected_allocations(bidding))
    demand, orphans = with_demand_bids(window.demand, bidding.extra_demand)
    found.append(
        problem_rows(
            orphans,
            "demand_bid_without_demand",
            "no regional demand row for the interval: the demand bid is not dispatched",
        )
    )
    units, unregistered = settlement_registration(
        window.registration, fleet, bidding.scenarios[BASELINE]
    )
    problems += tagged([*found, unregistered], EVERY_SCENARIO)
    chosen = [s for s in bidding.scenarios if s in config.scenarios]
    if carry is None:
        head = dict.fromkeys(chosen, window.initial_mw)
    else:
        head = {s: dispatch_stage.carry_initial_mw(carry.get(s), window.left)
                for s in chosen}  # fmt: skip
    peak = peak_interval(demand, window.offers, fleet_units)
    window.release_offers()  # the scenarios have their offers: the window's are not needed
    shared, usable, shared_problems = _screen_shared(bidding, demand)
    # what settling reads of each scenario's offers (the shared and its own: BiddingRound),
    # the shared rows filtered once; the rest go once dispatch has laid them out
    shared_rows = settling_offers(bidding.shared, peak)
    settling_rows = {
        s: pl.concat([shared_rows, settling_offers(bidding.own[s], peak)], how="diagonal_relaxed")
        for s in chosen
    }
    own_offers = {s: bidding.own[s] for s in chosen}
    dispatcher = dispatch_stage.ScenarioDispatch(
        shared,
        usable,
        network=window.network,
        interval_minutes=minutes,
        ramp_priority=fleet.market.ramp_priority,
        engine=fleet.market.dispatch_engine,
    )
    settling = _Settling(window, config, out, units, peak, history or out)
    # each scenario's later stages run on a thread of their own while the next scenario is
    # dispatched (the dispatch kernel releases the GIL), so that no more than two scenarios'
    # frames are held: one being dispatched, one settling; the last scenario, with nothing left
    # to dispatch, starts settling beside the one before it. They come back in scenario order;
    # each hands its writes to a side thread. No thread enters a parallel Numba kernel
    # (the allocation's ran above): Numba's threading layer does not allow two threads in one
    # at once (see bidstack.scaleout.executors)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="bidstack-settle") as pool:
        # the shared offers' capacities are put in order while the first scenario is dispatched
        evaluating = pool.submit(ScenarioEvaluation, bidding.shared, demand)
        del bidding
        pending = []
        for number, scenario in enumerate(chosen, start=1):
            own, _ = dispatch_stage.conform(own_offers[scenario], usable)
            kept, _, own_problems = dispatch_stage.screen(own, usable)
            result = dispatcher.dispatch(kept, head[scenario])
            # on this thread: it evens the threads' shares
            evaluation = evaluating.result().evaluate(own_offers[scenario])
            found = [*shared_problems, *own_problems]
            if pending and number < len(chosen):
                pending[-1].result()
            pending.append(
                pool.submit(
                    settling.run, scenario, settling_rows[scenario], result, evaluation, found
                )
            )
        del dispatcher, evaluating, shared  # the layout, the shared offers
        if dispatched is not None:
            dispatched()
        settled = [future.result() for future in pending]
    tails = {scenario: done.tail for scenario, done in zip(chosen, settled, strict=True)}
    calibration = next((d.calibration for d in settled if d.calibration is not None), None)
    problems += [frame for done in settled for frame in done.problems]
    figures = [done.figures for done in settled]
    stacks = [done.stack for done in settled if done.stack is not None]
    counts = write_problems(problems, out, month, config.compression, file)
    stack = pl.concat(stacks) if stacks else None
    return MonthResult(
        month, head, tails, figures, allocation, counts, calibration, peak, stack, file
    )


@dataclass(frozen=True)
class _Settled:
    """One scenario's stages after dispatch, as :class:`MonthResult` gathers them."""

    tail: pl.DataFrame
    calibration: tuple | None
    problems: list[pl.DataFrame]
    figures: tuple[pl.DataFrame, pl.DataFrame]
    stack: pl.DataFrame | None


@dataclass(frozen=True)
class _Settling:
    """What a month's scenarios share after dispatch: administered pricing, metering,
    settlement, their partitions (with the scenario's grid evaluation) and figures (:meth:`run`,
    one scenario)."""

    window: MarketWindow
    config: RunConfig
    out: Path
    units: pl.DataFrame
    peak: Peak | None
    history: Path

    def run(
        self,
        scenario: str,
        offers: pl.DataFrame,
        result: dispatch_stage.DispatchResult,
        evaluation: pl.DataFrame,
        found: list[pl.DataFrame],
    ) -> _Settled:
        """One scenario's stages after dispatch; ``offers``: the rows of its offers that they
        read (:func:`settling_offers`), not all of them."""
        window, fleet, minutes = self.window, self.config.fleet, self.config.interval_minutes
        fleet_units = list(fleet.units)
        if fleet.market.administered_pricing:
            earlier = price_history(
                self.history / scenario / "dispatch_regions", window.stored_prices, window.left
            )
            regions, administered = administer(result.regions, earlier, window.thresholds)
            result = replace(result, regions=regions)
            found = [*found, administered, history_gaps(earlier, regions, window.left)]
        # the partitions are written, and the baseline compared with history, on a side thread
        # while the rest is worked out (Polars works without the GIL)
        with _SideThread() as aside:
            links = (
                historical_links(window.flows) if window.interconnectors == "historical"
                else result.links
            )  # fmt: skip

            def write(name: str, frame: pl.DataFrame) -> None:
                aside(write_partition, frame, self.out / scenario / name, window.month,
                      self.config.compression, self.config.partition_file(window.left))  # fmt: skip

            for name, frame in (("dispatch_units", result.units),
                                ("dispatch_regions", result.regions),
                                ("dispatch_links", links),
                                ("evaluation", evaluation)):  # fmt: skip
                write(name, frame)
            calibrating = None
            if scenario == BASELINE:
                calibrating = aside(
                    month_comparison, result.regions, window.history_prices, result.units,
                    window.history,
                )  # fmt: skip
            energy, unmetered = meter(
                result.units, offers, minutes, window.measured if scenario == BASELINE else None,
                result.by_unit,
            )  # fmt: skip
            prices, unpriced = settlement_prices(
                result.regions.select("regionid", "interval_datetime", "price")
            )
            amounts, unsettled = settle(energy, self.units, prices)
            write("amounts", amounts)
            own_rows = fleet_rows(amounts, result.units, fleet_units)
            write(STATEMENT_INTERVALS, interval_sums(amounts))
            write(FLEET_ROWS, own_rows)
            problems = tagged(
                [
                    *found,
                    result.problems,
                    problem_rows(unpriced, "no_settlement_price",
                                 "the half-hour has fewer than six dispatch prices"),
                    problem_rows(unsettled, "unsettled"),
                    unmetered,
                ],
                scenario,
            )  # fmt: skip
            return _Settled(
                dispatch_stage.last_dispatch(result.units),
                None if calibrating is None else calibrating.result(),
                problems,
                scenario_figures(scenario, own_rows, result.regions, evaluation, minutes),
                None if self.peak is None
                else bid_stack(scenario, offers, result.regions, self.peak, fleet_units),
            )  # fmt: skip


class _SideThread:
    """One thread beside the caller's: work handed to it (``aside(work, *args)``, a Future)
    runs in order. Leaving the block waits for all of it, and raises the first error any of it
    met unless the block itself is raising."""

    def __enter__(self) -> _SideThread:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bidstack-side")
        self._work: list[Future] = []
        return self

    def __call__(self, work: Callable, *args) -> Future:
        self._work.append(self._pool.submit(work, *args))
        return self._work[-1]

    def __exit__(self, kind, error, traceback) -> None:
        self._pool.shutdown(wait=True)
        if kind is None:
            for done in self._work:
                done.result()  # a write that failed raises here


def settling_offers(offers: pl.DataFrame, peak: Peak | None) -> pl.DataFrame:
    """The rows of a scenario's offers its settling reads: the demand bids (metering) and, at
    the month's peak interval, its region's offers (the bid stack)."""
    rows = pl.col("duid").str.starts_with(DEMAND_BID_PREFIX)
    if peak is not None:
        at_peak = pl.col("interval_datetime") == peak.interval_datetime
        rows = rows | (at_peak & (pl.col("regionid") == peak.regionid))
    return offers.filter(rows)


def _screen_shared(
    bidding: BiddingRound, demand: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame, list[pl.DataFrame]]:
    """The offers every scenario shares, conformed and screened once for all of them, the
    usable demand, and the problems found (reported in every scenario, as dispatch would)."""
    shared, demand = dispatch_stage.conform(bidding.shared, demand)
    demand = dispatch_stage.with_price_limits(demand, MARKET_PRICE_CAP, MARKET_FLOOR_PRICE)
    return dispatch_stage.screen(shared, demand)


def price_history(folder: Path, stored: pl.DataFrame, left: datetime) -> pl.DataFrame:
    """A scenario's prices before administered pricing for the eight days before ``left``: its
    own from earlier months' ``dispatch_regions``, DISPATCHPRICE's (``stored``) before the run."""
    if not folder.exists():
        return stored
    own = (
        pl.scan_parquet(folder, hive_partitioning=True)
        .filter(pl.col("interval_datetime").is_between(left - timedelta(days=8), left, "right"))
        .select("regionid", "interval_datetime", pl.col("pre_ap_price").alias("price"))
        .collect()
    )
    keys = ["regionid", "interval_datetime"]
    return pl.concat([own, stored.join(own, on=keys, how="anti")], how="vertical_relaxed")


def write_partition(
    frame: pl.DataFrame,
    folder: Path,
    month: str,
    compression: str = "zstd",
    file: str = MONTH_FILE,
) -> pl.DataFrame:
    """Write a window's file of one month's partition of a table (replacing an earlier run's)."""
    part = folder / f"month={month}"
    part.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(part / file, compression=compression)
    return frame


def write_problems(
    problems: list[pl.DataFrame],
    out: Path,
    month: str,
    compression: str = "zstd",
    file: str = MONTH_FILE,
) -> pl.DataFrame:
    """Write the month's problem rows, in one order whatever order the stages found them in;
    their count per scenario and kind."""
    frame = pl.concat(problems, how="diagonal_relaxed").sort(
        PROBLEM_ORDER, nulls_last=True, maintain_order=True
    )
    write_partition(frame, out / "problems", month, compression, file)
    return frame.group_by("scenario", "kind").len("rows")
