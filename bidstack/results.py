"""The fleet's results per unit: running cost and margin, read back from a backtest's outputs.

A unit's *running cost* in an interval is its energy sent out × its SRMC (the fleet file's
``srmc``; energy drawn costs nothing here), plus its ``start_cost`` in an interval where it
starts (dispatched above zero after an interval at zero; a unit's first interval is not a start).
Its *margin* is its net position (the settled amount) less its running cost. Money is carried as
settlement carries it: each unit-interval's cost in integer micro-dollars, rounded once, half away
from zero; every sum after that is exact.

Cents follow the statements' rule: the fleet's figure for a settlement date is that day's exact
sum rounded half away from zero, and its figure for the run is the sum of its days. Each unit's
cents for a day are its exact micro-dollars apportioned to the fleet's figure for that day by
largest remainder (ties to the lower DUID), so the units of a scenario add up to the fleet's
figure to the cent, day by day and over the run: ``fleet_units.csv`` reconciles with
``summary.csv`` and ``fleet_daily.parquet`` exactly.

Each month writes its fleet's settled rows (:func:`fleet_rows`, ``<scenario>/fleet_rows/``)
beside its amounts; after the last month :func:`fleet_results` reads only those, rather than
scanning every unit's amounts and dispatch again.

Written: ``<scenario>/fleet_intervals/`` (hive-partitioned by month: ``duid, interval_datetime,
settlement_date, energy_mwh, start, revenue_microdollars, cost_microdollars,
margin_microdollars``) and ``fleet_units.csv`` (one row per scenario and unit, see
:data:`UNIT_COLUMNS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import polars as pl

from bidstack.config import MONTH_FILE
from bidstack.fleet import Fleet
from bidstack.joins import join_unique
from bidstack.kernel.codes import Outcome
from bidstack.sorting import sorted_rows
from bidstack.stages.bidding import BASELINE
from bidstack.stages.settlement import MICRODOLLARS_PER_CENT
from bidstack.stages.statements import to_cents

#: MW above which a unit counts as running (a start is a rise from at most this).
RUNNING_MW = 1e-6
#: The table each month writes per scenario: the fleet's rows of ``amounts`` with ``dispatch_mw``.
FLEET_ROWS = "fleet_rows"
#: ``fleet_units.csv``: the columns, in order.
UNIT_COLUMNS = (
    "scenario",
    "duid",
    "regionid",
    "energy_mwh",
    "capacity_factor",
    "starts",
    "revenue_cents",
    "cost_cents",
    "margin_cents",
    "margin_change_cents",
    "allocated",
    "not_applicable",
    "no_band",
    "invalid_input",
    "within_limits_rate",
)


@dataclass(frozen=True)
class FleetResults:
    """``units``: :data:`UNIT_COLUMNS`; ``daily``: per scenario and settlement date the fleet's
    ``revenue_cents, cost_cents, margin_cents``; ``totals``: the same per scenario."""

    units: pl.DataFrame
    daily: pl.DataFrame
    totals: pl.DataFrame

    def with_margin(self, summary: pl.DataFrame) -> pl.DataFrame:
        """``summary`` with the fleet's ``fleet_cost_cents``, ``fleet_margin_cents`` and
        ``margin_change_cents`` (from the baseline) after ``fleet_net_cents``."""
        totals = self.totals.select(
            "scenario",
            pl.col("cost_cents").alias("fleet_cost_cents"),
            pl.col("margin_cents").alias("fleet_margin_cents"),
        )
        joined = summary.join(totals, on="scenario", how="left", maintain_order="left")
        base = joined.filter(pl.col("scenario") == BASELINE)["fleet_margin_cents"]
        change = pl.col("fleet_margin_cents") - (base[0] if base.len() else None)
        joined = joined.with_columns(change.alias("margin_change_cents"))
        order = list(summary.columns)
        at = order.index("fleet_net_cents") + 1 if "fleet_net_cents" in order else len(order)
        extra = ["fleet_cost_cents", "fleet_margin_cents", "margin_change_cents"]
        return joined.select(order[:at] + extra + order[at:])

    def with_daily_margin(self, daily: pl.DataFrame) -> pl.DataFrame:
        """``fleet_daily`` with the fleet's ``cost_cents`` and ``margin_cents`` per day."""
        days = self.daily.select("scenario", "settlement_date", "cost_cents", "margin_cents")
        return daily.join(days, on=["scenario", "settlement_date"], how="left").sort(
            "scenario", "settlement_date"
        )


def fleet_rows(amounts: pl.DataFrame, units: pl.DataFrame, duids: list[str]) -> pl.DataFrame:
    """A month's :data:`FLEET_ROWS` of one scenario: the fleet's (``duids``) rows of its
    ``amounts`` (``duid, interval_datetime, settlement_date, energy_mwh``, the amount as
    ``revenue_microdollars``) with the unit's ``dispatch_mw`` from its ``dispatch_units``
    (``units``; null where it has none)."""
    fleet = pl.col("duid").is_in(duids)
    settled = amounts.filter(fleet).select(
        "duid",
        "interval_datetime",
        "settlement_date",
        "energy_mwh",
        pl.col("amount_microdollars").alias("revenue_microdollars"),
    )
    dispatched = units.filter(fleet).select("duid", "interval_datetime", "dispatch_mw")
    return join_unique(settled, dispatched, ["duid", "interval_datetime"])


