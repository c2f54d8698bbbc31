"""The backtest: every stage of the market process, for the historical baseline and each variant.

Month by month, so that memory does not grow with the years, it reads the store and runs

1. offers (:mod:`bidstack.stages.offers`): historical bids joined to registration;
2. the bidding round (:mod:`bidstack.stages.bidding`): the fleet re-bids under each variant;
3. grid evaluation (:mod:`bidstack.stages.evaluation`): demand, reserve margin, LOR flags;
4. dispatch (:mod:`bidstack.stages.dispatch`) of every scenario, ramp limits carried across
   months from each unit's last dispatch;
5. metering (:mod:`bidstack.stages.metering`): SCADA or NEM12 for the baseline where present,
   else dispatch × interval;
6. settlement (:mod:`bidstack.stages.settlement`): amounts in integer cents, then statements.

The output folder gets, per scenario (``baseline`` and each variant), hive-partitioned Parquet
(``month=YYYY-MM``) of ``dispatch_units``, ``dispatch_regions``, ``evaluation`` and ``amounts``,
and its ``statements``; the fleet's ``allocation``; every reported ``problems`` row; and small
files for the report: ``summary.csv``, ``fleet_daily.parquet`` and ``bid_stack.parquet``.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl
from tqdm import tqdm

from bidstack.errors import InputError
from bidstack.fleet import Fleet
from bidstack.io import effective_on, market_time, read, read_local_price, trading_day
from bidstack.stages.bidding import BASELINE, DEMAND_BID_PREFIX, BiddingRound, bidding_round
from bidstack.stages.dispatch import DispatchResult, dispatch
from bidstack.stages.evaluation import evaluate, unit_availability
from bidstack.stages.metering import meter, nem12_energy, scada_energy
from bidstack.stages.offers import BAND_VOLUMES, PRICE_BANDS, PROBLEM_SCHEMA, load_offers
from bidstack.stages.settlement import Statements, settle, settlement_prices, statements

DEFAULT_PRICE_CAP = 15000.0
DEFAULT_PRICE_FLOOR = -1000.0
#: The file that marks a folder as a backtest's output (it holds the run's parameters).
MARKER = "backtest.json"
#: Dispatch intervals in the store (DISPATCHREGIONSUM, DISPATCHPRICE) are 5 minutes long.
INTERVAL_MINUTES = 5.0


@dataclass(frozen=True)
class BacktestResult:
    """``summary``: one row per scenario (see :meth:`_Totals.summary`); ``statements`` per
    scenario; ``problems``: rows reported per scenario and kind (the rows themselves are in
    ``out/problems``); ``fleet_daily``: the fleet's energy and net position per trading day."""

    out: Path
    scenarios: tuple[str, ...]
    summary: pl.DataFrame
    statements: dict[str, Statements]
    problems: pl.DataFrame
    fleet_daily: pl.DataFrame
    seconds: float


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
    out = _prepare_output(Path(out))
    totals = _Totals(set(fleet.units))
    initial_mw: dict[str, pl.DataFrame | None] = {}
    windows = month_windows(start, end)
    bar = tqdm(
        windows, desc="backtest", unit="month", disable=None if progress is None else not progress
    )
    for left, right in bar:
        bar.set_postfix_str(f"{left:%Y-%m}")
        _run_month(store, fleet, list(variants), left, right, out, totals, initial_mw)
    scenarios = tuple(totals.scenarios)
    settled = {}
    for scenario in scenarios:
        amounts = pl.scan_parquet(out / scenario / "amounts", hive_partitioning=True)
        settled[scenario] = statements(amounts.drop("month"))
        settled[scenario].write(out / scenario / "statements")
    summary = totals.summary()
    summary.write_csv(out / "summary.csv")
    daily = totals.fleet_daily()
    daily.write_parquet(out / "fleet_daily.parquet")
    if totals.stack is not None:
        totals.stack.write_parquet(out / "bid_stack.parquet")
    run = {
        "store": str(store),
        "fleet": fleet.source,
        "variants": [str(v) for v in variants],
        "start": str(start),
        "end": str(end),
        "scenarios": list(scenarios),
    }
    (out / MARKER).write_text(json.dumps(run, indent=2))
    return BacktestResult(
        out,
        scenarios,
        summary,
        settled,
        totals.problem_counts(),
        daily,
        time.perf_counter() - began,
    )


