"""The run's books: small running totals of every month, for ``summary.csv``, the report and the
CLI, whatever the length of the run.

A month (:func:`bidstack.month.run_month`) returns its figures (:func:`scenario_figures`, the bid
stack at its peak, allocation and problem counts); :class:`RunSummary` adds the months in order.
Float totals are added in month order, so they have the same bits every run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from bidstack.calibration import Calibration
from bidstack.columns import BAND_VOLUMES, PRICE_BANDS
from bidstack.config import BASELINE
from bidstack.stages.evaluation import unit_availability
from bidstack.stages.statements import to_cents
from bidstack.sums import group_sums, total

#: ``summary.csv``'s summed columns, before the fleet's net position is taken from its days.
SUMMED = ("fleet_energy_mwh", "fleet_net_microdollars", "demand_mwh", "price_x_demand",
          "unserved_mwh", "region_intervals", "lor2_intervals", "lor3_intervals")  # fmt: skip
DAILY_SCHEMA = {
    "scenario": pl.String,
    "settlement_date": pl.Date,
    "energy_mwh": pl.Float64,
    "net_cents": pl.Int64,
}


@dataclass(frozen=True)
class Peak:
    """The interval of highest demand in the region of the fleet's largest unit, in a month."""

    regionid: str
    interval_datetime: datetime
    demand: float


