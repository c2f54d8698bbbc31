"""Everything the report shows, read from a backtest's written outputs (nothing else).

So every figure on the page can be rebuilt with Polars or DuckDB from ``summary.csv``,
``fleet_units.csv``, ``fleet_daily.parquet``, ``calibration.csv``, ``history_prices.parquet``,
``bid_stack.parquet``, ``variants/`` and each scenario's Parquet tables (see the README).
Series longer than a week are shown as hourly means, longer than a quarter as daily means; gaps
in the data stay gaps (a null between two points more than one step apart).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from bidstack.stages.bidding import BASELINE

#: The scenario name of AEMO's own prices in the price series.
HISTORY = "history (AEMO)"
#: Points on each price-duration curve.
DURATION_POINTS = 201



def read_summary(path: Path) -> pl.DataFrame:
    """A run's ``summary.csv``: figures a run has none of (a baseline-only run's margins), empty
    in the file, are null numbers, not text (money in integer cents, the rest floats)."""
    frame = pl.read_csv(path)
    empty = [name for name, dtype in frame.schema.items()
             if dtype == pl.String and frame[name].null_count() == frame.height]  # fmt: skip
    return frame.with_columns(
        pl.col(name).cast(pl.Int64 if name.endswith("_cents") else pl.Float64) for name in empty
    )

@dataclass(frozen=True)
class ReportData:
    out: Path
    run: dict
    summary: pl.DataFrame
    units: pl.DataFrame
    daily: pl.DataFrame
    calibration: pl.DataFrame
    problems: pl.DataFrame
    prices: pl.DataFrame  # series, regionid, time, price (resampled, gaps as nulls)
    durations: pl.DataFrame  # series, regionid, share, price
    flows: pl.DataFrame  # interconnectorid, time, flow_mw (baseline)
    stack: pl.DataFrame
    variants: dict[str, str]
    participants: pl.DataFrame
    step: str  # "5 minutes", "hourly means" or "daily means"
    missing_days: list[date]

    @property
    def scenarios(self) -> list[str]:
        return self.summary["scenario"].to_list()


def load(out: Path) -> ReportData:
    """Read a backtest's output folder for the report."""
    run = json.loads((out / "backtest.json").read_text())
    scenarios = run.get("scenarios") or [BASELINE]
    prices = _prices(out, scenarios)
    step, resampled = _resample(prices, "series", "regionid", "price")
    flows = _scan(out / BASELINE / "dispatch_links")
    flows = (
        flows.group_by("interconnectorid", "interval_datetime").agg(pl.col("flow_mw").sum())
        if flows is not None
        else None
    )
    _, flow_series = _resample(flows, "interconnectorid", None, "flow_mw")
    return ReportData(
        out=out,
        run=run,
        summary=read_summary(out / "summary.csv"),
        units=_csv(out / "fleet_units.csv"),
        daily=_daily(out / "fleet_daily.parquet"),
        calibration=_csv(out / "calibration.csv"),
        problems=_problem_counts(out / "problems"),
        prices=resampled,
        durations=_durations(prices),
        flows=flow_series,
        stack=_parquet(out / "bid_stack.parquet"),
        variants={p.stem: p.read_text() for p in sorted((out / "variants").glob("*.txt"))},
        participants=_participants(out, scenarios),
        step=step,
        missing_days=_missing_days(out, run),
    )


def _prices(out: Path, scenarios: list[str]) -> pl.LazyFrame | None:
    frames = []
    for scenario in scenarios:
        regions = _scan(out / scenario / "dispatch_regions")
        if regions is not None:
            frames.append(
                regions.select(
                    pl.lit(scenario).alias("series"), "regionid", "interval_datetime", "price"
                )
            )
    history = out / "history_prices.parquet"
    if history.exists():
        frames.append(
            pl.scan_parquet(history).select(
                pl.lit(HISTORY).alias("series"),
                "regionid",
                "interval_datetime",
                pl.col("rrp").alias("price"),
            )
        )
    return pl.concat(frames) if frames else None