def fleet_results(
    out: Path,
    scenarios: tuple[str, ...],
    fleet: Fleet,
    start: datetime,
    end: datetime,
    compression: str = "zstd",
) -> FleetResults:
    """Read the fleet's rows that each month wrote (:data:`FLEET_ROWS`) and the run's
    ``allocation``, write ``fleet_intervals`` (its months compressed with ``compression``) and
    ``fleet_units.csv``, and return the figures."""
    duids = sorted(fleet.units)
    constants = _unit_constants(out, fleet, duids)
    hours = (end - start).total_seconds() / 3600.0
    units, daily = [], []
    for scenario in scenarios:
        intervals = _intervals(out / scenario, constants)
        _write_months(intervals, out / scenario / "fleet_intervals", compression)
        unit_days = _apportioned_days(intervals)
        daily.append(
            unit_days.group_by("settlement_date")
            .agg(pl.col("revenue_cents", "cost_cents", "margin_cents").sum())
            .with_columns(scenario=pl.lit(scenario))
        )
        units.append(_unit_rows(scenario, intervals, unit_days, constants, hours, out))
    unit_frame = _with_changes(pl.concat(units, how="diagonal_relaxed"))
    unit_frame.write_csv(out / "fleet_units.csv")
    daily_frame = pl.concat(daily).sort("scenario", "settlement_date")
    totals = daily_frame.group_by("scenario", maintain_order=True).agg(
        pl.col("revenue_cents", "cost_cents", "margin_cents").sum()
    )
    return FleetResults(unit_frame, daily_frame.select("scenario", pl.exclude("scenario")), totals)


def _unit_constants(out: Path, fleet: Fleet, duids: list[str]) -> pl.DataFrame:
    """Per fleet unit: ``srmc``, ``start_cost``, ``regionid`` and ``capacity_mw`` (the fleet's
    ``max_capacity``, else the registration's, as the allocation saw it)."""
    given = pl.DataFrame(
        {
            "duid": duids,
            "srmc": [fleet.units[d].srmc for d in duids],
            "start_cost": [fleet.units[d].start_cost for d in duids],
            "fleet_capacity": [fleet.units[d].max_capacity for d in duids],
        },
        schema={
            "duid": pl.String,
            "srmc": pl.Float64,
            "start_cost": pl.Float64,
            "fleet_capacity": pl.Float64,
        },
    )
    allocation = out / "allocation"
    if allocation.exists():
        seen = (
            pl.scan_parquet(allocation / "**" / "*.parquet", hive_partitioning=True)
            .group_by("duid")
            .agg(pl.col("regionid").last(), pl.col("max_capacity").max())
            .collect()
        )
    else:
        seen = pl.DataFrame(
            schema={"duid": pl.String, "regionid": pl.String, "max_capacity": pl.Float64}
        )
    return given.join(seen, on="duid", how="left").select(
        "duid",
        "srmc",
        "start_cost",
        "regionid",
        pl.coalesce("fleet_capacity", "max_capacity").alias("capacity_mw"),
    )


def _intervals(folder: Path, constants: pl.DataFrame) -> pl.DataFrame:
    """The fleet's unit-intervals of one scenario with revenue, cost and margin."""
    rows = sorted_rows(
        _scan(folder / FLEET_ROWS)
        .drop("month")
        .join(
            constants.lazy().select("duid", "srmc", "start_cost"),
            on="duid",
            how="left",
            maintain_order="left",
        )
        .collect(),
        "duid",
        "interval_datetime",
    )
    running = pl.col("dispatch_mw").fill_null(0.0) > RUNNING_MW
    start = running & running.shift(1).over("duid").not_()  # null at a unit's first row
    energy_cost = pl.col("energy_mwh").clip(lower_bound=0.0) * pl.col("srmc") * 1e6
    cost = energy_cost + pl.when(pl.col("start")).then(pl.col("start_cost") * 1e6).otherwise(0.0)
    return (
        rows.with_columns(start.fill_null(False).alias("start"))
        .with_columns((cost.sign() * (cost.abs() + 0.5).floor()).cast(pl.Int64).alias("cost"))
        .select(
            "duid",
            "interval_datetime",
            "settlement_date",
            "energy_mwh",
            "start",
            "revenue_microdollars",
            pl.col("cost").alias("cost_microdollars"),
            (pl.col("revenue_microdollars") - pl.col("cost")).alias("margin_microdollars"),
        )
    )


def _apportioned_days(intervals: pl.DataFrame) -> pl.DataFrame:
    """Per unit and settlement date: ``revenue_cents`` and ``cost_cents`` apportioned to the
    fleet's rounded daily figures by largest remainder; ``margin_cents`` their difference."""
    exact = (
        intervals.group_by("duid", "settlement_date")
        .agg(pl.col("revenue_microdollars", "cost_microdollars").sum())
        .sort("settlement_date", "duid")
    )
    return exact.with_columns(
        _apportion("revenue_microdollars").alias("revenue_cents"),
        _apportion("cost_microdollars").alias("cost_cents"),
    ).with_columns((pl.col("revenue_cents") - pl.col("cost_cents")).alias("margin_cents"))