def _prepare_output(out: Path) -> Path:
    """An empty output folder: a previous backtest's output there is replaced, anything else
    is left alone and refused."""
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).exists():
            raise InputError(f"{out}: the output folder is not empty and holds no backtest")
        for entry in out.iterdir():
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out


def _run_month(
    store: str | os.PathLike,
    fleet: Fleet,
    variants: list,
    left: datetime,
    right: datetime,
    out: Path,
    totals: _Totals,
    initial_mw: dict[str, pl.DataFrame | None],
) -> None:
    month = f"{left:%Y-%m}"
    problems = []
    book = load_offers(store, left, right)
    problems.append(book.problems.with_columns(scenario=pl.lit("all")))
    offers = _fleet_overrides(book.offers, fleet)
    if offers.is_empty():
        detail = f"no energy offers with prices and registration in ({left}, {right}]"
        problems.append(_problem("no_offers", detail))
        totals.add_problems(
            _write(pl.concat(problems, how="diagonal_relaxed"), out / "problems", month)
        )
        return
    demand = _demand(store, left, right, fleet, offers)
    bidding = bidding_round(
        offers,
        fleet,
        variants,
        frrp=_frrp(store, left, right, fleet),
        interval_minutes=INTERVAL_MINUTES,
        constraint_status=_constraint_status(store, left, right, fleet),
        semidispatchcap=_semidispatchcap(store, left, right, fleet),
        demand_bids=_demand_bids(fleet, left, right),
    )
    problems.append(bidding.problems.with_columns(scenario=pl.lit("all")))
    if bidding.allocation is not None:
        totals.allocation.append(bidding.allocation.counts)
        _write(_allocation_output(bidding), out / "allocation", month)
    demand = _with_demand_bids(demand, bidding.extra_demand)
    units = _settlement_units(book.units, fleet, bidding.scenarios[BASELINE])
    measured = _measured(store, left, right, fleet)
    if not initial_mw:
        initial_mw.update(dict.fromkeys(bidding.scenarios, _initial_mw(store, left)))
    stack_interval = totals.stack_interval(demand, offers)
    for scenario, scenario_offers in bidding.scenarios.items():
        result = dispatch(scenario_offers, demand, initial_mw=initial_mw.get(scenario))
        initial_mw[scenario] = _last_dispatch(result.units)
        energy = meter(
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
            )
        ]
        totals.add(scenario, amounts, result, evaluation)
        if stack_interval is not None:
            totals.add_stack(scenario, scenario_offers, result, stack_interval)
    totals.add_problems(
        _write(pl.concat(problems, how="diagonal_relaxed"), out / "problems", month)
    )


def _write(frame: pl.DataFrame, folder: Path, month: str) -> pl.DataFrame:
    """Write one month's partition of a table (replacing an earlier run's)."""
    part = folder / f"month={month}"
    part.mkdir(parents=True, exist_ok=True)
    frame.write_parquet(part / "part-0.parquet")
    return frame


def _allocation_output(bidding: BiddingRound) -> pl.DataFrame:
    """The fleet's allocation inputs and results, without the 80-byte band volumes."""
    frame = bidding.allocation.frame
    return frame.select(c for c in frame.columns if not c.startswith("bandavail"))


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


def _fleet_overrides(offers: pl.DataFrame, fleet: Fleet) -> pl.DataFrame:
    """A fleet entry's ``region`` and ``participant`` replace the registered ones."""
    region = {d: u.region for d, u in fleet.units.items() if u.region}
    participant = {d: u.participant for d, u in fleet.units.items() if u.participant}
    return offers.with_columns(
        pl.col("duid").replace_strict(region, default=pl.col("regionid")).alias("regionid"),
        pl.col("duid")
        .replace_strict(participant, default=pl.col("participantid"))
        .alias("participantid"),
    )