def _resample(frame: pl.LazyFrame | None, key: str, key2: str | None, value: str):
    """``(step, frame)``: ``frame`` per ``key`` (and ``key2``) as plotted, with a null row
    wherever consecutive points are more than one step apart."""
    keys = [key] + ([key2] if key2 else [])
    if frame is None:
        return "5 minutes", pl.DataFrame(
            schema={**dict.fromkeys(keys, pl.String), "time": pl.Datetime("us"), value: pl.Float64}
        )
    span = frame.select(pl.col("interval_datetime").max() - pl.col("interval_datetime").min())
    length = span.collect().item() or timedelta(0)
    if length <= timedelta(days=7):
        step, every, series = "5 minutes", timedelta(minutes=5), frame
        series = series.rename({"interval_datetime": "time"})
    else:
        step, every = (
            ("hourly means", timedelta(hours=1))
            if length <= timedelta(days=92)
            else ("daily means", timedelta(days=1))
        )
        bucket = (pl.col("interval_datetime") - timedelta(minutes=5)).dt.truncate(every)
        series = frame.group_by(*keys, bucket.alias("time")).agg(pl.col(value).mean())
    series = series.select(*keys, "time", value).sort(*keys, "time").collect()
    gap = (pl.col("time").diff().over(keys) > every).fill_null(False)
    holes = series.filter(gap).with_columns(
        (pl.col("time") - pl.duration(microseconds=1)).alias("time"),
        pl.lit(None, pl.Float64).alias(value),
    )
    return step, pl.concat([series, holes]).sort(*keys, "time")


def _durations(prices: pl.LazyFrame | None) -> pl.DataFrame:
    """Each series' price-duration curve per region: the price exceeded in each share of its
    intervals, at :data:`DURATION_POINTS` shares from 0 to 1."""
    schema = {"series": pl.String, "regionid": pl.String, "share": pl.Float64,
              "price": pl.Float64}  # fmt: skip
    if prices is None:
        return pl.DataFrame(schema=schema)
    shares = [k / (DURATION_POINTS - 1) for k in range(DURATION_POINTS)]
    curves = (
        prices.group_by("series", "regionid")
        .agg(pl.col("price").drop_nulls().sort(descending=True).alias("sorted"))
        .collect()
    )
    rows = []
    for series, region, values in curves.iter_rows():
        if not values:
            continue
        last = len(values) - 1
        rows += [(series, region, s, values[round(s * last)]) for s in shares]
    return pl.DataFrame(rows, schema=schema, orient="row").sort("series", "regionid", "share")


def _missing_days(out: Path, run: dict) -> list[date]:
    """Trading days of the window with no baseline dispatch at all."""
    regions = _scan(out / BASELINE / "dispatch_regions")
    if regions is None or "start" not in run:
        return []
    day = (pl.col("interval_datetime") - timedelta(minutes=5)).dt.date()
    seen = set(regions.select(day.unique()).collect().to_series().to_list())
    first = (pl.Series([run["start"]]).str.to_datetime() + timedelta(minutes=5)).dt.date()[0]
    last = (pl.Series([run["end"]]).str.to_datetime() - timedelta(minutes=5)).dt.date()[0]
    days = pl.date_range(first, last, eager=True).to_list()
    return [d for d in days if d not in seen]


def _daily(path: Path) -> pl.DataFrame:
    """The fleet per settlement date, a null row on each day without data, so lines break."""
    daily = _parquet(path)
    if daily.is_empty():
        return daily
    frames = []
    for (scenario,), days in daily.partition_by("scenario", as_dict=True).items():
        every = pl.date_range(days["settlement_date"].min(), days["settlement_date"].max(),
                              eager=True).alias("settlement_date")  # fmt: skip
        frames.append(
            every.to_frame()
            .join(days, on="settlement_date", how="left")
            .with_columns(pl.lit(scenario).alias("scenario"))
        )
    return pl.concat(frames, how="diagonal_relaxed").sort("scenario", "settlement_date")


def _participants(out: Path, scenarios: list[str]) -> pl.DataFrame:
    frames = []
    for scenario in scenarios:
        path = out / scenario / "statements" / "totals.parquet"
        if path.exists():
            totals = pl.read_parquet(path).select("participantid", "net_cents")
            frames.append(totals.with_columns(pl.lit(scenario).alias("scenario")))
    if not frames:
        return pl.DataFrame(schema={"participantid": pl.String})
    wide = pl.concat(frames).pivot("scenario", index="participantid", values="net_cents")
    return wide.sort("participantid")


def _problem_counts(folder: Path) -> pl.DataFrame:
    problems = _scan(folder)
    if problems is None:
        return pl.DataFrame(schema={"scenario": pl.String, "kind": pl.String, "rows": pl.UInt32})
    return problems.group_by("scenario", "kind").len("rows").sort("scenario", "kind").collect()


def _scan(table: Path) -> pl.LazyFrame | None:
    if not table.exists() or not any(table.rglob("*.parquet")):
        return None
    return pl.scan_parquet(table / "**" / "*.parquet", hive_partitioning=True)


def _parquet(path: Path) -> pl.DataFrame:
    return pl.read_parquet(path) if path.exists() else pl.DataFrame()


def _csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(path) if path.exists() else pl.DataFrame()