def scenario_figures(
    scenario: str,
    fleet: pl.DataFrame,
    regions: pl.DataFrame,
    evaluation: pl.DataFrame,
    interval_minutes: float,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A scenario's month in one row (the columns of :data:`SUMMED` and ``max_price``), and its
    fleet's energy and micro-dollars per settlement date. ``fleet``: the month's
    :func:`bidstack.results.fleet_rows` (its amounts in their order, sorted by unit)."""
    hours = interval_minutes / 60.0
    row = pl.DataFrame(
        {
            "scenario": [scenario],
            "fleet_energy_mwh": [total(fleet["energy_mwh"])],
            "fleet_net_microdollars": [fleet.get_column("revenue_microdollars").sum()],
            "demand_mwh": [total(regions["demand"]) * hours],
            "price_x_demand": [total(regions["price"] * regions["demand"])],
            "max_price": [regions.get_column("price").max()],
            "unserved_mwh": [total(regions["unserved_mw"]) * hours],
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
    daily = group_sums(
        fleet, ["settlement_date"], ["energy_mwh", "revenue_microdollars"],
        order=["interval_datetime", "duid"],
    ).rename({"revenue_microdollars": "amount_microdollars"}).with_columns(
        scenario=pl.lit(scenario)
    )
    return row, daily


def peak_interval(
    demand: pl.DataFrame, offers: pl.DataFrame, fleet_units: list[str]
) -> Peak | None:
    """The month's interval of highest demand in the region of the fleet's largest unit: its
    bid stack is drawn in the report (the run keeps the highest month's)."""
    fleet = offers.filter(pl.col("duid").is_in(fleet_units))
    if fleet.is_empty():
        return None
    region = (
        fleet.group_by("regionid")
        .agg(pl.col("max_capacity").max())
        .sort("max_capacity", "regionid", descending=[False, True])
        .get_column("regionid")[-1]
    )
    in_region = (pl.col("regionid") == region) & pl.col("demand").is_finite()
    # ties go to the first region by name and the earliest interval
    peak = demand.filter(in_region).sort("demand", "interval_datetime", descending=[False, True])
    peak = peak.tail(1)
    if peak.is_empty():
        return None
    return Peak(region, peak.get_column("interval_datetime")[0], peak.get_column("demand")[0])


def bid_stack(
    scenario: str,
    offers: pl.DataFrame,
    regions: pl.DataFrame,
    peak: Peak,
    fleet_units: list[str],
) -> pl.DataFrame:
    """A scenario's bid stack at ``peak``: every band of every unit of the region, its referred
    price and the MW it can dispatch (cheapest first, up to the unit's availability), with the
    region's clearing price and demand."""
    chosen = (pl.col("regionid") == peak.regionid) & (
        pl.col("interval_datetime") == peak.interval_datetime
    )
    bids = offers.filter(chosen)
    available = unit_availability(bids)
    rows = bids.select(
        "duid",
        pl.col("duid").is_in(fleet_units).alias("fleet"),
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
    cleared = regions.filter(chosen).select("price", "demand")
    return rows.with_columns(
        scenario=pl.lit(scenario),
        regionid=pl.lit(peak.regionid),
        interval_datetime=pl.lit(peak.interval_datetime),
        clearing_price=pl.lit(
            cleared.get_column("price")[0] if cleared.height else None, dtype=pl.Float64
        ),
        demand=pl.lit(peak.demand, dtype=pl.Float64),
    ).sort("duid", maintain_order=True)


@dataclass
class RunSummary:
    """Running totals of a run's months, added in month order (:meth:`add`)."""

    scenarios: dict[str, None] = field(default_factory=dict)
    months: list[pl.DataFrame] = field(default_factory=list)
    daily: list[pl.DataFrame] = field(default_factory=list)
    allocation: list[pl.DataFrame] = field(default_factory=list)
    problems: list[pl.DataFrame] = field(default_factory=list)
    calibration: Calibration = field(default_factory=Calibration)
    stack: pl.DataFrame | None = None
    stack_demand: float = float("-inf")

    def add(self, month) -> None:
        """One month's figures (a :class:`bidstack.month.MonthResult`)."""
        index = len(self.problems)
        for row, daily in month.figures:
            self.scenarios[row.get_column("scenario")[0]] = None
            self.months.append(row.with_columns(month=pl.lit(index)))
            self.daily.append(daily.with_columns(month=pl.lit(index)))
        self.allocation.extend(month.allocation)
        self.problems.append(month.problems)
        if month.calibration is not None:
            self.calibration.add(month.calibration)
        if month.peak is not None and month.peak.demand > self.stack_demand:
            self.stack_demand, self.stack = month.peak.demand, month.stack

    def problem_counts(self) -> pl.DataFrame:
        """Rows reported per scenario and kind."""
        if not self.problems:
            return pl.DataFrame(
                schema={"scenario": pl.String, "kind": pl.String, "rows": pl.UInt32}
            )
        return pl.concat(self.problems).group_by("scenario", "kind").sum().sort("scenario", "kind")

    def fleet_daily(self) -> pl.DataFrame:
        """The fleet's energy and net position (cents, each day rounded) per scenario and
        settlement date."""
        if not self.daily:
            return pl.DataFrame(schema=DAILY_SCHEMA)
        frame = group_sums(
            pl.concat(self.daily),
            ["scenario", "settlement_date"],
            ["energy_mwh", "amount_microdollars"],
            order=["month"],
        )
        frame = frame.with_columns(to_cents(pl.col("amount_microdollars")).alias("net_cents"))
        frame = frame.select(list(DAILY_SCHEMA)).cast(DAILY_SCHEMA)
        return frame.sort("scenario", "settlement_date")

    def summary(self, interval_minutes: float) -> pl.DataFrame:
        """One row per scenario: the fleet's energy and net position; the demand-weighted mean
        regional price, its change from the baseline (``price_impact``, $/MWh) and the highest
        price; unserved energy and lack-of-reserve intervals; for variants, the fleet's
        allocation outcomes and within-limits rate."""
        if not self.months:
            return pl.DataFrame({"scenario": list(self.scenarios)})
        months = pl.concat(self.months)
        order = pl.DataFrame({"scenario": list(self.scenarios)}).with_row_index("position")
        summary = (
            group_sums(months, ["scenario"], SUMMED, order=["month"])
            .join(months.group_by("scenario").agg(pl.col("max_price").max()), on="scenario")
            .join(order, on="scenario")
            .sort("position")
            .drop("position")
        )
        # the fleet's net position as a statement shows it: the sum of its daily figures
        days = self.fleet_daily().group_by("scenario").agg(pl.col("net_cents").sum())
        summary = (
            summary.join(days, on="scenario", how="left")
            .with_columns(pl.col("net_cents").fill_null(0).alias("fleet_net_microdollars"))
            .drop("net_cents")
            .rename({"fleet_net_microdollars": "fleet_net_cents"})
        )
        mean = pl.col("price_x_demand") * interval_minutes / 60.0 / pl.col("demand_mwh")
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
