"""The backtest: every stage of the market process, for the historical baseline and each variant.

Month by month, so that memory does not grow with the years, it reads the store and runs

1. offers (:mod:`bidstack.stages.offers`): historical bids joined to registration;
2. the bidding round (:mod:`bidstack.stages.bidding`): the fleet re-bids under each variant;
3. grid evaluation (:mod:`bidstack.stages.evaluation`): demand, reserve margin, LOR flags;
4. dispatch (:mod:`bidstack.stages.dispatch`) of every scenario, ramp limits carried across
   months from each unit's last dispatch;
5. metering (:mod:`bidstack.stages.metering`): SCADA or NEM12 for the baseline where present,
   else the dispatch: the trapezoid of each interval's start and end MW;
6. administered pricing (:mod:`bidstack.stages.administered`) of each scenario's own prices, then
   settlement (:mod:`bidstack.stages.settlement`): amounts in integer micro-dollars, then
   statements by settlement date, to the cent.

The output folder gets, per scenario (``baseline`` and each variant), hive-partitioned Parquet
(``month=YYYY-MM``) of ``dispatch_units``, ``dispatch_regions``, ``evaluation`` and ``amounts``,
and its ``statements``; the fleet's ``allocation``; every reported ``problems`` row; and small
files for the report: ``summary.csv``, ``fleet_daily.parquet`` and ``bid_stack.parquet``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
from tqdm import tqdm

from bidstack import inputs
from bidstack.calibration import Calibration
from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.errors import InputError
from bidstack.fleet import Fleet
from bidstack.inputs import INTERVAL_MINUTES
from bidstack.io import market_time
from bidstack.outputs import prepare_output
from bidstack.preflight import check_store
from bidstack.results import fleet_results
from bidstack.rules import load_variants
from bidstack.run_record import write_history_prices, write_variants
from bidstack.stages.administered import administer, history_gaps
from bidstack.stages.bidding import BASELINE, BiddingRound, bidding_round
from bidstack.stages.dispatch import DispatchResult, dispatch
from bidstack.stages.evaluation import evaluate, unit_availability
from bidstack.stages.metering import meter
from bidstack.stages.offers import PROBLEM_SCHEMA, load_offers
from bidstack.stages.settlement import (
    Statements,
    settle,
    settlement_prices,
    statements,
    to_cents,
)

#: Folder names a variant may not take.
RESERVED = {BASELINE, "allocation", "problems", "variants"}
#: The file that holds the run's parameters.
MARKER = "backtest.json"
#: What a backtest writes in its output folder besides a folder per scenario (see
#: :mod:`bidstack.outputs`: nothing else there is touched).
OUTPUT_NAMES = (
    "allocation",
    "problems",
    "variants",
    "summary.csv",
    "history_prices.parquet",
    "fleet_units.csv",
    "fleet_daily.parquet",
    "calibration.csv",
    "bid_stack.parquet",
    MARKER,
    "report.html",
)


@dataclass(frozen=True)
class BacktestResult:
    """``summary``: one row per scenario (see :meth:`_Totals.summary`); ``statements`` per
    scenario; ``problems``: rows reported per scenario and kind (the rows themselves are in
    ``out/problems``); ``fleet_daily``: the fleet's energy and net position per settlement date;
    ``calibration``: the baseline against history (:mod:`bidstack.calibration`)."""

    out: Path
    scenarios: tuple[str, ...]
    summary: pl.DataFrame
    statements: dict[str, Statements]
    problems: pl.DataFrame
    fleet_daily: pl.DataFrame
    seconds: float
    calibration: pl.DataFrame


def month_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """``(start, end]`` cut at the start of each calendar month.

    >>> month_windows(datetime(2024, 1, 20), datetime(2024, 3, 1))
    [(datetime.datetime(2024, 1, 20, 0, 0), datetime.datetime(2024, 2, 1, 0, 0)), \
(datetime.datetime(2024, 2, 1, 0, 0), datetime.datetime(2024, 3, 1, 0, 0))]
    """
    windows = []
    left = start
    while left < end:
        following = datetime(left.year + left.month // 12, left.month % 12 + 1, 1)
        windows.append((left, min(end, following)))
        left = min(end, following)
    return windows


def backtest(
    store: str | os.PathLike,
    fleet: Fleet,
    variants: Sequence[str | Path],
    start: datetime | str,
    end: datetime | str,
    out: str | os.PathLike,
    *,
    progress: bool | None = None,
) -> BacktestResult:
    """Run every stage for the baseline and each variant over ``(start, end]``; write to ``out``.

    ``progress``: show a progress bar on standard error (``None``: only on a terminal).
    """
    began = time.perf_counter()
    start, end = market_time(start), market_time(end)
    if not start < end:
        raise InputError(f"the backtest window ({start}, {end}] is empty")
    check_store(store, start, end)
    loaded = load_variants(variants) if variants else []  # each rule file read once per run
    names = [variant.name for variant in loaded]
    clash = sorted(set(names) & RESERVED)
    if clash:
        raise InputError(f"a rule variant may not be named {clash[0]!r}: it names an output")
    folder = prepare_output(out, "backtest", [BASELINE, *names, *OUTPUT_NAMES])
    out = folder.root
    run = {
        "store": str(store),
        "fleet": fleet.source,
        "variants": [str(v) for v in variants],
        "start": str(start),
        "end": str(end),
        "finished": False,
    }
    (out / MARKER).write_text(json.dumps(run, indent=2))
    totals = _Totals(set(fleet.units))
    initial_mw: dict[str, pl.DataFrame | None] = {}
    windows = month_windows(start, end)
    bar = tqdm(
        windows, desc="backtest", unit="month", disable=None if progress is None else not progress
    )
    for left, right in bar:
        bar.set_postfix_str(f"{left:%Y-%m}")
        _run_month(store, fleet, loaded, (left, right, end), out, totals, initial_mw)
    scenarios = tuple(totals.scenarios)
    settled = {}
    for scenario in scenarios:
        amounts = pl.scan_parquet(out / scenario / "amounts", hive_partitioning=True)
        settled[scenario] = statements(amounts.drop("month"))
        settled[scenario].write(out / scenario / "statements")
    write_variants(out, loaded)
    write_history_prices(out, store, start, end)
    fleet_figures = fleet_results(out, scenarios, fleet, start, end)
    summary = fleet_figures.with_margin(totals.summary())
    summary.write_csv(out / "summary.csv")
    daily = fleet_figures.with_daily_margin(totals.fleet_daily())
    daily.write_parquet(out / "fleet_daily.parquet")
    calibration = totals.calibration.table()
    calibration.write_csv(out / "calibration.csv")
    if totals.stack is not None:
        totals.stack.write_parquet(out / "bid_stack.parquet")
    run.update(scenarios=list(scenarios), finished=True, seconds=time.perf_counter() - began)
    (out / MARKER).write_text(json.dumps(run, indent=2))
    folder.finish()
    return BacktestResult(
        out,
        scenarios,
        summary,
        settled,
        totals.problem_counts(),
        daily,
        time.perf_counter() - began,
        calibration,
    )


def _run_month(
    store: str | os.PathLike,
    fleet: Fleet,
    variants: list,
    window: tuple[datetime, datetime, datetime],
    out: Path,
    totals: _Totals,
    initial_mw: dict[str, pl.DataFrame | None],
) -> None:
    """One month ``(left, right]`` of the run that ends at ``end``."""
    left, right, end = window
    month = f"{left:%Y-%m}"
    problems = []
    book = load_offers(store, left, right, fleet.market.loss_factors)
    problems.append(book.problems.with_columns(scenario=pl.lit("all")))
    offers = inputs.fleet_overrides(book.offers, fleet)
    history = inputs.dispatch_history(store, left, right)
    offers, found = inputs.with_dispatch_history(offers, history, fleet)
    problems.append(found.with_columns(scenario=pl.lit("all")))
    if offers.is_empty():
        detail = f"no energy offers with prices and registration in ({left}, {right}]"
        problems.append(_problem("no_offers", detail))
        totals.add_problems(
            _write(pl.concat(problems, how="diagonal_relaxed"), out / "problems", month)
        )
        return
    network, mode, flows = inputs.network(store, left, right, fleet)
    problems.append(inputs.flows_beyond_limits(flows).with_columns(scenario=pl.lit("all")))
    demand, found = inputs.demand(store, left, right, fleet, offers, mode)
    problems.append(found.with_columns(scenario=pl.lit("all")))
    bidding = bidding_round(
        offers,
        fleet,
        variants,
        frrp=inputs.frrp(store, left, right, fleet),
        interval_minutes=INTERVAL_MINUTES,
        constraint_status=inputs.constraint_status(store, left, right, fleet),
        semidispatchcap=inputs.semidispatchcap(store, left, right, fleet),
        demand_bids=inputs.demand_bids(fleet, left, right),
        lookahead=inputs.lookahead(store, right, end, fleet, offers),
    )
    problems.append(bidding.problems.with_columns(scenario=pl.lit("all")))
    if bidding.allocation is not None:
        totals.allocation.append(bidding.allocation.counts)
        _write(_allocation_output(bidding), out / "allocation", month)
        problems.append(_rejected_allocations(bidding))
    demand, orphans = inputs.with_demand_bids(demand, bidding.extra_demand)
    problems.append(
        _as_problems(
            orphans,
            "demand_bid_without_demand",
            "no regional demand row for the interval: the demand bid is not dispatched",
        ).with_columns(scenario=pl.lit("all"))
    )
    units, found = inputs.settlement_units(store, left, right, fleet, bidding.scenarios[BASELINE])
    problems.append(found.with_columns(scenario=pl.lit("all")))
    measured, found = inputs.measured(store, left, right, fleet)
    problems.append(found.with_columns(scenario=pl.lit(BASELINE)))
    if not initial_mw:
        initial_mw.update(dict.fromkeys(bidding.scenarios, inputs.initial_mw(store, left)))
    if fleet.market.administered_pricing:
        regions = demand.get_column("regionid").unique().to_list()
        thresholds, found = inputs.administered_thresholds(store, left, right, fleet, regions)
        problems.append(found.with_columns(scenario=pl.lit("all")))
        stored_prices = inputs.price_history(store, left)
    stack_interval = totals.stack_interval(demand, offers)
    for scenario, scenario_offers in bidding.scenarios.items():
        result = dispatch(
            scenario_offers,
            demand,
            network=network,
            initial_mw=_carried(initial_mw.get(scenario), left),
            interval_minutes=INTERVAL_MINUTES,
            ramp_priority=fleet.market.ramp_priority,
            engine=fleet.market.dispatch_engine,
        )
        if fleet.market.administered_pricing:
            earlier = _price_history(out / scenario / "dispatch_regions", stored_prices, left)
            regions, found = administer(result.regions, earlier, thresholds)
            result = replace(result, regions=regions)
            gaps = history_gaps(earlier, regions, left)
            problems += [f.with_columns(scenario=pl.lit(scenario)) for f in (found, gaps)]
        if scenario == BASELINE:
            totals.calibration.add(
                result.regions, inputs.history_prices(store, left, right), result.units, history
            )
        initial_mw[scenario] = _last_dispatch(result.units)
        energy, unmetered = meter(
            result.units,
            scenario_offers,
            INTERVAL_MINUTES,
            measured if scenario == BASELINE else None,
        )
        prices, unpriced = settlement_prices(
            result.regions.select("regionid", "interval_datetime", "price")
        )
        amounts, unsettled = settle(energy, units, prices)
        evaluation = evaluate(scenario_offers, demand)
        for name, frame in (
            ("dispatch_units", result.units),
            ("dispatch_regions", result.regions),
            ("dispatch_links", inputs.historical_links(flows) if mode == "historical"
                               else result.links),
            ("evaluation", evaluation),
            ("amounts", amounts),
        ):
            _write(frame, out / scenario / name, month)
        problems += [
            frame.with_columns(scenario=pl.lit(scenario))
            for frame in (
                result.problems,
                _as_problems(
                    unpriced,
                    "no_settlement_price",
                    "the half-hour has fewer than six dispatch prices",
                ),
                _as_problems(unsettled, "unsettled", None),
                unmetered,
            )
        ]
        totals.add(scenario, amounts, result, evaluation)
        if stack_interval is not None:
            totals.add_stack(scenario, scenario_offers, result, stack_interval)
    totals.add_problems(
        _write(pl.concat(problems, how="diagonal_relaxed"), out / "problems", month)
    )


def _price_history(folder: Path, stored: pl.DataFrame, left: datetime) -> pl.DataFrame:
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


def _write(frame: pl.DataFrame, folder: Path, month: str) -> pl.DataFrame:
    """Write one month's partition of a table (replacing an earlier run's)."""
    part = folder / f"month={month}"
    part.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(part / "part-0.parquet")
    return frame


def _allocation_output(bidding: BiddingRound) -> pl.DataFrame:
    """The fleet's allocation inputs, derived PT and PP, and results, without band volumes."""
    allocation = bidding.allocation
    frame = allocation.frame.select(
        c for c in allocation.frame.columns if not c.startswith("bandavail")
    )
    return (
        frame.hstack(allocation.derived.get_columns()) if allocation.derived is not None else frame
    )