def _apportion(column: str) -> pl.Expr:
    """Each row's cents: the floor of its micro-dollars, plus one for the rows of largest
    remainder (ties: the lower DUID) until its settlement date adds up to the day's exact sum
    rounded half away from zero. Rows sorted by ``settlement_date, duid``."""
    micro = pl.col(column)
    floor = micro.floordiv(MICRODOLLARS_PER_CENT)
    remainder = micro - floor * MICRODOLLARS_PER_CENT
    day = "settlement_date"
    deficit = to_cents(micro.sum().over(day)) - floor.sum().over(day)
    rank = remainder.rank("ordinal", descending=True).over(day)
    return floor + (rank <= deficit).cast(pl.Int64)


def _unit_rows(scenario, intervals, unit_days, constants, hours, out) -> pl.DataFrame:
    energy = _energy_sums(intervals)
    money = unit_days.group_by("duid").agg(
        pl.col("revenue_cents", "cost_cents", "margin_cents").sum()
    )
    starts = intervals.group_by("duid").agg(pl.col("start").sum().alias("starts"))
    rows = (
        constants.select("duid", "regionid", "capacity_mw")
        .join(energy, on="duid", how="left")
        .join(starts, on="duid", how="left")
        .join(money, on="duid", how="left")
        .with_columns(
            pl.lit(scenario).alias("scenario"),
            (pl.col("energy_mwh") / (pl.col("capacity_mw") * hours)).alias("capacity_factor"),
        )
    )
    if scenario != BASELINE:
        rows = rows.join(_outcomes(out, scenario), on="duid", how="left")
    return rows.sort("duid")


def _energy_sums(intervals: pl.DataFrame) -> pl.DataFrame:
    """Each unit's energy, added in interval order (a float sum in a fixed order: the same
    bits on every run and thread count)."""
    if intervals.is_empty():
        return pl.DataFrame(schema={"duid": pl.String, "energy_mwh": pl.Float64})
    duid = pl.col("duid")
    starts = intervals.select(pl.arg_where(duid.ne_missing(duid.shift(1)))).to_series()
    totals = np.add.reduceat(intervals["energy_mwh"].fill_null(0.0).to_numpy(), starts.to_numpy())
    return pl.DataFrame({"duid": intervals["duid"].gather(starts), "energy_mwh": totals})


def _outcomes(out: Path, scenario: str) -> pl.DataFrame:
    """Per unit: the variant's allocation outcomes and its within-limits rate (columns
    ``outcome_<variant>``, or ``outcome`` when the run had one variant)."""
    if not any((out / "allocation").glob("**/*.parquet")):  # no fleet unit offered in the run
        counts = {name: pl.UInt32 for name in Outcome._fields}
        return pl.DataFrame(schema={"duid": pl.String, **counts, "within_limits_rate": pl.Float64})
    allocation = _scan(out / "allocation")
    suffix = f"_{scenario}" if f"outcome_{scenario}" in allocation.collect_schema() else ""
    outcome, within = pl.col(f"outcome{suffix}"), pl.col(f"within_limits{suffix}")
    counts = [(outcome == name).sum().alias(name) for name in Outcome._fields]
    allocated = outcome == "allocated"
    return (
        allocation.group_by("duid")
        .agg(
            *counts,
            (within.fill_null(False) & allocated).sum().alias("_within"),
        )
        .with_columns(
            pl.when(pl.col("allocated") > 0)
            .then(pl.col("_within") / pl.col("allocated"))
            .alias("within_limits_rate")
        )
        .drop("_within")
        .collect()
    )


def _with_changes(units: pl.DataFrame) -> pl.DataFrame:
    base = units.filter(pl.col("scenario") == BASELINE).select(
        "duid", pl.col("margin_cents").alias("_base")
    )
    frame = units.join(base, on="duid", how="left").with_columns(
        (pl.col("margin_cents") - pl.col("_base")).alias("margin_change_cents")
    )
    for column in UNIT_COLUMNS:
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.Int64).alias(column))
    return frame.select(UNIT_COLUMNS)


def _scan(table: Path) -> pl.LazyFrame:
    return pl.scan_parquet(table / "**" / "*.parquet", hive_partitioning=True)


def _write_months(frame: pl.DataFrame, folder: Path, compression: str) -> None:
    """``frame``'s rows by the calendar month of their interval, in their order. Intervals are
    period ending, so the one ending at midnight on the 1st is the month before's, as the
    month windows hold it."""
    month = pl.col("interval_datetime").dt.offset_by("-1us").dt.truncate("1mo")
    for (first,), part in (
        frame.with_columns(month.alias("_m"))
        .partition_by("_m", as_dict=True, maintain_order=True)
        .items()
    ):
        target = folder / f"month={first:%Y-%m}"
        target.mkdir(parents=True, exist_ok=True)
        part.drop("_m").write_parquet(target / MONTH_FILE, compression=compression)