def _demand(
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
    return _with_price_limits(store, demand)


def _with_price_limits(store: str | os.PathLike, demand: pl.DataFrame) -> pl.DataFrame:
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


def _with_demand_bids(demand: pl.DataFrame, extra: pl.DataFrame) -> pl.DataFrame:
    if extra.is_empty():
        return demand
    return (
        demand.join(extra, on=["regionid", "interval_datetime"], how="left")
        .with_columns(pl.col("demand") + pl.col("demand_bid_mw").fill_null(0.0))
        .drop("demand_bid_mw")
    )


def _frrp(store: str | os.PathLike, left: datetime, right: datetime, fleet: Fleet) -> pl.DataFrame:
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


def _constraint_status(
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


def _semidispatchcap(
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


def _demand_bids(fleet: Fleet, left: datetime, right: datetime) -> pl.DataFrame | None:
    if fleet.demand_bids is None:
        return None
    try:
        bids = pl.read_parquet(fleet.demand_bids)
    except (OSError, pl.exceptions.ComputeError) as exc:
        raise InputError(f"{fleet.demand_bids}: cannot read the demand bids: {exc}") from exc
    if "interval_datetime" not in bids.columns:
        raise InputError(f"{fleet.demand_bids}: missing column interval_datetime")
    return bids.filter(pl.col("interval_datetime").is_between(left, right, closed="right"))


def _settlement_units(units: pl.DataFrame, fleet: Fleet, offers: pl.DataFrame) -> pl.DataFrame:
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


def _measured(store: str | os.PathLike, left: datetime, right: datetime, fleet: Fleet):
    """SCADA for every unit, and NEM12 for fleet units with an NMI (NEM12 first)."""
    scada = scada_energy(
        read(store, "DISPATCH_UNIT_SCADA", left, right).collect(), INTERVAL_MINUTES
    )
    nmis = {d: u.nmi for d, u in fleet.units.items() if u.nmi}
    if not nmis:
        return scada
    reads = read(store, "nem12_interval", left, right).collect()
    return pl.concat([nem12_energy(reads, nmis, INTERVAL_MINUTES), scada], how="vertical_relaxed")


def _initial_mw(store: str | os.PathLike, left: datetime) -> pl.DataFrame | None:
    """Each unit's output as the run starts: DISPATCHLOAD.INITIALMW of the first interval."""
    first = read(store, "DISPATCHLOAD", left, left + timedelta(minutes=INTERVAL_MINUTES))
    first = first.collect()
    if first.is_empty():
        return None
    return first.select("duid", pl.col("initialmw").alias("initial_mw")).drop_nulls()


def _last_dispatch(units: pl.DataFrame) -> pl.DataFrame:
    return (
        units.sort("interval_datetime")
        .unique("duid", keep="last")
        .select("duid", pl.col("dispatch_mw").alias("initial_mw"))
    )


@dataclass
class _Totals:
    """Running totals, small whatever the length of the run, for the summary and the report."""

    fleet_units: set[str]
    scenarios: dict[str, None] = field(default_factory=dict)
    months: list[pl.DataFrame] = field(default_factory=list)
    daily: list[pl.DataFrame] = field(default_factory=list)
    allocation: list[pl.DataFrame] = field(default_factory=list)
    problems: list[pl.DataFrame] = field(default_factory=list)
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
                    "fleet_net_cents": [fleet.get_column("amount_cents").sum()],
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
                    "fleet_net_cents": pl.Int64,
                    "lor2_intervals": pl.Int64,
                    "lor3_intervals": pl.Int64,
                },
            )
        )
        self.daily.append(
            fleet.group_by(trading_day(pl.col("interval_datetime")).alias("trading_day"))
            .agg(pl.col("energy_mwh").sum(), pl.col("amount_cents").sum().alias("net_cents"))
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
        """The region-interval of highest demand in the fleet's largest region, if it beats
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
        peak = demand.filter(pl.col("regionid") == region).sort("demand").tail(1)
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
            clearing_price=pl.lit(cleared.get_column("price")[0] if cleared.height else None),
            demand=pl.lit(self.stack_demand),
        )
        self.stack = stack if self.stack is None else pl.concat([self.stack, stack])

    def fleet_daily(self) -> pl.DataFrame:
        schema = {
            "scenario": pl.String,
            "trading_day": pl.Date,
            "energy_mwh": pl.Float64,
            "net_cents": pl.Int64,
        }
        if not self.daily:
            return pl.DataFrame(schema=schema)
        frame = pl.concat(self.daily).group_by("scenario", "trading_day").sum()
        return frame.select(list(schema)).cast(schema).sort("scenario", "trading_day")

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
                "fleet_net_cents",
                "demand_mwh",
                "price_x_demand",
                "unserved_mwh",
                "region_intervals",
                "lor2_intervals",
                "lor3_intervals",
            ).sum(),
            pl.col("max_price").max(),
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
                (pl.col("within_limits") / pl.col("allocated")).alias("within_limits_rate")
            )
        return summary