def _rejected_allocations(bidding: BiddingRound) -> pl.DataFrame:
    """The fleet's unit-intervals the allocation kernel could not evaluate, with why."""
    rejected = bidding.allocation.rejected
    regions = bidding.allocation.frame.select(
        pl.int_range(pl.len(), dtype=pl.UInt64).alias("row"), "regionid"
    )
    return (
        rejected.join(regions, on="row", how="left")
        .select(
            pl.lit("invalid_input").alias("kind"),
            "regionid",
            "duid",
            "interval_datetime",
            pl.col("reason").alias("detail"),
        )
        .cast(PROBLEM_SCHEMA)
        .with_columns(scenario=pl.lit("all"))
    )


def _problem(kind: str, detail: str) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "kind": [kind],
            "regionid": [None],
            "duid": [None],
            "interval_datetime": [None],
            "detail": [detail],
        },
        schema=PROBLEM_SCHEMA,
    ).with_columns(scenario=pl.lit("all"))


def _as_problems(frame: pl.DataFrame, kind: str, detail: str | None) -> pl.DataFrame:
    return frame.select(
        pl.lit(kind).alias("kind"),
        pl.col("regionid") if "regionid" in frame.columns else pl.lit(None).alias("regionid"),
        pl.col("duid") if "duid" in frame.columns else pl.lit(None).alias("duid"),
        "interval_datetime",
        pl.lit(detail).alias("detail") if detail else pl.col("reason").alias("detail"),
    ).cast(PROBLEM_SCHEMA)


