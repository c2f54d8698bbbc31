"""The backtest: every stage of the market process, for the historical baseline and each variant.

Month by month (or, with ``window_days``, in windows of days within each month, to hold less at
once), so that memory does not grow with the years: the store is opened once
(:class:`~bidstack.market_data.MarketData`), each window's frames are read once
(:meth:`~bidstack.market_data.MarketData.window`) and :func:`bidstack.month.run_month` runs

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
(``month=YYYY-MM``, a file per window) of ``dispatch_units``, ``dispatch_regions``,
``evaluation`` and ``amounts`` (with the month's ``statement_intervals`` and ``fleet_rows``, from
which the statements and ``fleet_intervals`` are made after the last month), and its
``statements``; the fleet's ``allocation``; every reported ``problems`` row; and small files for
the report: ``summary.csv``, ``fleet_daily.parquet`` and ``bid_stack.parquet``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import polars as pl

from bidstack.config import BASELINE, RESERVED, RunConfig, month_windows
from bidstack.errors import InputError
from bidstack.fleet import Fleet
from bidstack.fleet_files import check_fleet_files
from bidstack.io import Store, market_time
from bidstack.outputs import prepare_output
from bidstack.preflight import check_store
from bidstack.results import fleet_results
from bidstack.run_record import write_history_prices, write_variants
from bidstack.scaleout.attempts import ATTEMPTS
from bidstack.scaleout.driver import Fold
from bidstack.stages.statements import STATEMENT_INTERVALS, Statements, statements
from bidstack.summary import RunSummary

__all__ = ["BASELINE", "MARKER", "RESERVED", "BacktestResult", "backtest", "month_windows"]

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
    ATTEMPTS,
)


@dataclass(frozen=True)
class BacktestResult:
    """``summary``: one row per scenario (see :meth:`bidstack.summary.RunSummary.summary`);
    ``statements`` per scenario; ``problems``: rows reported per scenario and kind (the rows
    themselves are in ``out/problems``); ``fleet_daily``: the fleet's energy and net position
    per settlement date; ``calibration``: the baseline against history
    (:mod:`bidstack.calibration`)."""

    out: Path
    scenarios: tuple[str, ...]
    summary: pl.DataFrame
    statements: dict[str, Statements]
    problems: pl.DataFrame
    fleet_daily: pl.DataFrame
    seconds: float
    calibration: pl.DataFrame


def backtest(
    store: str | os.PathLike,
    fleet: Fleet,
    variants: Sequence[str | Path],
    start: datetime | str,
    end: datetime | str,
    out: str | os.PathLike,
    *,
    progress: bool | None = None,
    executor: Executor | None = None,
    warmup: timedelta = timedelta(days=1),
    variant_groups: int = 1,
    compression: str = "zstd",
    window_days: int | None = None,
) -> BacktestResult:
    """Run every stage for the baseline and each variant over ``(start, end]``; write to ``out``.

    ``progress``: show a progress bar on standard error (``None``: only on a terminal).
    ``executor``: run the months as tasks there (:mod:`bidstack.scaleout`), each month after the
    first starting ``warmup`` early and verified against the month before; None: one after
    another in this process. ``variant_groups``: run each month as this many tasks, the variants
    split among them (the baseline in the first), merged before they are committed. The output
    is the same either way. ``compression``: the codec of every Parquet file
    (:data:`~bidstack.config.COMPRESSIONS`; zstd makes the smallest files, lz4 the fastest run).
    ``window_days``: run each month in windows of that many days (the last of a month shorter),
    which holds less in memory at once (None: a window a month): the same dispatch, prices,
    amounts and statements; rows within a month come window by window, and the summary's float
    sums may differ in their last digits (README, "Windows shorter than a month").
    """
    began = time.perf_counter()
    start, end = market_time(start), market_time(end)
    if not start < end:
        raise InputError(f"the backtest window ({start}, {end}] is empty")
    check_store(store, start, end)
    check_fleet_files(fleet)
    # each rule file read once per run
    config = RunConfig.resolve(fleet, variants, compression, window_days)
    groups = tuple(config.groups(variant_groups))
    folder = prepare_output(out, "backtest", [BASELINE, *config.names, *OUTPUT_NAMES])
    out = folder.root
    run = {
        "store": str(store),
        "fleet": fleet.source,
        "variants": [str(v) for v in variants],
        "start": str(start),
        "end": str(end),
        "compression": compression,
        "window_days": window_days,
        "finished": False,
    }
    (out / MARKER).write_text(json.dumps(run, indent=2))
    books = RunSummary()
    opened = Store.open(store)
    # absolute paths: a cluster's workers start elsewhere
    fold = Fold(os.path.abspath(opened), config, config.windows(start, end), end, out.absolute(),
                executor=executor, warmup=warmup, progress=progress,
                groups=groups)  # fmt: skip
    for month in fold.months():
        books.add(month)
    scenarios = tuple(books.scenarios)
    settled = {scenario: _statements(out / scenario, compression) for scenario in scenarios}
    write_variants(out, config.variants)
    write_history_prices(out, opened, start, end, compression)
    fleet_figures = fleet_results(out, scenarios, fleet, start, end, compression)
    summary = fleet_figures.with_margin(books.summary(config.interval_minutes))
    summary.write_csv(out / "summary.csv")
    daily = fleet_figures.with_daily_margin(books.fleet_daily())
    daily.write_parquet(out / "fleet_daily.parquet", compression=compression)
    calibration = books.calibration.table()
    calibration.write_csv(out / "calibration.csv")
    if books.stack is not None:
        books.stack.write_parquet(out / "bid_stack.parquet", compression=compression)
    run.update(scenarios=list(scenarios), finished=True, seconds=time.perf_counter() - began,
               execution=fold.execution)  # fmt: skip
    (out / MARKER).write_text(json.dumps(run, indent=2))
    folder.finish()
    return BacktestResult(
        out,
        scenarios,
        summary,
        settled,
        books.problem_counts(),
        daily,
        time.perf_counter() - began,
        calibration,
    )


def _statements(folder: Path, compression: str) -> Statements:
    """A scenario's statements from the interval sums of its ``amounts`` that each month wrote,
    reconciled with the amounts, written beside (Parquet in ``compression``)."""
    sums = folder / STATEMENT_INTERVALS
    intervals = pl.concat(pl.read_parquet(part) for part in sorted(sums.glob("month=*/*")))
    lazy = pl.scan_parquet(folder / "amounts", hive_partitioning=True).drop("month")
    settled = statements(lazy, intervals)
    settled.write(folder / "statements", compression)
    return settled
