"""How well the baseline reproduces history: regional prices against DISPATCHPRICE.RRP and unit
dispatch against DISPATCHLOAD.TOTALCLEARED, wherever the store has them.

Every what-if is a difference from the baseline, so a user should see at once whether the model
reproduces the market it is asked about. Counts and error sums are accumulated window by window
(a month, or ``window_days``), so the figures of a long run cost no memory. The counts are exact
sums and do not depend on how the run was cut; the errors are float sums, so a mean error may
differ in its last digits between windows of days and months.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from bidstack.joins import join_unique

#: A price is "within 5%" when ``|model - RRP| <= 5% of |RRP|``, "within $1" when under $1.
RELATIVE = 0.05
ABSOLUTE = 1.0
#: Unit dispatch is "within 1 MW" of TOTALCLEARED.
UNIT_MW = 1.0

SCHEMA = {
    "scope": pl.String,
    "compared": pl.Int64,
    "within_1": pl.Int64,
    "within_5pct": pl.Int64,
    "mae": pl.Float64,
}


@dataclass
class Calibration:
    """Running comparison of the baseline with history; see the module docstring."""

    regions: list[pl.DataFrame] = field(default_factory=list)
    units: list[pl.DataFrame] = field(default_factory=list)

    def add(self, comparison: tuple[pl.DataFrame, pl.DataFrame]) -> None:
        """One month's :func:`month_comparison`."""
        regions, units = comparison
        self.regions.append(regions)
        self.units.append(units)

    def table(self) -> pl.DataFrame:
        """One row per region, ``all`` regions and ``units``: ``compared`` (region-intervals or
        unit-intervals with history), ``within_1`` ($1, or 1 MW for units), ``within_5pct``
        (prices only) and ``mae`` ($/MWh, or MW)."""
        if not self.regions:
            return pl.DataFrame(schema=SCHEMA)
        regions = pl.concat(self.regions).group_by("regionid").sum().sort("regionid")
        every = regions.drop("regionid").sum().with_columns(regionid=pl.lit("all"))
        units = pl.concat(self.units).sum().with_columns(regionid=pl.lit("units"))
        rows = pl.concat([regions, every.select(regions.columns), units.select(regions.columns)])
        return rows.select(
            pl.col("regionid").alias("scope"),
            "compared",
            "within_1",
            "within_5pct",
            pl.when(pl.col("compared") > 0).then(pl.col("error") / pl.col("compared")).alias("mae"),
        ).cast(SCHEMA)


def month_comparison(
    regions: pl.DataFrame,
    history_prices: pl.DataFrame,
    units: pl.DataFrame,
    history_units: pl.DataFrame,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One month's counts and error sums: the baseline's ``regions`` (``regionid,
    interval_datetime, price``) against ``history_prices`` (``regionid, interval_datetime,
    rrp``) per region, its ``units`` (``duid, interval_datetime, dispatch_mw``) against
    ``history_units`` (``duid, interval_datetime, totalcleared``). A month keeps these few rows,
    not its millions of unit-intervals, until the run adds them up."""
    keys = ["regionid", "interval_datetime"]
    error = (pl.col("price") - pl.col("rrp")).abs()
    by_region = (
        regions.join(history_prices, on=keys)
        .drop_nulls(["price", "rrp"])
        .group_by("regionid")
        .agg(
            pl.len().cast(pl.Int64).alias("compared"),
            (error < ABSOLUTE).sum().cast(pl.Int64).alias("within_1"),
            (error <= RELATIVE * pl.col("rrp").abs()).sum().cast(pl.Int64).alias("within_5pct"),
            error.sum().alias("error"),
        )
    )
    keys = ["duid", "interval_datetime"]
    error = (pl.col("dispatch_mw") - pl.col("totalcleared")).abs()
    by_unit = (
        join_unique(
            units.select(*keys, "dispatch_mw"), history_units.select(*keys, "totalcleared"), keys
        )  # in the units' order, so that the error's sum has the same bits in every run
        .drop_nulls(["dispatch_mw", "totalcleared"])
        .select(
            pl.len().cast(pl.Int64).alias("compared"),
            (error < UNIT_MW).sum().cast(pl.Int64).alias("within_1"),
            pl.lit(0, pl.Int64).alias("within_5pct"),
            error.sum().alias("error"),
        )
    )
    return by_region, by_unit