def _last_dispatch(units: pl.DataFrame) -> pl.DataFrame:
    """Each unit's last dispatch, and when: where its ramp limits start next month."""
    return (
        units.sort("interval_datetime")
        .unique("duid", keep="last")
        .select("duid", pl.col("dispatch_mw").alias("initial_mw"), "interval_datetime")
    )


def _carried(last: pl.DataFrame | None, left: datetime) -> pl.DataFrame | None:
    """The previous month's last dispatch of the units dispatched in its last interval (the one
    ending at ``left``); after a gap a unit starts without a ramp limit, as within a month."""
    if last is None or "interval_datetime" not in last.columns:
        return last
    return last.filter(pl.col("interval_datetime") == left).drop("interval_datetime")


@dataclass
class _Totals:
    """Running totals, small whatever the length of the run, for the summary and the report."""

    fleet_units: set[str]
    scenarios: dict[str, None] = field(default_factory=dict)
    months: list[pl.DataFrame] = field(default_factory=list)
    daily: list[pl.DataFrame] = field(default_factory=list)
    allocation: list[pl.DataFrame] = field(default_factory=list)
    problems: list[pl.DataFrame] = field(default_factory=list)
    calibration: Calibration = field(default_factory=Calibration)
    stack: pl.DataFrame | None = None
    stack_demand: float = float("-inf")

    def add(
        self, scenario: str, amounts: pl.DataFrame, result: DispatchResult, evaluation: pl.DataFrame
    ) -> None:
        self.scenarios[scenario] = None
        fleet = amounts.filter(pl.col("duid").is_in(list(self.fleet_units)))
        regions = result.regions
        hours = INTERVAL_MINUTES / 60.0
        self.months.append(
            pl.DataFrame(
                {
                    "scenario": [scenario],
                    "fleet_energy_mwh": [fleet.get_column("energy_mwh").sum()],
                    "fleet_net_microdollars": [fleet.get_column("amount_microdollars").sum()],
                    "demand_mwh": [regions.get_column("demand").sum() * hours],
                    "price_x_demand": [
                        (regions.get_column("price") * regions.get_column("demand")).sum()
                    ],
                    "max_price": [regions.get_column("price").max()],
                    "unserved_mwh": [regions.get_column("unserved_mw").sum() * hours],
                    "region_intervals": [regions.height],
                    "lor2_intervals": [evaluation.get_column("lor2").sum()],
                    "lor3_intervals": [evaluation.get_column("lor3").sum()],
                },
                schema_overrides={
                    "fleet_net_microdollars": pl.Int64,
                    "lor2_intervals": pl.Int64,
                    "lor3_intervals": pl.Int64,
                },
            )
        )
        self.daily.append(
            fleet.group_by("settlement_date")
            .agg(pl.col("energy_mwh").sum(), pl.col("amount_microdollars").sum())
            .with_columns(scenario=pl.lit(scenario))
        )

    def add_problems(self, problems: pl.DataFrame) -> None:
        self.problems.append(problems.group_by("scenario", "kind").len("rows"))

    def problem_counts(self) -> pl.DataFrame:
        if not self.problems:
            return pl.DataFrame(
                schema={"scenario": pl.String, "kind": pl.String, "rows": pl.UInt32}
            )
        return pl.concat(self.problems).group_by("scenario", "kind").sum().sort("scenario", "kind")

    def stack_interval(self, demand: pl.DataFrame, offers: pl.DataFrame) -> tuple | None:
        """The interval of highest demand in the region of the fleet's largest unit, if it beats
        the ones seen so far: its bid stack is drawn in the report."""
        fleet = offers.filter(pl.col("duid").is_in(list(self.fleet_units)))
        if fleet.is_empty():
            return None
        region = (
            fleet.group_by("regionid")
            .agg(pl.col("max_capacity").max())
            .sort("max_capacity")
            .get_column("regionid")[-1]
        )
        in_region = (pl.col("regionid") == region) & pl.col("demand").is_finite()
        peak = demand.filter(in_region).sort("demand").tail(1)
        if peak.is_empty() or peak.get_column("demand")[0] <= self.stack_demand:
            return None
        self.stack_demand = peak.get_column("demand")[0]
        self.stack = None
        return region, peak.get_column("interval_datetime")[0]

    def add_stack(
        self, scenario: str, offers: pl.DataFrame, result: DispatchResult, where: tuple
    ) -> None:
        region, interval = where
        chosen = (pl.col("regionid") == region) & (pl.col("interval_datetime") == interval)
        bids = offers.filter(chosen)
        available = unit_availability(bids)
        rows = bids.select(
            "duid",
            pl.col("duid").is_in(list(self.fleet_units)).alias("fleet"),
            pl.concat_list([pl.col(p) / pl.col("mlf").fill_null(1.0) for p in PRICE_BANDS]).alias(
                "price"
            ),
            pl.concat_list(BAND_VOLUMES).alias("mw"),
            available.alias("available"),
        ).explode("price", "mw")
        # what can be dispatched: the unit's bands, cheapest first, up to its availability
        offered = pl.col("mw").cum_sum().over("duid").clip(upper_bound=pl.col("available"))
        rows = (
            rows.with_columns(offered.alias("upto"))
            .with_columns(
                (pl.col("upto") - pl.col("upto").shift(1, fill_value=0.0).over("duid")).alias("mw")
            )
            .drop("upto", "available")
        )
        cleared = result.regions.filter(chosen).select("price", "demand")
        stack = rows.with_columns(
            scenario=pl.lit(scenario),
            regionid=pl.lit(region),
            interval_datetime=pl.lit(interval),
            clearing_price=pl.lit(
                cleared.get_column("price")[0] if cleared.height else None, dtype=pl.Float64
            ),
            demand=pl.lit(self.stack_demand, dtype=pl.Float64),
        )
        self.stack = stack if self.stack is None else pl.concat([self.stack, stack])

    def fleet_daily(self) -> pl.DataFrame:
        schema = {
            "scenario": pl.String,
            "settlement_date": pl.Date,
            "energy_mwh": pl.Float64,
            "net_cents": pl.Int64,
        }
        if not self.daily:
            return pl.DataFrame(schema=schema)
        frame = pl.concat(self.daily).group_by("scenario", "settlement_date").sum()
        frame = frame.with_columns(to_cents(pl.col("amount_microdollars")).alias("net_cents"))
        return frame.select(list(schema)).cast(schema).sort("scenario", "settlement_date")

    def summary(self) -> pl.DataFrame:
        """One row per scenario: the fleet's energy and net position; the demand-weighted mean
        regional price, its change from the baseline (``price_impact``, $/MWh) and the highest
        price; unserved energy and lack-of-reserve intervals; for variants, the fleet's
        allocation outcomes and within-limits rate."""
        if not self.months:
            return pl.DataFrame({"scenario": list(self.scenarios)})
        months = pl.concat(self.months)
        summary = months.group_by("scenario", maintain_order=True).agg(
            pl.col(
                "fleet_energy_mwh",
                "fleet_net_microdollars",
                "demand_mwh",
                "price_x_demand",
                "unserved_mwh",
                "region_intervals",
                "lor2_intervals",
                "lor3_intervals",
            ).sum(),
            pl.col("max_price").max(),
        )
        # the fleet's net position as a statement shows it: the sum of its daily figures
        days = self.fleet_daily().group_by("scenario").agg(pl.col("net_cents").sum())
        summary = (
            summary.join(days, on="scenario", how="left")
            .with_columns(pl.col("net_cents").fill_null(0).alias("fleet_net_microdollars"))
            .drop("net_cents")
            .rename({"fleet_net_microdollars": "fleet_net_cents"})
        )
        mean = pl.col("price_x_demand") * INTERVAL_MINUTES / 60.0 / pl.col("demand_mwh")
        summary = summary.with_columns(mean.alias("mean_price")).drop("price_x_demand")
        base = summary.filter(pl.col("scenario") == BASELINE).get_column("mean_price")
        summary = summary.with_columns(
            (pl.col("mean_price") - base[0]).alias("price_impact")
            if base.len()
            else pl.lit(None, pl.Float64).alias("price_impact")
        )
        if self.allocation:
            counts = (
                pl.concat(self.allocation)
                .group_by("variant", maintain_order=True)
                .sum()
                .rename({"variant": "scenario"})
            )
            summary = summary.join(counts, on="scenario", how="left").with_columns(
                pl.when(pl.col("allocated") > 0)
                .then(pl.col("within_limits") / pl.col("allocated"))
                .alias("within_limits_rate")
            )
        return summary
